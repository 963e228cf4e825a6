"""Hunt and respond: hunt IOCs with the safe query builder, propose actions on the matching
devices, ask for approval, act under the safety rails, and report.

The approval form shows why (the hunt: what was looked for, over how many days) and one block
per matching device with what the hunt saw on it (events, first and last seen), its facts and a
switch; who decided, when and why goes to the report, the ``defender.approval.decided`` event
and the outcome notification.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from prefect_defender.api.input_types import (
    BlockRef,
    IocValues,
    LocalFloat,
    LocalInt,
    LookbackDays,
    TenantId,
)
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.flows.approval import (
    ApprovalPolicy,
    ContainmentDecision,
    ask_containment,
)
from prefect_defender.flows.approval_form import Decision, DeviceDecision
from prefect_defender.flows.decision_facts import context_for, device_facts, device_form_rows
from prefect_defender.flows.device_actions import act_and_wait
from prefect_defender.flows.hunt_facts import devices_text, looked_for, seen_by_device, seen_on
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import containment_summary, outcome_rows, write_report
from prefect_defender.flows.run_names import run_name
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_plans import plan_actions, run_key_for
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.hunting import hunt_ioc
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["hunt_and_respond"]

ACTIONS = {
    "scan": ActionType.RUN_ANTIVIRUS_SCAN,
    "isolate": ActionType.ISOLATE,
    "collect": ActionType.COLLECT_INVESTIGATION_PACKAGE,
}
COLUMNS = ["machine", "action", "outcome", "final", "action id", "note"]
REPORT = "defender-hunt-and-respond"
#: how the form names each response
WORDS = {
    "scan": ("antivirus scan", "run a full antivirus scan"),
    "isolate": ("isolation", "isolate"),
    "collect": ("investigation package collection", "collect an investigation package"),
}


@notifying
@flow(name="defender-hunt-and-respond", flow_run_name=run_name("hunt-and-respond"), log_prints=True)
@checked_parameters
async def hunt_and_respond(
    credentials: BlockRef = "defender-application-credentials/soc",
    ioc_kind: Literal["hash", "ip", "domain", "url", "account"] = "hash",
    ioc_values: IocValues | None = None,
    lookback_days: LookbackDays = 7,
    response: Literal["scan", "isolate", "collect"] = "scan",
    tenant_id: TenantId | None = None,
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: LocalInt = 1800,
    poll_interval_seconds: LocalFloat = 10.0,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
) -> dict[str, Any]:
    """Find the devices that saw the IOCs and run ``response`` on them after approval.

    ``approval.auto_approve_severities`` does not apply here (there is no incident severity):
    set ``auto_approve_severities=["hunt"]`` to act without asking.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.hunt_respond import hunt_and_respond

        # pauses until an analyst approves the scans in the Prefect UI (the run's page)
        report = asyncio.run(hunt_and_respond(
            credentials="defender-application-credentials/soc", ioc_kind="ip",
            ioc_values=["203.0.113.66"], response="scan", poll_interval_seconds=1,
        ))
        assert report["matches"]
        ```
    """
    approval = approval or ApprovalPolicy()
    safety = run_guard(safety).policy  # every write of this run passes its guard
    iocs = ", ".join(ioc_values or [])
    async with await TenantScope.load(credentials, tenant_id) as scope:
        hits = await hunt_ioc(scope.client, ioc_kind, list(ioc_values or []), lookback_days)
        action = ACTIONS[response]
        plan = await _plan(scope, hits, action, safety)
        summary: dict[str, Any] = {
            "tenant_id": scope.tenant,
            "matches": hits,
            "approved": False,
            "outcomes": [],
        }
        if not plan:
            await write_report(
                REPORT,
                "Hunt and respond: no match",
                [f"Tenant: {scope.label}", f"{ioc_kind}: {iocs}"],
                [],
                COLUMNS,
            )
            return summary
        decided = await _decide(
            scope,
            plan,
            hits,
            response,
            (ioc_kind, list(ioc_values or [])),
            lookback_days,
            approval,
            safety,
        )
        summary["verdict"] = decided.verdict
        if not decided.approved:
            await write_report(
                REPORT,
                "Hunt and respond: not approved",
                [f"Tenant: {scope.label}", f"IOCs ({ioc_kind}): {iocs}", *decided.heard_lines()],
                [],
                COLUMNS,
            )
            return summary
        summary["approved"] = True
        outcomes = await act_and_wait(
            scope,
            plan,
            f"prefect-defender hunt-and-respond ({ioc_kind} hunt, {decided.verdict})",
            safety,
            run_key=run_key_for("hunt", scope.tenant, ioc_kind, sorted(ioc_values or []), response),
            allow_protected=decided.allow_protected,
            wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
            chosen=decided.chosen,
        )
        summary["outcomes"] = [o.model_dump(mode="json") for o in outcomes]
        task_logger().info("%d of %d device(s) acted on", sum(o.ok for o in outcomes), len(plan))
        await _report(scope.label, ioc_kind, iocs, plan, outcomes, decided, safety)
        return summary


async def _plan(
    scope: TenantScope, hits: list[dict[str, Any]], action: ActionType, safety: SafetyPolicy
) -> list[PlannedAction]:
    """``action`` on every device that saw the IOCs (the safety rails mark protected ones)."""
    plan: list[PlannedAction] = await plan_actions(
        scope.client,
        [h["DeviceId"] for h in hits],
        [action],
        safety,
        {"isolation_type": "Selective", "scan_type": "Full"},
    )
    return plan


async def _report(
    tenant: str,
    ioc_kind: str,
    iocs: str,
    plan: list[PlannedAction],
    outcomes: list[ItemOutcome],
    decided: ContainmentDecision,
    safety: SafetyPolicy,
) -> None:
    """The report of the actions taken on the devices that saw ``iocs``: who decided, when and
    why first."""
    await write_report(
        REPORT,
        "Hunt and respond",
        containment_summary(
            tenant,
            decided,
            f"IOCs ({ioc_kind}): {iocs}",
            safety.dry_run,
            f"Matching devices: {len(plan)}",
            f"Acted on: {sum(o.ok for o in outcomes)}/{len(plan)}",
        ),
        outcome_rows(plan, outcomes),
        COLUMNS,
    )


async def _decide(
    scope: TenantScope,
    plan: list[PlannedAction],
    hits: list[dict[str, Any]],
    response: str,
    iocs: tuple[str, list[str]],
    lookback_days: int,
    approval: ApprovalPolicy,
    safety: SafetyPolicy,
) -> ContainmentDecision:
    """Approved by the policy (``"hunt"`` among ``auto_approve_severities``; protected devices
    are still skipped), else asked in the Prefect UI: one block and one switch per matching
    device."""
    if "hunt" in approval.auto_approve_severities:
        return ContainmentDecision(True, "auto-approved (policy)", "")
    by_id = seen_by_device(hits)
    noun, verb = WORDS[response]
    isolating = response == "isolate"
    full, seen = looked_for(iocs)
    devices = device_facts(
        plan,
        lambda p: f"{verb} (Selective)" if isolating else verb,
        lambda p: seen_on(by_id.get(p.machine_id.lower()), seen),
    )
    found = "it" if len(iocs[1]) == 1 else "them"
    context = context_for(
        REPORT,
        scope,
        safety,
        action=noun,
        about=f"{devices_text(len(plan))} that saw {seen}",
        reason=f"an IOC hunt for {full} over the last {lookback_days} days found {found} on "
        f"{devices_text(len(plan))}",
        devices=devices,
        writes=len(plan),
        instructions=INSTRUCTIONS,
    )
    return await ask_containment(
        context,
        approval,
        "Selective" if isolating else "",
        plan,
        f"hunt response ({noun})",
        rows=device_form_rows(devices),
        form_type=Decision if isolating else DeviceDecision,
    )


INSTRUCTIONS = (
    "Switch **approve** on to act on the devices switched on below; switch a device off to "
    "leave it out. Protected devices are only acted on with **include protected**. No answer "
    "by the deadline means *do not act*."
)
