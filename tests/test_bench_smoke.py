"""``make bench`` cannot rot unseen: every benchmark section runs once, at its smoke size.

The sections are the ones ``benchmarks/`` registers (``benchmarks/sections.py``), each with the
smallest sizes that still go through every code path. One ``benchmarks/run.py --smoke`` process
runs them all against its own emulators and Prefect server, as ``make bench`` would; each
section must then have rows and no ``FAILED`` row. No figure or timing is asserted: a moved or
renamed name, a changed signature, a section that no longer completes fails here.

A section cannot be registered without its smoke size (``section(..., smoke=...)`` must name
every parameter), a ``bench_*`` function that is not registered fails
:func:`test_every_section_is_registered_with_a_smoke_size`, and so does a section the module
docstring of ``benchmarks/run.py`` lists but nobody registered (or the reverse).
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import run as bench_run
from benchmarks.results import section_of
from benchmarks.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
#: the whole smoke run: emulators, one Prefect server, subprocess workers, the MCP server
SMOKE_TIMEOUT = 900


def _bench_functions() -> set[str]:
    """``module.bench_*`` for every top-level function of ``benchmarks/*.py``."""
    found = set()
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.parse(script.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("bench_"):
                found.add(f"{script.stem}.{node.name}")
    return found


def test_every_section_is_registered_with_a_smoke_size() -> None:
    listed = [int(n) for n in re.findall(r"^(\d+)\. ", bench_run.__doc__ or "", re.MULTILINE)]
    assert sorted(SECTIONS) == listed, "run.py's docstring lists the registered sections"
    registered = {
        f"{s.run.__module__.rsplit('.', 1)[-1]}.{s.run.__name__}" for s in SECTIONS.values()
    }
    assert _bench_functions() == registered
    for entry in SECTIONS.values():
        assert set(entry.smoke) == set(entry.full) and entry.smoke != entry.full, entry.number
        source = inspect.getsource(entry.run)
        uses_prefect = "bench.prefect()" in source or "bench.subprocess_env(" in source
        assert entry.prefect == uses_prefect, f"section {entry.number}: prefect={uses_prefect}"


def test_a_section_without_its_smoke_size_is_refused() -> None:
    from benchmarks.sections import Bench, section

    def bench_new(bench: Bench, machines: int, runs: int) -> None:
        """A new section that forgot a size."""

    with pytest.raises(TypeError, match="smoke sizes"):
        section(99, "new", full={"machines": 5, "runs": 3}, smoke={"machines": 1})(bench_new)
    assert 99 not in SECTIONS


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> dict[str, object]:
    """One ``run.py --smoke`` process: its exit status, output and table rows by section."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path_factory.mktemp("bench-prefect-home"))}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--smoke", "--keys", str(emulator_keys)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
    )
    rows: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0][:1].isdigit():
            rows.setdefault(section_of(cells[0]), []).append(line)
    return {"code": proc.returncode, "rows": rows, "out": proc.stdout[-3000:] + proc.stderr[-3000:]}


@pytest.mark.timeout(SMOKE_TIMEOUT + 60)
@pytest.mark.parametrize("number", sorted(SECTIONS))
def test_section_runs_at_its_smoke_size(smoke: dict[str, object], number: int) -> None:
    rows = smoke["rows"]
    assert isinstance(rows, dict)
    mine = rows.get(str(number), [])
    assert mine, f"section {number} recorded nothing:\n{smoke['out']}"
    failed = [r for r in mine if f"| {number}. FAILED |" in r]
    assert not failed, f"{failed}\n{smoke['out']}"


@pytest.mark.timeout(SMOKE_TIMEOUT + 60)
def test_the_smoke_run_ends_well(smoke: dict[str, object]) -> None:
    assert smoke["code"] == 0, smoke["out"]
