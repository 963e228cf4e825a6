"""The message of one finished playbook run: what a notification says, built from the run.

:class:`OutcomeMessage` holds the facts (playbook, state, tenant, incident, outcome counts, what
was done, failed items, links) and renders them as a subject and a plain-text body;
:func:`build_message` gathers them from the run's parameters, final state and the reports its
``write_report`` calls kept (:class:`Report`). Sending is in ``_delivery``, the flow hook in
``_hook``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

__all__ = [
    "MAX_BODY",
    "NotifyOn",
    "OutcomeMessage",
    "Report",
    "build_message",
    "flow_run_url",
]

NotifyOn = Literal["always", "failure", "action"]

#: the most characters of a message body (Teams and Slack cut longer texts)
MAX_BODY = 3500

_FAILED = {"failed", "partial", "crashed"}
_ACTED = {"succeeded", "already_in_progress", "ok", "partial"}
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass
class Report:
    """What ``write_report`` wrote, kept until the run's notification hook reads it."""

    title: str
    summary: list[str]
    rows: list[dict[str, Any]]
    artifact_id: UUID | None = None


@dataclass
class OutcomeMessage:
    """The facts of one playbook run that a notification carries.

    Example:
        ```python
        msg = OutcomeMessage(playbook="defender-contain-device", state="Completed",
                             counts={"succeeded": 2, "failed": 1})
        subject, body = msg.render()
        ```
    """

    playbook: str
    state: str = "Completed"
    run_name: str | None = None
    title: str | None = None
    tenant: str | None = None
    incident: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    failed_items: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    dry_run: bool = False

    @property
    def failed(self) -> bool:
        """True when the run did not complete or any item failed."""
        return self.state != "Completed" or any(n and _is_failed(s) for s, n in self.counts.items())

    @property
    def acted(self) -> bool:
        """True when something was changed in Defender (not in a dry run)."""
        return not self.dry_run and any(n and s in _ACTED for s, n in self.counts.items())

    def wanted(self, notify_on: str) -> bool:
        """Whether ``notify_on`` asks for this message."""
        if notify_on == "failure":
            return self.failed
        if notify_on == "action":
            return self.acted or self.failed
        return True

    def counts_text(self) -> str:
        """``2 succeeded, 1 failed`` (or ``no items``)."""
        return ", ".join(f"{n} {s}" for s, n in self.counts.items()) or "no items"

    def render(self) -> tuple[str, str]:
        """The subject and the plain-text body."""
        subject = f"[prefect-defender] {self.playbook}: {self.state}, {self.counts_text()}"
        lines = [f"{self.title or self.playbook}: {self.state}"]
        lines.append(
            f"Playbook: {self.playbook}" + (f" (run {self.run_name})" if self.run_name else "")
        )
        if self.tenant:
            lines.append(f"Tenant: {self.tenant}")
        if self.incident:
            lines.append(f"Incident: {self.incident}")
        lines.append(f"Outcome: {self.counts_text()}" + (" (dry run)" if self.dry_run else ""))
        if self.error:
            lines.append(f"Error: {self.error}")
        if self.done:
            lines.append("Done:")
            lines += [f"- {d}" for d in self.done]
        if self.failed_items:
            lines.append("Failed:")
            lines += [f"- {d}" for d in self.failed_items]
        if self.links:
            lines.append("Links:")
            lines += [f"- {name}: {url}" for name, url in self.links.items()]
        body = "\n".join(lines)
        if len(body) > MAX_BODY:
            body = body[: MAX_BODY - 2] + " …"
        return subject[:250], body


def _status(row: dict[str, Any]) -> str:
    value = row.get("outcome", row.get("status", ""))
    value = getattr(value, "value", value)
    return str(value or "unknown").strip().lower().replace(" ", "_") or "unknown"


def _is_failed(status: str) -> bool:
    return status in _FAILED or status.startswith("failed")


def _plain(text: Any) -> str:
    return _LINK.sub(r"\1", " ".join(str(text or "").split()))


def _item(row: dict[str, Any]) -> str:
    name = next(
        (row[k] for k in ("machine", "indicator", "entity", "tenant", "item") if row.get(k)), "?"
    )
    note = row.get("note") or row.get("detail") or row.get("error") or row.get("final") or ""
    return _plain(f"{name}: {note}" if note else name)[:200]


