"""The benchmark sections of ``make bench``, each registered once with a full and a smoke size.

A section is a function ``bench_<what>(bench, **sizes)`` decorated with :func:`section`, which
takes its number, its title and two sets of sizes: ``full`` (what ``make bench`` measures) and
``smoke`` (the smallest run that still goes through every code path, which ``make test`` runs:
``tests/test_bench_smoke.py``). Both sets must name exactly the function's keyword parameters,
so a section cannot be registered without its smoke size; the smoke test also fails on a
``bench_*`` function in ``benchmarks/`` that is not registered.

:class:`Bench` is what a section runs with: where it writes, how it records a row, its own
emulators (:meth:`Bench.emulator`, each in its own process) and the run's one Prefect server
(:meth:`Bench.prefect`, started on first use and shared by the sections that need one).
"""

from __future__ import annotations

import inspect
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from prefect_defender.cli.servers import PrefectServer
from prefect_defender.emulator.server import EmulatorProcess

__all__ = ["SECTIONS", "Bench", "Record", "Section", "section"]

#: ``record(section, metric, value)``: one row of the results table
Record = Callable[[str, str, str], None]
F = TypeVar("F", bound=Callable[..., None])


@dataclass
class Bench:
    """What a section runs with (see the module docstring).

    ``keys``: a folder of emulator keys (CA, TLS, signing, app certificates) copied into each
    emulator's data folder, so a smoke run does not generate RSA keys per emulator.
    ``prefect_env``: the environment of a Prefect server already running (``PREFECT_API_URL``
    and the rest); without it :meth:`prefect` starts one under ``work``.
    """

    work: Path
    record: Record
    smoke: bool = False
    keys: Path | None = None
    prefect_env: dict[str, str] | None = None
    _server: PrefectServer | None = field(default=None, repr=False)
    _starting: threading.Thread | None = field(default=None, repr=False)
    _start_error: BaseException | None = field(default=None, repr=False)

    @contextmanager
    def emulator(
        self, name: str, config: Mapping[str, Any] | None = None, timeout: float = 120
    ) -> Iterator[EmulatorProcess]:
        """An emulator in its own process with ``config``, stopped when the block ends."""
        data = self.work / name
        data.mkdir(parents=True, exist_ok=True)
        if self.keys is not None:
            for key in self.keys.iterdir():
                shutil.copy2(key, data / key.name)
        emu = EmulatorProcess(data, config=dict(config or {}))
        emu.start(timeout=timeout)
        try:
            yield emu
        finally:
            emu.stop()

    def prefect(self) -> dict[str, str]:
        """The environment that points a process at the run's Prefect server (started here on
        first use, or by :meth:`start_prefect`, and kept for the next sections; :meth:`close`
        stops it)."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._start_error is not None:
            raise RuntimeError("the Prefect server did not start") from self._start_error
        if self.prefect_env is None:
            self._start_server()
        assert self.prefect_env is not None
        return self.prefect_env

    def start_prefect(self) -> None:
        """Start the Prefect server in the background now, for a smoke run: it starts while the
        first sections run. A measured run starts it when a section first needs it, so that an
        idle server takes no CPU from the sections before."""
        if self.prefect_env is None and self._starting is None and self._server is None:
            self._starting = threading.Thread(target=self._start_in_background, daemon=True)
            self._starting.start()

    def _start_in_background(self) -> None:
        try:
            self._start_server()
        except BaseException as exc:  # raised by prefect() in the section that needs it
            self._start_error = exc

    def _start_server(self) -> None:
        server = self._server = PrefectServer(self.work / "prefect")
        server.start()
        env = server.env()
        env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
        self.prefect_env = env

    def subprocess_env(self, **extra: str) -> dict[str, str]:
        """This process's environment pointed at the run's Prefect server, plus ``extra``."""
        return {**os.environ, **self.prefect(), **extra}

    def close(self) -> None:
        """Stop the Prefect server this run started, if any."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._server is not None:
            self._server.stop()
            self._server = None


@dataclass(frozen=True)
class Section:
    """One registered section: its number, title, function and the two sets of sizes."""

    number: int
    title: str
    run: Callable[..., None]
    full: Mapping[str, Any]
    smoke: Mapping[str, Any]
    prefect: bool = False

    def __call__(self, bench: Bench) -> None:
        """Run the section at the size ``bench`` asks for."""
        self.run(bench, **(self.smoke if bench.smoke else self.full))


#: every section by number, as the modules of ``benchmarks/`` register them
SECTIONS: dict[int, Section] = {}


def section(
    number: int,
    title: str,
    *,
    full: Mapping[str, Any],
    smoke: Mapping[str, Any],
    prefect: bool = False,
) -> Callable[[F], F]:
    """Register ``bench_<what>(bench, **sizes)`` as section ``number`` (module docstring);
    ``prefect``: it uses the run's Prefect server (:meth:`Bench.prefect`)."""

    def register(fn: F) -> F:
        params = list(inspect.signature(fn).parameters)[1:]
        for label, sizes in (("full", full), ("smoke", smoke)):
            if sorted(sizes) != sorted(params):
                raise TypeError(
                    f"section {number} ({fn.__name__}): {label} sizes {sorted(sizes)} must name "
                    f"exactly its parameters {sorted(params)}"
                )
        known = SECTIONS.get(number)
        if known is not None and known.run.__qualname__ != fn.__qualname__:
            raise ValueError(f"section {number} is taken by {known.run.__name__}")
        SECTIONS[number] = Section(number, title, fn, dict(full), dict(smoke), prefect)
        return fn

    return register
