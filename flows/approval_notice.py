"""Telling the operator that a decision waits, and recording what they answered.

:class:`Waiting` surrounds one pause for approval: it emits ``defender.approval.waiting``, sends
one "approval needed" message (the incident, what will be done to how many devices and
accounts, the deadline in UTC and the link to the paused run) to the notification blocks, one
reminder before the deadline, and on timeout one message saying nothing was done (and, with
``on_timeout='escalate'``, one to the second channel); then ``defender.approval.decided`` with
the :class:`Answer`. Each is one message per decision, never one per item. Deliveries are
recorded in the run's ``defender-approval-notifications`` artifact; a failed delivery never
fails the playbook.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from prefect.context import FlowRunContext
from prefect.events import emit_event

from prefect_defender.flows.approval_form import FormRow, left_out
from prefect_defender.flows.decision_context import DecisionContext, utc
from prefect_defender.flows.notify import Delivery, flow_run_url, notify_outcome, record_deliveries
from prefect_defender.tasks.base import task_logger

__all__ = ["Answer", "ApprovalNotice", "Waiting"]

WAITING_EVENT = "defender.approval.waiting"
DECIDED_EVENT = "defender.approval.decided"
NoticeKind = Literal["waiting", "reminder", "timeout", "escalation"]


@dataclass
class Answer:
    """The operator's answer (or the timeout), with who, when and why."""

    decision: Any | None
    approved: bool
    verdict: str
    approved_by: str = ""
    comment: str = ""
    decided_at: datetime | None = None
    actor: str | None = None
    left_out: list[str] = field(default_factory=list)
    timed_out: bool = False
    escalated_to: list[str] = field(default_factory=list)
    left_out_names: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, decision: Any, rows: list[FormRow], when: datetime) -> Answer:
        """The answer read from a submitted form."""
        who = " ".join(str(getattr(decision, "approved_by", "") or "").split())[:200]
        comment = " ".join(str(getattr(decision, "comment", "") or "").split())[:1000]
        approved = bool(decision is not None and decision.approve)
        verdict = ("approved" if approved else "rejected") + (f" by {who}" if who else "")
        out = left_out(decision, rows) if approved else []
        return cls(
            decision,
            approved,
            verdict,
            who,
            comment,
            when,
            left_out=[r.item for r in out],
            left_out_names=[r.name or r.item for r in out],
        )

    @classmethod
    def timeout(cls, timeout_seconds: int, escalate_to: list[str], when: datetime) -> Answer:
        """No answer within ``timeout_seconds``: do not act (and maybe escalate)."""
        verdict = f"no answer within {timeout_seconds}s (default: do not act)"
        if escalate_to:
            verdict += f"; escalated to {', '.join(escalate_to)}"
        return cls(None, False, verdict, decided_at=when, timed_out=True, escalated_to=escalate_to)

    def payload(self) -> dict[str, Any]:
        """The ``defender.approval.decided`` event's payload."""
        return {
            "decision": "timed_out"
            if self.timed_out
            else "approved"
            if self.approved
            else "rejected",
            "verdict": self.verdict,
            "approved_by": self.approved_by,
            "approved_by_is_self_declared": True,
            "actor": self.actor,
            "comment": self.comment,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "left_out": self.left_out_names,
            "escalated_to": self.escalated_to,
        }


@dataclass
class ApprovalNotice:
    """One message about a decision: it waits, it is near its deadline, or nobody answered.

    Example:
        ```python
        from datetime import UTC, datetime, timedelta

        deadline = datetime.now(UTC) + timedelta(hours=1)
        notice = ApprovalNotice("waiting", "defender-contain-device",
                                "containment of incident 1001 (High)", deadline=deadline)
        subject, body = notice.render()
        ```
    """

    kind: NoticeKind
    playbook: str
    subject: str
    what: str = ""
    items: list[str] = field(default_factory=list)
    title: str | None = None
    tenant: str | None = None
    deadline: datetime | None = None
    link: str | None = None
    outcome: str | None = None
    why: str | None = None

    def wanted(self, notify_on: str) -> bool:
        """Always: a decision that waits is worth telling whatever ``notify_on`` says."""
        return True

    def render(self) -> tuple[str, str]:
        """The subject and the plain-text body (one message for the whole decision)."""
        by = utc(self.deadline)
        heads = {
            "waiting": f"Approval needed by {by}",
            "reminder": f"Reminder: approval needed by {by}",
            "timeout": f"No decision by {by}",
            "escalation": f"ESCALATION: no decision by {by}",
        }
        head = f"{heads[self.kind]}: {self.subject}"
        lines = [head, f"Playbook: {self.playbook}"]
        if self.title:
            lines.append(f"Incident: {self.title}")
        if self.tenant:
            lines.append(f"Tenant: {self.tenant}")
        if self.why:
            lines.append(f"Why: {self.why}")
        if self.what:
            lines.append(f"To do: {self.what}")
        if self.items:
            lines.append("Items: " + ", ".join(self.items))
        lines.append(f"Deadline: {by} (no answer by then: nothing is done)")
        if self.outcome:
            lines.append(f"Outcome: {self.outcome}")
        if self.link:
            verb = "Approve or reject" if self.kind in ("waiting", "reminder") else "The run"
            lines.append(f"{verb}: {self.link}")
        return f"[prefect-defender] {head}"[:250], "\n".join(lines)[:3500]


