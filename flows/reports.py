"""The playbooks' reports: markdown tables, outcome rows, the run's report artifact and the
comment that tells the incident what a playbook did (or why it did nothing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prefect.artifacts import acreate_markdown_artifact

from prefect_defender.api.errors import DefenderError
from prefect_defender.flows.notify import remember_report
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.incidents import add_incident_comment
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.scope import TenantScope

__all__ = [
    "containment_summary",
    "markdown_table",
    "note_on_incident",
    "outcome_rows",
    "report_and_comment",
    "write_report",
]


def _cell(v: Any) -> str:
    text = "" if v is None else str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table of ``rows`` restricted to ``columns`` (pipes and newlines escaped)."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(_cell(r.get(c)) for c in columns) + " |")
    return "\n".join(out)


def outcome_rows(plan: list[PlannedAction], outcomes: list[ItemOutcome]) -> list[dict[str, Any]]:
    """Report rows joining the plan and the outcomes."""
    rows = []
    for p, o in zip(plan, outcomes, strict=True):
        res = o.result if isinstance(o.result, dict) else {}
        rows.append(
            {
                "machine": f"[{p.computer_dns_name or p.machine_id}]({p.link})"
                if p.link
                else (p.computer_dns_name or p.machine_id),
                "action": p.action.value,
                "outcome": o.status.value if hasattr(o.status, "value") else o.status,
                "final": res.get("final_status") or res.get("status") or "",
                "action id": res.get("action_id", ""),
                "note": o.reason or "",
            }
        )
    return rows


async def write_report(
    key: str,
    title: str,
    summary: list[str],
    rows: list[dict[str, Any]],
    columns: list[str],
    sections: list[str] | None = None,
    appendix: list[str] | None = None,
) -> str:
    """A markdown artifact: a title, summary lines (a list), ``sections`` (markdown blocks of
    their own: headings, tables, lists), the rows' table, then ``appendix`` blocks; returns the
    markdown.

    The report is also kept for the run's notification (see :mod:`prefect_defender.flows.notify`).

    Example:
        ```python
        from prefect import flow

        @flow
        async def my_playbook() -> str:
            rows = [{"machine": "con-ws-001", "outcome": "succeeded"}]
            return await write_report("defender-x", "X", ["Done: 1/1"], rows,
                                      ["machine", "outcome"],
                                      sections=["## Devices\\n\\n| device |\\n|---|\\n| ws-1 |"])
        ```
    """
    md = f"# {title}\n\n" + "\n".join(f"- {line}" for line in summary)
    for block in sections or []:
        md += "\n\n" + block.strip()
    if rows:
        md += "\n\n" + markdown_table(rows, columns)
    for block in appendix or []:
        md += "\n\n" + block.strip()
    artifact_id = await acreate_markdown_artifact(markdown=md, key=key, description=title)
    remember_report(title, summary, rows, artifact_id)  # for the run's notification, if any
    return md


async def note_on_incident(scope: TenantScope, incident_id: int, text: str) -> None:
    """Add ``text`` to the incident (in the run's tenant); a refused comment is logged, not
    raised (the playbook has already acted, and its report still tells what it did)."""
    try:
        await add_incident_comment(scope.client, incident_id, text)
    except DefenderError as exc:
        task_logger().warning("could not comment on incident %s: %s", incident_id, exc)


def containment_summary(
    tenant: str, decision: Any, how: str, dry_run: bool, *counts: str
) -> list[str]:
    """A containment report's summary lines: the tenant, the decision (a verdict, or a
    decision's lines: who decided, when, why), ``how`` (the isolation type or the actions), the
    dry run, then ``counts``."""
    lines = (
        decision.heard_lines() if hasattr(decision, "heard_lines") else [f"Decision: {decision}"]
    )
    return [f"Tenant: {tenant}", *lines, how, f"Dry run: {dry_run}", *counts]


async def report_and_comment(
    scope: TenantScope,
    key: str,
    title: str,
    summary: list[str],
    rows: list[dict[str, Any]],
    columns: list[str],
    *,
    incident_id: int | None,
    comment: str | None,
    acted: bool,
) -> None:
    """Write the report and, when ``comment`` and ``incident_id`` are given, comment on the
    incident.

    After acting (``acted``) the comment comes first and a refused comment is only logged (see
    :func:`note_on_incident`): the report still tells what was done. When nothing was done
    (not approved) the report comes first and a refused comment raises.

    Example:
        ```python
        from prefect import flow

        from prefect_defender.tasks.scope import TenantScope

        @flow
        async def my_playbook(credentials: str) -> None:
            rows = [{"machine": "con-ws-001", "outcome": "succeeded"}]
            async with await TenantScope.load(credentials) as scope:
                await report_and_comment(
                    scope, "defender-x", "X", ["Done: 1/1"], rows, ["machine", "outcome"],
                    incident_id=1001, comment="X: done", acted=True,
                )
        ```
    """
    if acted and comment and incident_id:
        await note_on_incident(scope, incident_id, comment)
    await write_report(key, title, summary, rows, columns)
    if not acted and comment and incident_id:
        await add_incident_comment(scope.client, incident_id, comment)
