"""Notifications: one concise message per playbook run, through Prefect's notification blocks.

Every playbook takes two parameters::

    notify: list[str] | None = None        # saved blocks, e.g. ["slack-webhook/soc"]
    notify_on: "always" | "failure" | "action" = "always"

and is decorated with :func:`notifying`, which adds a completion/failure/crash hook. When the run
ends, the hook builds one message from the run's report(s) (see :func:`remember_report`, called
by ``write_report``) and sends it to every named block: playbook, tenant, incident, outcome
counts per status, what was done, failed items, and links (the Prefect flow run, the report
artifact, the Defender portal).

Any block derived from ``prefect.blocks.abstract.NotificationBlock`` works: ``SlackWebhook``
(``slack-webhook/<name>``), ``MicrosoftTeamsWebhook`` (``ms-teams-webhook/<name>``),
``CustomWebhookNotificationBlock`` (``custom-webhook/<name>``), ``SendgridEmail``
(``sendgrid-email/<name>``), PagerDuty, Opsgenie, Discord, Mattermost, Twilio SMS.

A notification never fails the playbook nor changes its outcome: a failed delivery is logged
as a warning (with every secret of the block masked) and recorded in a
``defender-notifications`` artifact of the run.

Example:
    ```python
    from prefect.blocks.notifications import SlackWebhook
    from prefect_defender.flows.contain import contain_device

    SlackWebhook(url="https://hooks.slack.com/services/T0/B0/XXXX").save("soc")
    contain_device(incident_id=1001, notify=["slack-webhook/soc"], notify_on="action")
    ```
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

from prefect import Flow
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.core import Block
from pydantic import SecretStr

__all__ = [
    "Delivery",
    "NotifyOn",
    "OutcomeMessage",
    "notify_hook",
    "notify_outcome",
    "notifying",
    "remember_report",
    "scrub",
]

NotifyOn = Literal["always", "failure", "action"]

#: seconds one notification block may take before it counts as failed
SEND_TIMEOUT = 30.0
#: the most characters of a message body (Teams and Slack cut longer texts)
MAX_BODY = 3500

_FAILED = {"failed", "partial", "crashed"}
_ACTED = {"succeeded", "already_in_progress", "ok", "partial"}
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")

F = TypeVar("F", bound="Flow[Any, Any]")


@dataclass
class Report:
    """What ``write_report`` wrote, kept until the run's notification hook reads it."""

    title: str
    summary: list[str]
    rows: list[dict[str, Any]]
    artifact_id: UUID | None = None


@dataclass
class Delivery:
    """The result of sending to one notification block."""

    target: str
    delivered: bool
    error: str | None = None


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


# -- reports kept per flow run -------------------------------------------------------------------

_REPORTS: dict[UUID, list[Report]] = {}


def _current_run() -> tuple[UUID | None, dict[str, Any]]:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return None, {}
    return ctx.flow_run.id, dict(ctx.flow_run.parameters or {})


def remember_report(
    title: str, summary: list[str], rows: list[dict[str, Any]], artifact_id: UUID | None
) -> None:
    """Keep a report for the current run's notification (only when the run asked for one).

    ``write_report`` calls this; a custom flow writing its own report can too.

    Example:
        ```python
        remember_report("Block indicators", ["Submitted: 3/3"], rows, artifact_id)
        ```
    """
    run_id, params = _current_run()
    if run_id is not None and params.get("notify"):
        _REPORTS.setdefault(run_id, []).append(Report(title, list(summary), rows, artifact_id))


# -- secrets ------------------------------------------------------------------------------------


def _secret_values(block: Any) -> list[str]:
    """Every secret string of a block, and the parts of secret URLs an error message may quote."""
    raw: list[str] = []
    for name in type(block).model_fields:
        value: Any = getattr(block, name, None)
        if name.endswith("url") and isinstance(value, str):
            raw.append(value)  # a plain URL field may still carry a token
        elif isinstance(value, SecretStr):
            raw.append(value.get_secret_value())
        elif hasattr(value, "get_secret_value"):
            inner = value.get_secret_value()
            if isinstance(inner, dict):
                raw += [str(v) for v in inner.values()]
            elif isinstance(inner, str):
                raw.append(inner)
    out: set[str] = set()
    for s in raw:
        out.add(s)
        parts = urlsplit(s)
        if parts.scheme and parts.netloc:
            out.update(p for p in (parts.path, parts.query) if len(p) > 1)
            out.update(p for p in (parts.password, parts.username) if p)
            pieces = parts.path.split("/") + [v for _, v in parse_qsl(parts.query)]
            out.update(p for p in pieces if _token_like(p))
    return sorted((s for s in out if len(s) >= 4), key=len, reverse=True)


