"""The benchmark results file keeps every section: a partial run merges into the day's file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_run", module)
    spec.loader.exec_module(module)
    return module


bench = _bench()
text = (
    st.text(
        st.characters(blacklist_characters="|\n\r", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
rows = st.lists(st.tuples(st.integers(1, 7), text, text), min_size=1, max_size=8)


def _table(doc: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in doc.split("\n")
        if line.startswith("| ") and not line.startswith("| benchmark")
    ]


@given(rows, rows)
def test_a_partial_run_replaces_only_its_own_sections(
    first: list[tuple[int, str, str]], second: list[tuple[int, str, str]]
) -> None:
    full = [(f"{n}. bench {b}", m, v) for n, b, m in first for v in ("x",)]
    part = [(f"{n}. later {b}", m, "y") for n, b, m in second]
    doc = bench.merge_results("", full, "run-1", "2026-12-03")
    doc = bench.merge_results(doc, part, "run-2", "2026-12-03")
    table = _table(doc)
    redone = {n for n, _, _ in second}
    expect_kept = sorted(
        ((b, m, v, "run-1") for b, m, v in full if int(b.split(".")[0]) not in redone),
        key=lambda r: int(r[0].split(".")[0]),
    )  # in section order, a section's rows in the order they were measured
    assert [tuple(r) for r in table if r[3] == "run-1"] == expect_kept
    assert sorted(tuple(r) for r in table if r[3] == "run-2") == sorted(
        (b, m, v, "run-2") for b, m, v in part
    )
    numbers = [int(r[0].split(".")[0]) for r in table]
    assert numbers == sorted(numbers)


def test_merging_into_a_missing_file_writes_the_header_and_every_row() -> None:
    doc = bench.merge_results("", [("3. token reuse", "tokens", "2")], "r", "2026-12-03")
    assert doc.startswith("# Benchmarks 2026-12-03")
    assert "| 3. token reuse | tokens | 2 | r |" in doc


def test_benchmarks_use_only_names_the_package_has() -> None:
    """Every ``module.NAME`` the benchmark scripts read or swap on a package module exists
    (section 7 once swapped ``transport.PER_API_FAMILIES`` after it had moved to
    ``api.ratelimit``: ``make bench`` stopped there with an AttributeError)."""
    import ast
    import importlib

    missing, checked = [], 0
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        tree = ast.parse(script.read_text())
        modules = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prefect_"):
                parent = importlib.import_module(str(node.module))
                for alias in node.names:
                    value = getattr(parent, alias.name, None)
                    if isinstance(value, ModuleType):
                        modules[alias.asname or alias.name] = value
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and not hasattr(modules[node.value.id], node.attr)
            ):
                missing.append(f"{script.name}:{node.lineno} {node.value.id}.{node.attr}")
        checked += len(modules)
    assert checked and not missing, missing
