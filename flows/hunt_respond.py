"""Hunt and respond: hunt IOCs with the safe query builder, propose actions on the matching
devices, ask for approval, act under the safety rails, and report."""

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
from prefect_defender.flows.approval import ApprovalPolicy, request_decision
from prefect_defender.flows.device_actions import act_and_wait
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import markdown_table, outcome_rows, write_report
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


@notifying
@flow(name="defender-hunt-and-respond", log_prints=True)
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
        hits = await hunt_ioc(
            scope.client, ioc_kind, list(ioc_values or []), lookback_days, tenant_id=tenant_id
        )
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
                REPORT, "Hunt and respond: no match", [f"{ioc_kind}: {iocs}"], [], COLUMNS
            )
            return summary
        approved, verdict, allow_protected = await _decide(
            plan, hits, action, f"{ioc_kind} {iocs}", approval
        )
        if not approved:
            summary["verdict"] = verdict
            await write_report(
                REPORT, "Hunt and respond: not approved", [f"Decision: {verdict}"], [], COLUMNS
            )
            return summary
        summary["approved"], summary["verdict"] = True, verdict
        outcomes = await act_and_wait(
            scope.client,
            plan,
            f"prefect-defender hunt-and-respond ({ioc_kind} hunt, {verdict})",
            safety,
            run_key=run_key_for("hunt", scope.tenant, ioc_kind, sorted(ioc_values or []), response),
            allow_protected=allow_protected,
            tenant_id=tenant_id,
            wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
        )
        summary["outcomes"] = [o.model_dump(mode="json") for o in outcomes]
        task_logger().info("%d device(s) acted on", len(outcomes))
        await _report(ioc_kind, iocs, plan, outcomes, verdict, safety)
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
        scope.tenant_id,
    )
    return plan


async def _report(
    ioc_kind: str,
    iocs: str,
    plan: list[PlannedAction],
    outcomes: list[ItemOutcome],
    verdict: str,
    safety: SafetyPolicy,
) -> None:
    """The report of the actions taken on the devices that saw ``iocs``."""
    await write_report(
        REPORT,
        "Hunt and respond",
        [
            f"IOCs ({ioc_kind}): {iocs}",
            f"Matching devices: {len(plan)}",
            f"Decision: {verdict}",
            f"Dry run: {safety.dry_run}",
        ],
        outcome_rows(plan, outcomes),
        COLUMNS,
    )


def _devices_table(
    plan: list[PlannedAction], hits: list[dict[str, Any]], action: ActionType
) -> str:
    """The devices to act on with their hits, matched by device id: a device the hunt returned
    on several rows has their hits added (never a ``zip`` of two lists that need not match:
    the plan holds each device once, and only those Defender still knows)."""
    counts: dict[str, int] = {}
    for row in hits:
        key = str(row.get("DeviceId") or "").lower()
        counts[key] = counts.get(key, 0) + int(row.get("Hits") or 0)
    return markdown_table(
        [
            {
                "device": p.computer_dns_name or p.machine_id,
                "hits": counts.get(p.machine_id.lower(), ""),
                "action": action.value,
                "protected": p.protected or "",
            }
            for p in plan
        ],
        ["device", "hits", "action", "protected"],
    )


async def _decide(
    plan: list[PlannedAction],
    hits: list[dict[str, Any]],
    action: ActionType,
    seen: str,
    approval: ApprovalPolicy,
) -> tuple[bool, str, bool]:
    """``(approved, verdict, allow_protected)``: approved by the policy (``"hunt"`` among
    ``auto_approve_severities``), else asked in the Prefect UI with the matching devices."""
    if "hunt" in approval.auto_approve_severities:
        return True, "auto-approved (policy)", False
    table = _devices_table(plan, hits, action)
    decision, verdict = await request_decision(
        f"## {len(plan)} device(s) saw {seen}\n\n{table}\n\nApprove **{action.value}** on them?",
        approval,
    )
    if decision is None or not decision.approve:
        return False, verdict, False
    return True, verdict, decision.include_protected
