"""What a flow run of the scale-out stack recorded, read from PostgreSQL as the test reads
everything else: its report artifact's table rows and its warnings.

Example:
    ```python
    outcome = run_outcome(pg, run, "defender-contain-device")
    print(outcome)   # run 'x' Completed: skipped (cap: hourly cap of 100 ... reached)
    ```
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tests.scale.postgres import PostgresCluster

__all__ = ["RunOutcome", "report_rows", "run_outcome"]

#: a cell border: a pipe the report did not escape
_BORDER = re.compile(r"(?<!\\)\|")


def report_rows(markdown: str) -> list[dict[str, str]]:
    """The rows of the first markdown table of ``markdown``, by column name.

    Example:
        >>> report_rows("# R\\n\\n| a | b |\\n|---|---|\\n| 1 | x \\\\| y |")
        [{'a': '1', 'b': 'x \\\\| y'}]
    """
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return []
    cells = [[c.strip() for c in _BORDER.split(line)[1:-1]] for line in lines]
    header, body = cells[0], cells[2:]
    return [dict(zip(header, row, strict=False)) for row in body]


@dataclass
class RunOutcome:
    """A run's final state, its report's rows and its warnings."""

    name: str
    state: str
    rows: list[dict[str, str]]
    warnings: list[str]

    def reason(self) -> str:
        """Why the run's devices were not acted on, as its report records it ('' if it does
        not): the outcome and note of every row that did not succeed."""
        return "; ".join(
            f"{r.get('outcome')} ({r.get('note')})"
            for r in self.rows
            if r.get("outcome") in ("skipped", "failed") and r.get("note")
        )

    def __str__(self) -> str:
        told = self.reason() or f"no reason in its report (rows {self.rows})"
        warned = f"; warnings: {self.warnings}" if self.warnings else ""
        return f"run {self.name!r} {self.state}: {told}{warned}"


def run_outcome(pg: PostgresCluster, run: Any, key: str) -> RunOutcome:
    """The outcome of the flow run ``run`` (a Prefect FlowRun): its state, the rows of its
    report artifact ``key`` and the first line of each of its warnings and errors (but the
    endpoints' deprecation notices)."""
    reports = pg.query(
        "SELECT data::text AS data FROM artifact WHERE flow_run_id = $1 AND key = $2 "
        "ORDER BY created",
        run.id,
        key,
    )
    rows = [row for r in reports for row in report_rows(str(json.loads(r["data"])))]
    logs = pg.query(
        "SELECT message FROM log WHERE flow_run_id = $1 AND level >= 30 "
        "AND message NOT LIKE '%is deprecated: Microsoft retires it%' ORDER BY timestamp",
        run.id,
    )
    warnings = [str(r["message"]).splitlines()[0][:300] for r in logs]
    return RunOutcome(str(run.name), str(run.state.name), rows, warnings)
