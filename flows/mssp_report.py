"""The MSSP fan-out's report, readable at any number of tenants.

* The **summary** (markdown artifact ``defender-mssp-fanout``) comes first and stays short: the
  counts per outcome, then every tenant that did not get what it was sent for, by display name,
  each with its whole error and, where the customer has not consented to the app, the consent
  link its administrator opens; then what the query found per tenant
  (:func:`~prefect_defender.flows.mssp_findings.findings_section`) for the first
  :data:`FINDINGS_SHOWN` tenants with findings. A small run (at most :data:`INLINE_ROWS`
  tenants) also shows its table here.
* **Every tenant's row** is a table artifact (``defender-mssp-fanout-tenants``), by display
  name, with what was found and the consent link as columns.
* **A download**: the same rows as CSV and JSON lines (with the devices and accounts found and
  their portal links), written to ``export_dir`` on the machine that ran the flow. CSV cells
  are quoted and formula-safe: the project's one CSV writer
  (:func:`~prefect_defender.tasks.hunting.csv_line`,
  :func:`~prefect_defender.tasks.hunting.neutralise_cell`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from prefect_defender.flows.decision_context import md_text
from prefect_defender.flows.mssp_findings import findings_section, found_text
from prefect_defender.flows.notify import remember_report
from prefect_defender.flows.reports import markdown_table
from prefect_defender.tasks.hunting import csv_line, neutralise_cell
from prefect_defender.tasks.mssp import ERROR_CHARS

__all__ = [
    "COLUMNS",
    "FINDINGS_SHOWN",
    "INLINE_ROWS",
    "SUMMARY_KEY",
    "TABLE_KEY",
    "FanoutReport",
    "by_display_name",
    "summary_markdown",
    "table_rows",
    "write_exports",
    "write_fanout_report",
]

SUMMARY_KEY = "defender-mssp-fanout"
TABLE_KEY = "defender-mssp-fanout-tenants"
#: a tenant's row in the table artifact and the exports (the exports add what else rows carry)
COLUMNS = (
    "tenant",
    "tenant_id",
    "status",
    "rows",
    "found",
    "indicators",
    "error",
    "consent_link",
)
#: outcomes listed in the summary: the tenant did not get (all of) what it was sent for
NOT_DONE = ("failed", "partial", "skipped")
#: a run of at most this many tenants also shows its table in the summary
INLINE_ROWS = 25
#: tenants whose findings (devices, accounts and their links) the summary shows; the table
#: artifact counts them for every tenant, the JSON-lines export lists them with their links
FINDINGS_SHOWN = 10
#: row keys that are bookkeeping, not report columns
_INTERNAL = ("consent",)


@dataclass
class FanoutReport:
    """What :func:`write_fanout_report` wrote (``rows``: :func:`table_rows`)."""

    markdown: str
    counts: dict[str, int]
    rows: list[dict[str, Any]]
    exports: list[str] = field(default_factory=list)
    summary_id: UUID | None = None
    table_id: UUID | None = None


def by_display_name(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` ordered by tenant display name (case-insensitive), then tenant id.

    Examples:
        >>> [r["tenant"] for r in by_display_name([{"tenant": "b"}, {"tenant": "A"}])]
        ['A', 'b']
    """
    return sorted(
        rows, key=lambda r: (str(r.get("tenant") or "").casefold(), str(r.get("tenant_id")))
    )


def table_rows(
    rows: Sequence[dict[str, Any]], consent_url: Callable[[str], str] | None = None
) -> list[dict[str, Any]]:
    """The report's rows by display name: :data:`COLUMNS` first (``found`` in words, the
    consent link of a tenant that has not consented), then every other key the rows carry."""
    out = []
    for row in by_display_name(rows):
        tid = row.get("tenant_id")
        link = row.get("consent_link") or (
            consent_url(str(tid)) if consent_url and row.get("consent") and tid else None
        )
        first = {c: row.get(c) for c in COLUMNS}
        first.update({"found": found_text(row), "consent_link": link})
        rest = {k: v for k, v in row.items() if k not in first and k not in _INTERNAL}
        out.append({**first, **rest})
    return out


