"""The benchmark results files and the names the benchmarks use.

* A partial run merges into the newest results file: every section is kept.
* The benchmarks use only public names of the package (a name in its module's ``__all__``, or a
  public submodule; nothing ``_private``), so ``make bench`` does not break when a module's
  insides move (section 7 once read ``transport.PER_API_FAMILIES`` after it had moved to
  ``api.ratelimit``: ``make bench`` stopped there with an AttributeError).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from types import ModuleType

from hypothesis import given
from hypothesis import strategies as st

from benchmarks import results as bench

ROOT = Path(__file__).resolve().parents[2]


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


def _public(module: ModuleType, name: str) -> bool:
    """``name`` is public in ``module``: in its ``__all__``, or a public submodule of it."""
    if name.startswith("_"):
        return False
    if name in getattr(module, "__all__", ()):
        return True
    value = getattr(module, name, None)
    return isinstance(value, ModuleType) and value.__name__ == f"{module.__name__}.{name}"


def _module(path: str) -> ModuleType | None:
    """The package module ``path`` names, or None when a part of it is private."""
    if any(part.startswith("_") for part in path.split(".")):
        return None
    return importlib.import_module(path)


def _trees(script: Path) -> list[ast.AST]:
    """The script's syntax tree, and that of every string in it that is Python code naming the
    package (the code a benchmark hands to ``python -c``)."""
    tree = ast.parse(script.read_text())
    trees: list[ast.AST] = [tree]
    for node in ast.walk(tree):
        code = node.value if isinstance(node, ast.Constant) else None
        if isinstance(code, str) and "import" in code and "prefect_defender" in code:
            try:
                trees.append(ast.parse(code))
            except SyntaxError:
                continue
    return trees


def _misuses(script: Path) -> tuple[list[str], int]:
    """What ``script`` reads of the package that is not public, and how many names it read."""
    bad, seen = [], 0
    for tree in _trees(script):
        modules: dict[str, ModuleType] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prefect_def"):
                parent = _module(str(node.module))
                for alias in node.names:
                    seen += 1
                    if parent is None or not _public(parent, alias.name):
                        bad.append(f"{script.name}:{node.lineno} {node.module}.{alias.name}")
                        continue
                    value = getattr(parent, alias.name)
                    if isinstance(value, ModuleType):
                        modules[alias.asname or alias.name] = value
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("prefect_defender"):
                        seen += 1
                        if _module(alias.name) is None:
                            bad.append(f"{script.name}:{node.lineno} {alias.name}")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            if owner in modules:
                seen += 1
                if not _public(modules[owner], node.attr):
                    bad.append(f"{script.name}:{node.lineno} {owner}.{node.attr}")
            elif node.attr[:1] == "_" and node.attr[:2] != "__" and owner not in ("self", "cls"):
                # a benchmark's own helpers (self._x) may be private; nothing else
                bad.append(f"{script.name}:{node.lineno} {owner or '(...)'}.{node.attr}")
    for match in re.finditer(r"-m\W+(prefect_defender[\w.]*)", script.read_text()):
        seen += 1
        if _module(match.group(1)) is None:
            bad.append(f"{script.name}: -m {match.group(1)}")
    return bad, seen


def test_benchmarks_use_only_public_names() -> None:
    """Every name the benchmark scripts import from the package, every ``module.NAME`` they read
    or swap on a package module and every attribute they reach is public."""
    bad, seen = [], 0
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        found, n = _misuses(script)
        bad += found
        seen += n
    assert seen > 20 and not bad, bad


def test_the_public_names_check_finds_private_reads(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(
        "from prefect_defender.api import ratelimit, transport\n"
        "from prefect_defender.tasks.safety import _switch_on\n"
        "from prefect_defender.api.ratelimit import LimiterRegistry\n"
        "ratelimit.PER_API_FAMILIES\n"
        "transport.NO_SUCH_NAME\n"
        "LimiterRegistry()._limiters\n"
        "CODE = 'from prefect_defender.tasks.base import _in_async_context'\n"
    )
    bad, _ = _misuses(script)
    assert [b.split(" ", 1)[1] for b in bad] == [
        "prefect_defender.tasks.safety._switch_on",
        "transport.NO_SUCH_NAME",
        "(...)._limiters",
        "prefect_defender.tasks.base._in_async_context",
    ]