def _token_like(text: str) -> bool:
    """A URL piece that may be a credential: long, and not a plain lowercase word."""
    return len(text) >= 8 and not (text.isalpha() and text.islower())


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``***``.

    Example:
        ```python
        scrub("POST https://hooks.example/T0/SECRET failed", ["SECRET"])
        # 'POST https://hooks.example/T0/*** failed'
        ```
    """
    for s in secrets:
        text = text.replace(s, "***")
    return text


# -- sending ------------------------------------------------------------------------------------


async def _load(ref: str | NotificationBlock) -> NotificationBlock:
    if isinstance(ref, NotificationBlock):
        return ref
    if not isinstance(ref, str) or "/" not in ref:
        raise ValueError(
            f"expected '<block-type-slug>/<block-name>', e.g. 'slack-webhook/soc', got {ref!r}"
        )
    block: Any = await Block.aload(ref)
    if not isinstance(block, NotificationBlock):
        raise ValueError(f"{ref!r} is not a notification block")
    return block


async def _send_one(
    ref: str | NotificationBlock, subject: str, body: str, timeout: float
) -> Delivery:
    label = ref if isinstance(ref, str) else type(ref).__name__
    secrets: list[str] = []
    try:
        block = await _load(ref)
        secrets = _secret_values(block)
        with block.raise_on_failure():
            send = getattr(block, "anotify", None) or block.notify
            result = send(body, subject)
            if asyncio.iscoroutine(result):
                await asyncio.wait_for(result, timeout)
        return Delivery(label, True)
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        if isinstance(exc, TimeoutError):
            text = f"no answer within {timeout:g} s"
        return Delivery(label, False, scrub(f"{type(exc).__name__}: {text}", secrets))


async def notify_outcome(
    targets: Sequence[str | NotificationBlock],
    message: OutcomeMessage,
    notify_on: NotifyOn | str = "always",
    timeout: float = SEND_TIMEOUT,
) -> list[Delivery]:
    """Send ``message`` to every notification block in ``targets``; never raises.

    ``targets`` are ``<block-type-slug>/<name>`` references of saved blocks (or block
    instances). Blocks are sent to concurrently; each delivery is reported, and an error text
    never contains the block's secrets. Nothing is sent when ``notify_on`` does not ask for
    this message.

    Example:
        ```python
        from prefect_defender.flows.notify import OutcomeMessage, notify_outcome

        msg = OutcomeMessage(playbook="defender-block-indicators", counts={"succeeded": 3})
        deliveries = await notify_outcome(["slack-webhook/soc"], msg, notify_on="action")
        assert all(d.delivered for d in deliveries)
        ```
    """
    if not targets or not message.wanted(notify_on):
        return []
    subject, body = message.render()
    return list(await asyncio.gather(*(_send_one(t, subject, body, timeout) for t in targets)))


# -- building the message from a finished run ---------------------------------------------------


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
    """The message for a finished run, from its parameters, final state and reports."""
    params = dict(getattr(flow_run, "parameters", None) or {})
    rows = [row for r in reports for row in r.rows]
    counts = dict(Counter(_status(r) for r in rows).most_common())
    tenant, links = await _tenant_and_links(params, rows)
    ui = _ui_url()
    if ui and getattr(flow_run, "id", None):
        links = {"Prefect flow run": f"{ui}/runs/flow-run/{flow_run.id}", **links}
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


async def _record(deliveries: list[Delivery], log: Any) -> None:
    from prefect.artifacts import acreate_markdown_artifact

    from prefect_defender.flows.reports import markdown_table

    rows = [
        {
            "block": d.target,
            "result": "sent" if d.delivered else "failed",
            "detail": d.error or "",
        }
        for d in deliveries
    ]
    try:
        await acreate_markdown_artifact(
            markdown="# Notifications\n\n" + markdown_table(rows, ["block", "result", "detail"]),
            key="defender-notifications",
            description="Notifications sent at the end of this playbook run",
        )
    except Exception as exc:
        log.warning("could not record the notifications: %s", type(exc).__name__)


async def notify_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook: send the run's notification (added by :func:`notifying`; never raises)."""
    from prefect_defender.tasks.base import task_logger

    reports = _REPORTS.pop(flow_run.id, [])
    params = dict(flow_run.parameters or {})
    targets = params.get("notify") or []
    if isinstance(targets, str):
        targets = [targets]
    if not targets:
        return
    log = task_logger()
    started = time.monotonic()
    try:
        message = await build_message(flow.name, flow_run, state, reports)
        deliveries = await notify_outcome(targets, message, params.get("notify_on") or "always")
    except Exception as exc:
        log.warning("notification not sent: %s", type(exc).__name__)
        return
    if not deliveries:
        log.info("no notification: notify_on=%s", params.get("notify_on"))
        return
    for d in deliveries:
        if d.delivered:
            log.info("notification sent to %s", d.target)
        else:
            log.warning("notification to %s failed: %s", d.target, d.error)
    log.debug("notifications took %.2f s", time.monotonic() - started)
    await _record(deliveries, log)


def notifying(flow_obj: F) -> F:
    """Decorator for a playbook flow: send its notification when the run ends.

    The flow must have ``notify`` and ``notify_on`` parameters; the hook runs on completion,
    failure and crash.

    Example:
        ```python
        @notifying
        @flow(name="my-playbook")
        async def my_playbook(notify: list[str] | None = None,
                              notify_on: NotifyOn = "always") -> None: ...
        ```
    """
    fl = flow_obj
    for hooks in (fl.on_completion_hooks, fl.on_failure_hooks, fl.on_crashed_hooks):
        if notify_hook not in hooks:
            hooks.append(notify_hook)
    return flow_obj
