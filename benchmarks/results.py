"""The results files of ``make bench``: ``benchmarks/results/<date>.md``, one table per file.

Each run writes the day's file. It starts from the newest results file (of any day), so a
partial run (``BENCH_ONLY=3,7``) keeps the other sections' rows, each naming the run that
measured it (date, time, commit, duration), and the newest file always has every section.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path

__all__ = [
    "RESULTS",
    "git_commit",
    "latest",
    "machine_text",
    "merge_results",
    "section_of",
    "spread",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def spread(values: list[float], fmt: str = "{:.2f}", unit: str = " s") -> str:
    """``median (range min-max, n runs)`` of ``values``, each written with ``fmt`` and ``unit``.

    Example:
        >>> spread([1.0, 3.0, 2.0], "{:.1f}", " ms")
        '2.0 ms (range 1.0-3.0 ms, 3 runs)'
    """
    med = statistics.median(values)
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return f"{fmt.format(med)}{unit} (range {lo}-{hi}{unit}, {len(values)} runs)"


def latest(folder: Path = RESULTS) -> Path | None:
    """The newest results file (``<date>.md`` sorts by date), or None."""
    files = sorted(folder.glob("*.md"))
    return files[-1] if files else None


def section_of(benchmark: str) -> str:
    """``"3"`` for ``"3. token reuse, ..."`` (the section number a row belongs to)."""
    return benchmark.split(".", 1)[0].strip()


def merge_results(old: str, new_rows: list[tuple[str, str, str]], run: str, day: str) -> str:
    """The results file with ``new_rows`` in place of the sections they measured.

    Rows of sections this run did not measure are kept, with the run that measured them, so a
    partial run (``BENCH_ONLY``) never deletes another section. Rows are ordered by section.

    Examples:
        >>> first = merge_results("", [("1. a", "m", "x"), ("2. b", "m", "y")], "r1", "D")
        >>> again = merge_results(first, [("2. b", "m", "z")], "r2", "D")
        >>> [line for line in again.splitlines() if line[:3] in ("| 1", "| 2")]
        ['| 1. a | m | x | r1 |', '| 2. b | m | z | r2 |']
    """
    ran = {section_of(b) for b, _, _ in new_rows}
    kept: list[tuple[str, str, str, str]] = []
    for line in old.split("\n"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not line.startswith("| ") or cells[0] in ("benchmark", "---"):
            continue
        if set(cells[0]) <= {"-"} or section_of(cells[0]) in ran:
            continue
        kept.append((cells[0], cells[1], cells[2], cells[3]))
    merged = kept + [(b, m, v, run) for b, m, v in new_rows]

    def order(row: tuple[str, str, str, str]) -> int:
        number = section_of(row[0])
        return int(number) if number.isdigit() else 99

    merged.sort(key=order)  # stable: a section's rows keep their order
    table = ["| benchmark | metric | result | run |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {r} |" for a, b, c, r in merged]
    return (
        f"# Benchmarks {day}\n\nMachine: {machine_text()}\n\nCommand: `make bench` "
        "(`BENCH_ONLY=1,3` runs some sections and merges them in). Emulator in its own process; "
        "counts taken at the emulator. The run column names when, on which commit and in how "
        "long each row was measured.\n\n" + "\n".join(table) + "\n"
    )


def machine_text() -> str:
    """CPUs, RAM, Python and kernel of this machine, for the results file's header."""
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        )
    except (OSError, StopIteration):
        model = cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem:.0f} GiB RAM, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def git_commit() -> str:
    """The short commit of the measured code (``+changes`` when the tree is not clean)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{'+changes' if dirty else ''}"