def _done_lines(reports: list[Report]) -> list[str]:
    out: list[str] = []
    for r in reports:
        if len(reports) > 1:
            out.append(_plain(r.title))
        for line in r.summary:
            text = _plain(line)
            if not text or text.startswith("|") or "\n" in str(line) or text.endswith(":"):
                continue
            if text.startswith("Open the incident") or text.startswith("Tenant:"):
                continue
            out.append(text[:200])
    return out[:12]


def _ui_url() -> str | None:
    from prefect.settings import PREFECT_UI_URL

    value = PREFECT_UI_URL.value()
    return str(value).rstrip("/") if value else None


def flow_run_url(flow_run_id: Any) -> str | None:
    """The Prefect UI page of a flow run (``None`` when no UI URL is known).

    Example:
        ```python
        from uuid import uuid4

        flow_run_url(uuid4())  # 'http://127.0.0.1:4200/runs/flow-run/0f3c...' (PREFECT_UI_URL)
        ```
    """
    ui = _ui_url()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else None


async def _tenant_and_links(
    params: dict[str, Any], rows: list[dict[str, Any]]
) -> tuple[str | None, dict[str, str]]:
    """The tenant label and the Defender portal links, from the run's credentials block."""
    from prefect_defender.blocks import DefenderPartnerCredentials
    from prefect_defender.tasks.scope import load_credentials, tenant_label

    links: dict[str, str] = {}
    ref = params.get("credentials")
    if not ref:
        return None, links
    try:
        creds = await load_credentials(ref)
    except Exception:
        return None, links
    tid = params.get("tenant_id") or params.get("incident_tenant_id")
    label: str | None
    if isinstance(creds, DefenderPartnerCredentials):
        if tid:
            label = f"{tenant_label(creds, tid)} ({tid})"
        else:
            ids = list(params.get("tenant_ids") or creds.tenant_ids())
            names = [creds.display_name(t) for t in ids]
            label = f"{len(ids)} tenant(s): " + ", ".join(names[:6])
            label += ", …" if len(names) > 6 else ""
    else:
        tid = tid or str(getattr(creds, "tenant_id", "") or "") or None
        label = tid
    try:
        portal = creds.endpoints().portal_url.rstrip("/")
    except Exception:
        return label, links
    incident = params.get("incident_id")
    if incident and tid:
        links["Defender incident"] = f"{portal}/incidents/{incident}/overview?tid={tid}"
    if tid and any("action id" in r for r in rows):
        links["Defender action center"] = f"{portal}/action-center/history?tid={tid}"
    return label, links


async def build_message(
    playbook: str,
    flow_run: Any,
    state: Any,
    reports: list[Report],
) -> OutcomeMessage:
    """The message for a finished run, from its parameters, final state and reports.

    Example:
        ```python
        from prefect import flow

        @flow
        async def my_playbook() -> None: ...

        async def hook(fl, flow_run, state) -> None:  # a flow hook's arguments
            message = await build_message(fl.name, flow_run, state, [])
            subject, body = message.render()
            print(subject)

        my_playbook.on_completion_hooks.append(hook)
        ```
    """
    params = dict(getattr(flow_run, "parameters", None) or {})
    rows = [row for r in reports for row in r.rows]
    counts = dict(Counter(_status(r) for r in rows).most_common())
    tenant, links = await _tenant_and_links(params, rows)
    ui = _ui_url()
    run_url = flow_run_url(flow_run.id) if getattr(flow_run, "id", None) else None
    if run_url:
        links = {"Prefect flow run": run_url, **links}
    for r in reports:
        if ui and r.artifact_id:
            name = "Report" if len(reports) == 1 else f"Report: {r.title}"
            links[name] = f"{ui}/artifacts/artifact/{r.artifact_id}"
    safety = params.get("safety") or {}
    dry = bool(params.get("dry_run") or (isinstance(safety, dict) and safety.get("dry_run")))
    completed = bool(state.is_completed())
    error = None
    if not completed:
        error = " ".join(str(getattr(state, "message", "") or "").split())[:300] or None
    incident = params.get("incident_id")
    return OutcomeMessage(
        playbook=playbook,
        state="Completed" if completed else str(getattr(state, "name", None) or "Failed"),
        run_name=getattr(flow_run, "name", None),
        title=reports[0].title if len(reports) == 1 else None,
        tenant=tenant,
        incident=str(incident) if incident else None,
        counts=counts,
        done=_done_lines(reports),
        failed_items=[_item(r) for r in rows if _is_failed(_status(r))][:10],
        links=links,
        error=error,
        dry_run=dry,
    )
