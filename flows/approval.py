"""Asking an analyst for a decision from the Prefect UI.

The playbook pauses with a typed form (:class:`Decision`); the analyst opens the paused run in
the Prefect UI, fills the form and resumes it. The default of every form is *do not act*, and a
timeout means *do not act* too. For long waits a deployed flow can suspend instead of pausing
(``long_wait=True``): the process exits and the run restarts from the top when resumed (the
playbooks only write after the approval, so the restart repeats read-only steps only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run, suspend_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field

from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.safety import normalised

__all__ = [
    "AccountDecision",
    "ApprovalPolicy",
    "ContainmentDecision",
    "Decision",
    "ask_containment",
    "containment_decision",
    "request_decision",
]


class Decision(RunInput):
    """The analyst's answer. Leaving the form untouched means *no*."""

    approve: bool = Field(default=False, description="Approve the proposed actions.")
    isolation_type: Literal["Full", "Selective"] = Field(
        default="Selective", description="Isolation type, for containment."
    )
    include_protected: bool = Field(
        default=False,
        description="Also act on protected assets listed above (explicit approval).",
    )
    comment: str = Field(default="", description="Why; recorded on the incident.")
    approved_by: str = Field(default="", description="Your name or e-mail.")


class AccountDecision(RunInput):
    """The analyst's answer about accounts (identity containment or release)."""

    approve: bool = Field(default=False, description="Approve the proposed account actions.")
    include_protected: bool = Field(
        default=False,
        description="Also act on protected accounts listed above (break-glass, listed admins).",
    )
    comment: str = Field(default="", description="Why; recorded on the incident.")
    approved_by: str = Field(default="", description="Your name or e-mail.")


class ApprovalPolicy(BaseModel):
    """When a playbook may act without asking, and how long it waits for an answer."""

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
        description="Suspend instead of pause (deployed flows): frees the worker while waiting.",
    )

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

    ``initial`` pre-fills the form (``approve`` is always pre-filled as ``False``).
    """
    log = task_logger()
    form = form_type.with_initial_data(description=description, **{**initial, "approve": False})
    ctx = FlowRunContext.get()
    deployed = bool(ctx and ctx.flow_run and ctx.flow_run.deployment_id)
    try:
        if policy.long_wait and deployed:
            decision = suspend_flow_run(
                wait_for_input=form, timeout=policy.timeout_seconds, key=key
            )
        else:
            decision = await apause_flow_run(
                wait_for_input=form,
                timeout=policy.timeout_seconds,
                poll_interval=policy.poll_interval_seconds,
                key=key,
            )
    except FlowPauseTimeout:
        log.warning("no decision within %ss: not acting", policy.timeout_seconds)
        return None, f"no answer within {policy.timeout_seconds}s (default: do not act)"
    if decision is None or not decision.approve:
        who = decision.approved_by if decision else ""
        return decision, f"rejected{' by ' + who if who else ''}"
    return decision, f"approved{' by ' + decision.approved_by if decision.approved_by else ''}"


@dataclass
class ContainmentDecision:
    """What the policy or the analyst decided about isolating a playbook's devices."""

    approved: bool
    verdict: str
    isolation_type: str
    allow_protected: bool = False
    approver: str = "policy"


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


async def ask_containment(
    description: str, approval: ApprovalPolicy, isolation_type: str, plan: list[Any], what: str
) -> ContainmentDecision:
    """Ask in the Prefect UI (the form pre-filled with ``isolation_type``) and read the answer
    as a :class:`ContainmentDecision`; a refusal or no answer is logged as ``what``."""
    decision, verdict = await request_decision(description, approval, isolation_type=isolation_type)
    decided = containment_decision(decision, verdict, isolation_type, plan)
    if not decided.approved:
        task_logger().info("%s not approved: %s", what, verdict)
    return decided
