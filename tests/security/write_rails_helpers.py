"""What the write-rails tests share: the emulator's write requests named by catalog endpoint,
and the kill switch turned on for a block of code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.variables import Variable

from prefect_defender.api.catalog import CATALOG, Endpoint
from prefect_defender.tasks.safety import KILL_SWITCH_VARIABLE

_PARAM = re.compile(r"\{[^}]*\}")


def _shape(method: str, path: str) -> tuple[str, str]:
    """``(METHOD, path)`` with the version prefix dropped and every parameter as ``{}``."""
    path = re.sub(r"^/(v1\.0|beta)(?=/)", "", path)
    return method.upper(), _PARAM.sub("{}", path).lower()


_BY_SHAPE: dict[tuple[str, str], Endpoint] = {_shape(e.method, e.path): e for e in CATALOG.values()}


def endpoint_of(method: str, path: str) -> Endpoint | None:
    """The catalog entry behind an emulator route (``None`` for admin and token routes)."""
    return _BY_SHAPE.get(_shape(method, path))


def write_requests(emu: Any) -> dict[str, int]:
    """``{endpoint name: requests}`` of every writing endpoint the emulator has answered (any
    status) since its counters were reset."""
    out: dict[str, int] = {}
    for row in emu.admin.stats()["requests"]:
        ep = endpoint_of(row["method"], row["path"])
        if ep is not None and ep.writes:
            out[ep.name] = out.get(ep.name, 0) + int(row["count"])
        elif ep is None and row["method"] != "GET" and "/_emulator" not in row["path"]:
            out[f"{row['method']} {row['path']}"] = int(row["count"])  # unknown: counted too
    return out


@contextmanager
def kill_switch(name: str = KILL_SWITCH_VARIABLE) -> Iterator[None]:
    """The kill switch Variable ``name`` on inside the block, off after it."""
    Variable.set(name, True, overwrite=True)
    try:
        yield
    finally:
        Variable.set(name, False, overwrite=True)