def summary_markdown(
    rows: Sequence[dict[str, Any]], lines: Sequence[str], exports: Sequence[str] = ()
) -> str:
    """The summary of :func:`table_rows`: ``lines``, the counts, each tenant not done with its
    whole error (and consent link), what was found, where every tenant's row is."""
    counts = Counter(str(r.get("status")) for r in rows)
    out = ["# MSSP fan-out", "", *(f"- {line}" for line in lines)]
    out.append(
        f"- Tenants: {len(rows)} ("
        + ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        + ")"
    )
    not_done = [r for r in rows if r.get("status") in NOT_DONE]
    if not_done:
        out += ["", f"## Not done ({len(not_done)})", "", *(_not_done(r) for r in not_done)]
    else:
        out += ["", "Every tenant succeeded."]
    if len(rows) <= INLINE_ROWS:
        columns = [c for c in COLUMNS if c != "consent_link"]
        out += ["", "## Tenants", "", markdown_table(rows, columns)]
    found = [r for r in rows if r.get("devices") or r.get("accounts")]
    section = findings_section(found[:FINDINGS_SHOWN])
    if section:
        out += ["", section]
        if len(found) > FINDINGS_SHOWN:
            out.append(
                f"\n…and {len(found) - FINDINGS_SHOWN} more tenants with findings: the table "
                "artifact counts them, the JSON-lines export lists them with their links."
            )
    out += ["", f"Every tenant's row: the table artifact `{TABLE_KEY}` ({len(rows)} rows)."]
    out += [f"Download: `{md_text(path, 500, breaks=False)}`" for path in exports]
    return "\n".join(out) + "\n"


def _not_done(row: dict[str, Any]) -> str:
    name = md_text(row.get("tenant") or row.get("tenant_id"), 120, breaks=False)
    line = f"- **{name}** ({md_text(row.get('tenant_id'), 40, breaks=False)}), "
    line += f"{row.get('status')}: {md_text(row.get('error'), ERROR_CHARS + 1, breaks=False)}"
    if row.get("consent_link"):
        line += f"\n  - Consent link: [grant admin consent]({row['consent_link']})"
    return line


def write_exports(rows: Sequence[dict[str, Any]], directory: Path, stem: str) -> list[str]:
    """``<stem>.csv`` and ``<stem>.jsonl`` of :func:`table_rows` in ``directory``; their paths.

    Examples:
        >>> import tempfile
        >>> rows = [{"tenant": "=Contoso", "status": "ok"}]
        >>> paths = write_exports(rows, Path(tempfile.mkdtemp()), "x")
        >>> Path(paths[0]).read_text().splitlines()[1]
        "'=Contoso,,ok,,,,,"
    """
    directory.mkdir(parents=True, exist_ok=True)
    names = list(COLUMNS)
    for row in rows:
        names += [k for k in row if k not in names]
    csv_path, jsonl_path = directory / f"{stem}.csv", directory / f"{stem}.jsonl"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(csv_line(neutralise_cell(n) for n in names))
        for row in rows:
            fh.write(csv_line(neutralise_cell(_cell(row.get(n))) for n in names))
    with jsonl_path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({n: row.get(n) for n in names}, default=str) + "\n")
    return [str(csv_path.resolve()), str(jsonl_path.resolve())]


async def write_fanout_report(
    rows: Sequence[dict[str, Any]],
    lines: Sequence[str],
    *,
    consent_url: Callable[[str], str] | None = None,
    export_dir: str | Path | None = None,
    export_stem: str = "mssp-fanout",
) -> FanoutReport:
    """Write the summary, the table artifact and (with ``export_dir``) the exports.

    Example:
        ```python
        from prefect_defender.flows.mssp_report import write_fanout_report

        rows = [  # one per tenant, as the fan-out's tenants end
            {"tenant": "Contoso", "tenant_id": tenant_id, "status": "ok", "rows": 3},
            {"tenant": "Fabrikam", "tenant_id": customer_tenant_id, "status": "failed",
             "consent": True, "error": "AADSTS65001: consent missing"},
        ]
        report = await write_fanout_report(rows, ["Query: `DeviceInfo | count`"],
                                           consent_url=partner.admin_consent_url,
                                           export_dir="reports")
        assert report.counts == {"failed": 1, "ok": 1} and len(report.exports) == 2
        ```
    """
    ordered = table_rows(rows, consent_url)
    exports = write_exports(ordered, Path(export_dir), export_stem) if export_dir else []
    markdown = summary_markdown(ordered, lines, exports)
    table_id = await acreate_table_artifact(
        table=[{k: _cell(v) for k, v in r.items()} for r in ordered],
        key=TABLE_KEY,
        description=f"MSSP fan-out: every tenant ({len(ordered)}), by display name",
    )
    summary_id = await acreate_markdown_artifact(
        markdown=markdown, key=SUMMARY_KEY, description="MSSP fan-out"
    )
    counts = dict(Counter(str(r.get("status")) for r in ordered))
    summary = [*lines, ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))]
    remember_report("MSSP fan-out", summary, ordered, summary_id)
    return FanoutReport(markdown, counts, ordered, exports, summary_id, table_id)


def _cell(value: Any) -> Any:
    """A table or CSV cell: JSON scalars as they are, lists and objects as JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, default=str)