class Waiting:
    """One pause for approval: the events and messages around it (see the module doc)."""

    def __init__(
        self,
        policy: Any,
        context: DecisionContext | None,
        deadline: datetime,
        description: str,
    ) -> None:
        self.policy = policy
        self.context = context
        self.deadline = deadline
        self.deliveries: list[Delivery] = []
        self._reminder: asyncio.Task[None] | None = None
        run = FlowRunContext.get()
        flow_run = run.flow_run if run else None
        self.run_id = flow_run.id if flow_run else None
        self.run_count = int(getattr(flow_run, "run_count", 0) or 0)
        self.playbook = run.flow.name if run and run.flow else "playbook"
        params = dict(flow_run.parameters or {}) if flow_run else {}
        targets = policy.notify or params.get("notify") or []
        self.targets: list[str] = [targets] if isinstance(targets, str) else list(targets)
        self.tenant_id = (context.tenant_id if context else None) or params.get("tenant_id")
        self.subject = context.subject if context else _first_heading(description)

    def notice(self, kind: NoticeKind, outcome: str | None = None) -> ApprovalNotice:
        """The message of ``kind`` for this decision."""
        ctx = self.context
        incident = ctx.incident if ctx else None
        return ApprovalNotice(
            kind,
            self.playbook,
            self.subject,
            what=ctx.summary() if ctx else "",
            items=ctx.names() if ctx else [],
            title=f"{incident.title} ({incident.severity})"
            if incident and incident.title
            else None,
            tenant=ctx.tenant if ctx else None,
            deadline=self.deadline,
            link=flow_run_url(self.run_id) if self.run_id else None,
            outcome=outcome,
            why=(incident.score if incident else None) or (ctx.reason if ctx else None),
        )

    def _resource(self) -> dict[str, str]:
        res = {
            "prefect.resource.id": f"defender.approval.{self.run_id}",
            "prefect.resource.name": self.subject,
            "defender.playbook": self.playbook,
        }
        incident = self.context.incident if self.context else None
        if incident is not None:
            res["defender.incident.id"] = str(incident.incident_id)
        if self.tenant_id:
            res["defender.tenant.id"] = str(self.tenant_id)
        return res

    async def _send(self, targets: list[str], notice: ApprovalNotice) -> None:
        if not targets:
            return
        try:
            sent = await notify_outcome(targets, notice)
        except Exception as exc:  # never fails the playbook
            task_logger().warning("approval notice not sent: %s", type(exc).__name__)
            return
        for d in sent:
            d.target = f"{d.target} ({notice.kind})"
            log = task_logger().info if d.delivered else task_logger().warning
            log("%s notice to %s: %s", notice.kind, d.target, "sent" if d.delivered else d.error)
        self.deliveries += sent

    async def announce(self) -> None:
        """The waiting event and message, and the reminder scheduled before the deadline."""
        payload = {
            "deadline": self.deadline.isoformat(),
            "what": self.context.summary() if self.context else "",
            "link": flow_run_url(self.run_id) if self.run_id else None,
        }
        emit_event(event=WAITING_EVENT, resource=self._resource(), payload=payload)
        resumed_after_suspend = self.policy.long_wait and self.run_count > 1
        if not resumed_after_suspend:
            await self._send(self.targets, self.notice("waiting"))
        remind = int(self.policy.remind_before_seconds or 0)
        if remind and remind < self.policy.timeout_seconds and self.targets:
            wait = self.policy.timeout_seconds - remind
            self._reminder = asyncio.create_task(self._remind_after(wait))

    async def _remind_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._send(self.targets, self.notice("reminder"))

    async def stop(self) -> None:
        """Cancel the reminder (the operator answered)."""
        if self._reminder is not None:
            self._reminder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reminder
            self._reminder = None

    async def timed_out(self) -> Answer:
        """The timeout's messages; the answer says nothing was done (and where it escalated)."""
        await self.stop()
        escalate = list(self.policy.escalate_to) if self.policy.on_timeout == "escalate" else []
        outcome = "nothing was done (no answer means do not act)"
        if escalate:
            outcome += "; escalated to " + ", ".join(escalate)
        await self._send(self.targets, self.notice("timeout", outcome))
        await self._send(escalate, self.notice("escalation", outcome))
        return Answer.timeout(self.policy.timeout_seconds, escalate, datetime.now(UTC))

    async def decided(self, answer: Answer) -> None:
        """The decided event, and the record of the messages sent for this decision."""
        payload = {**answer.payload(), "deadline": self.deadline.isoformat()}
        emit_event(event=DECIDED_EVENT, resource=self._resource(), payload=payload)
        if self.deliveries:
            await record_deliveries(
                self.deliveries,
                key="defender-approval-notifications",
                description="Notifications about this run's approval",
            )


def _first_heading(description: str) -> str:
    """The first line of a description, without markdown's heading marks."""
    for line in description.splitlines():
        text = line.strip().lstrip("#").strip()
        if text:
            return text[:200]
    return "a decision"
