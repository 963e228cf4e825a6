"""Asking an analyst for a decision from the Prefect UI.

The playbook pauses with a typed form (:class:`Decision`); the analyst opens the paused run in
the Prefect UI, fills the form and resumes it. The default of every form is *do not act*, and a
timeout means *do not act* too. For long waits a deployed flow can suspend instead of pausing
(``long_wait=True``): the process exits and the run restarts from the top when resumed (the
playbooks only write after the approval, so the restart repeats read-only steps only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run, suspend_flow_run
from pydantic import BaseModel, Field, model_validator

from prefect_defender.flows.approval_form import Decision, FormRow, decision_form
from prefect_defender.flows.approval_notice import Answer, Waiting
from prefect_defender.flows.decision_context import DecisionContext
from prefect_defender.flows.triage_watch import TriageWatch
from prefect_defender.tasks.approval_actor import resumed_by
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus
from prefect_defender.tasks.safety import normalised

__all__ = [
    "ApprovalPolicy",
    "ContainmentDecision",
    "ask_containment",
    "ask_decision",
    "containment_decision",
    "decided",
    "left_out_outcome",
    "request_decision",
]


class ApprovalPolicy(BaseModel):
    """When a playbook may act without asking, how long it waits, and who is told."""

    auto_approve_severities: list[str] = Field(
        default_factory=list,
        description="Incident severities acted on without asking (e.g. ['High']). Empty: always "
        "ask.",
    )
    never_auto_tags: list[str] = Field(
        default_factory=lambda: ["DomainController", "Tier0", "DoNotIsolate"],
        description="Machine tags that always require the form, whatever the severity.",
    )
    timeout_seconds: int = Field(
        default=3600, ge=1, description="How long to wait; no answer means no action."
    )
    poll_interval_seconds: int = Field(default=5, ge=1, description="How often to check.")
    long_wait: bool = Field(
        default=False,
        description="Suspend instead of pause (deployed flows): frees the worker while waiting "
        "(then no reminder and no timeout message: the process is gone).",
    )
    notify: list[str] = Field(
        default_factory=list,
        description="Notification blocks told that a decision waits, reminded and told of a "
        "timeout, e.g. ['slack-webhook/soc']. Empty: the playbook's own notify blocks.",
    )
    remind_before_seconds: int = Field(
        default=900,
        ge=0,
        description="Send a reminder this many seconds before the deadline (0: no reminder; "
        "none either when it is not shorter than the timeout).",
    )
    on_timeout: Literal["nothing", "escalate"] = Field(
        default="nothing",
        description="No answer by the deadline: do nothing (default; the timeout is notified and "
        "noted on the incident) or also escalate to the escalate_to blocks.",
    )
    escalate_to: list[str] = Field(
        default_factory=list,
        description="Second channel told when no one decided in time (on_timeout='escalate').",
    )
    triage_wait_seconds: float = Field(
        default=3.0,
        ge=0,
        le=30,
        description="Triage starts from the same event as the containment: wait this long for "
        "its result before asking (the form is updated if it comes later).",
    )

    @model_validator(mode="after")
    def _escalation_has_a_channel(self) -> ApprovalPolicy:
        if self.on_timeout == "escalate" and not self.escalate_to:
            raise ValueError("on_timeout='escalate' needs escalate_to (notification blocks)")
        return self

    def auto_approves(self, severity: str | None) -> bool:
        """True when an incident of ``severity`` may be acted on without asking."""
        return bool(severity and severity in self.auto_approve_severities)

    def never_auto_devices(self, plan: list[Any]) -> list[Any]:
        """The planned devices that carry a ``never_auto_tags`` tag (any case, NFKC-normalised)."""
        never_auto = {normalised(t) for t in self.never_auto_tags}
        return [p for p in plan if never_auto & {normalised(t) for t in p.machine_tags}]


async def request_decision(
    description: str,
    policy: ApprovalPolicy,
    *,
    key: str | None = None,
    form_type: type[Any] = Decision,
    **initial: object,
) -> tuple[Any, str]:
    """Pause (or suspend) for a :class:`Decision` (or ``form_type``, e.g.
    :class:`AccountDecision`); return it, or ``None`` with why.

    ``initial`` pre-fills the form (``approve`` is always pre-filled as ``False``). The
    operator is told that a decision waits, reminded and told of a timeout as in
    :func:`ask_decision`, which this wraps for playbooks that have no :class:`DecisionContext`.
    """
    answer = await ask_decision(
        policy, description=description, key=key, form_type=form_type, initial=initial
    )
    return answer.decision, answer.verdict


async def ask_decision(
    policy: ApprovalPolicy,
    *,
    context: DecisionContext | None = None,
    description: str = "",
    rows: list[FormRow] | None = None,
    key: str | None = None,
    form_type: type[Any] = Decision,
    initial: dict[str, object] | None = None,
) -> Answer:
    """Ask the operator in the Prefect UI and return the :class:`Answer`.

    The form's description is ``context.markdown()`` (with the deadline) or ``description``;
    ``rows`` add one switch per proposed item. Around the pause: one ``defender.approval.waiting``
    event and one notification that a decision waits (with the link to the paused run), one
    reminder ``remind_before_seconds`` before the deadline, and on timeout one message saying
    so (and, with ``on_timeout='escalate'``, one to ``escalate_to``); after it one
    ``defender.approval.decided`` event with the decision, the typed name, the comment, the
    time and, where the Prefect server knows one, the actor who resumed the run.

    Example:
        ```python
        from prefect import flow

        from prefect_defender.flows.approval_form import FormRow

        @flow
        async def decide(machine_id: str) -> bool:
            rows = [FormRow("device_1", machine_id, "Isolate device 1")]
            policy = ApprovalPolicy(poll_interval_seconds=1)
            answer = await ask_decision(policy, description="Isolate it?", rows=rows)
            return answer.approved  # the form's answer (False when nobody answers)
        ```
    """
    rows = rows or []
    triage = TriageWatch(context)
    await triage.settle(policy.triage_wait_seconds)  # triage may be finishing right now
    started = datetime.now(UTC)
    deadline = started + timedelta(seconds=policy.timeout_seconds)
    if context is not None:
        context.deadline = deadline
        description = context.markdown()
    waiting = Waiting(policy, context, deadline, description)
    form = decision_form(form_type, rows) if rows else form_type
    await waiting.announce()
    triage.follow(waiting.run_id)
    try:
        decision = await _pause(policy, form, description, key, initial or {})
    except FlowPauseTimeout:
        task_logger().warning("no decision within %ss: not acting", policy.timeout_seconds)
        await triage.stop()
        answer = await waiting.timed_out()
    else:
        await triage.stop()
        await waiting.stop()
        answer = Answer.of(decision, rows, datetime.now(UTC))
        answer.actor = await resumed_by(waiting.run_id, started) if waiting.run_id else None
    await waiting.decided(answer)
    return answer


async def _pause(
    policy: ApprovalPolicy,
    form: type[Any],
    description: str,
    key: str | None,
    initial: dict[str, object],
) -> Any:
    """Pause (or suspend, for a deployed run with ``long_wait``) until the form is answered."""
    ready = form.with_initial_data(description=description, **{**initial, "approve": False})
    ctx = FlowRunContext.get()
    deployed = bool(ctx and ctx.flow_run and ctx.flow_run.deployment_id)
    if policy.long_wait and deployed:
        return suspend_flow_run(wait_for_input=ready, timeout=policy.timeout_seconds, key=key)
    return await apause_flow_run(
        wait_for_input=ready,
        timeout=policy.timeout_seconds,
        poll_interval=policy.poll_interval_seconds,
        key=key,
    )


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def left_out_outcome(item: str) -> ItemOutcome:
    """The outcome of an item the operator switched off in the form.

    Example:
        ```python
        outcome = left_out_outcome("con-ws-001")
        assert outcome.status == "skipped" and outcome.reason == "left out by the operator"
        ```
    """
    return ItemOutcome(item=item, status=OutcomeStatus.SKIPPED, reason="left out by the operator")


@dataclass
class ContainmentDecision:
    """What the policy or the analyst decided about a playbook's devices and accounts.

    ``answer`` is the operator's :class:`Answer` (``None`` when the policy decided): the name
    typed in the form (self-declared: open-source Prefect has no user accounts), the actor who
    resumed the run where the Prefect server knows it (Prefect Cloud), the comment, the time
    and the items switched off.
    """

    approved: bool
    verdict: str
    isolation_type: str
    allow_protected: bool = False
    approver: str = "policy"
    answer: Answer | None = None

    def heard(self) -> str:
        """Who decided, when and why, on one line (the incident comment)."""
        a = self.answer
        if a is None or a.decided_at is None:  # the policy decided, nobody was asked
            return self.verdict
        if a.timed_out:
            return f"{self.verdict} (deadline {_when(a.decided_at)})"
        parts = [f"{self.verdict} at {_when(a.decided_at)}"]
        if a.approved_by:
            parts[0] += " (name typed in the form, self-declared)"
        parts.append(f"resumed by (Prefect): {a.actor or 'not known'}")
        if a.comment:
            parts.append(f'comment: "{a.comment}"')
        if a.left_out_names:
            parts.append("left out: " + ", ".join(a.left_out_names))
        return "; ".join(parts)

    def heard_lines(self) -> list[str]:
        """Who decided, when and why: the report's lines (and so the outcome notification's)."""
        a = self.answer
        if a is None or a.decided_at is None:
            return [f"Decision: {self.verdict}"]
        if a.timed_out:
            return [f"Decision: {self.verdict} (deadline {_when(a.decided_at)})"]
        lines = [f"Decision: {self.verdict} at {_when(a.decided_at)}"]
        if a.approved_by:
            lines.append(f"Approver's name: {a.approved_by} (typed in the form, self-declared)")
        lines.append(f"Resumed by (Prefect): {a.actor or 'not known to this Prefect server'}")
        lines.append(f"Operator comment: {a.comment or 'none'}")
        if a.left_out_names:
            lines.append(f"Left out by the operator: {', '.join(a.left_out_names)}")
        return lines

    def chosen(self, item: str) -> bool:
        """False when the operator switched ``item`` off."""
        left = self.answer.left_out if self.answer else []
        return item.lower() not in {i.lower() for i in left}


def containment_decision(
    decision: Any, verdict: str, isolation_type: str, plan: list[Any]
) -> ContainmentDecision:
    """The outcome of a :func:`request_decision` form; an approval's isolation type is set on
    every planned action."""
    if decision is None or not decision.approve:
        return ContainmentDecision(False, verdict, isolation_type)
    for p in plan:
        p.options["isolation_type"] = decision.isolation_type
    return ContainmentDecision(
        True,
        verdict,
        decision.isolation_type,
        decision.include_protected,
        decision.approved_by or "analyst",
    )


def decided(answer: Answer, isolation_type: str, plan: list[Any]) -> ContainmentDecision:
    """An :class:`Answer` as a :class:`ContainmentDecision`; an approval's isolation type (when
    the form has one) is set on every planned device action."""
    d = answer.decision
    chosen_type = getattr(d, "isolation_type", isolation_type) if answer.approved else None
    out = ContainmentDecision(
        answer.approved,
        answer.verdict,
        chosen_type or isolation_type,
        bool(answer.approved and getattr(d, "include_protected", False)),
        answer.approved_by or ("analyst" if answer.approved else ""),
        answer,
    )
    if answer.approved and isolation_type:
        for p in plan:
            p.options["isolation_type"] = out.isolation_type
    return out


async def ask_containment(
    context: DecisionContext,
    approval: ApprovalPolicy,
    isolation_type: str,
    plan: list[Any],
    what: str,
    *,
    rows: list[FormRow] | None = None,
    form_type: type[Any] = Decision,
) -> ContainmentDecision:
    """Ask in the Prefect UI (the form pre-filled with ``isolation_type`` when it has one) and
    read the answer as a :class:`ContainmentDecision`; a refusal or no answer is logged as
    ``what``."""
    initial: dict[str, object] = {"isolation_type": isolation_type} if isolation_type else {}
    answer = await ask_decision(
        approval, context=context, rows=rows, form_type=form_type, initial=initial
    )
    out = decided(answer, isolation_type, plan)
    if not out.approved:
        task_logger().info("%s not approved: %s", what, out.verdict)
    return out
