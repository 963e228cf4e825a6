"""Hunt and respond: hunt IOCs with the safe query builder, propose actions on the matching
devices, ask for approval, act under the safety rails, and report."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.flows.approval import ApprovalPolicy, request_decision
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import markdown_table, outcome_rows, write_report
from prefect_defender.tasks.action_plans import (
    apply_machine_actions,
    await_machine_actions,
    plan_actions,
    run_key_for,
)
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.hunting import hunt_ioc
from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard
from prefect_defender.tasks.scope import TenantScope

__all__ = ["hunt_and_respond"]

ACTIONS = {
    "scan": ActionType.RUN_ANTIVIRUS_SCAN,
    "isolate": ActionType.ISOLATE,
    "collect": ActionType.COLLECT_INVESTIGATION_PACKAGE,
}
COLUMNS = ["machine", "action", "outcome", "final", "action id", "note"]


@notifying
@flow(name="defender-hunt-and-respond", log_prints=True)
async def hunt_and_respond(
    credentials: str = "defender-application-credentials/soc",
    ioc_kind: Literal["hash", "ip", "domain", "url", "account"] = "hash",
    ioc_values: list[str] | None = None,
    lookback_days: int = 7,
    response: Literal["scan", "isolate", "collect"] = "scan",
    tenant_id: str | None = None,
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: int = 1800,
    poll_interval_seconds: float = 10.0,
    notify: list[str] | None = None,
    notify_on: NotifyOn = "always",
) -> dict[str, Any]:
    """Find the devices that saw the IOCs and run ``response`` on them after approval.

    ``approval.auto_approve_severities`` does not apply here (there is no incident severity):
    set ``auto_approve_severities=["hunt"]`` to act without asking.

    Example:
        ```python
        from prefect_defender.flows.hunt_respond import hunt_and_respond

        hunt_and_respond(credentials="defender-application-credentials/soc", ioc_kind="ip",
                         ioc_values=["203.0.113.66"], response="scan")
        ```
    """
    log = task_logger()
    approval = approval or ApprovalPolicy()
    safety = safety or SafetyPolicy()
    async with await TenantScope.load(credentials, tenant_id) as scope:
        creds, tenant = scope.client, scope.tenant  # one client for every task of the run
        hits = await hunt_ioc(
            creds, ioc_kind, list(ioc_values or []), lookback_days, tenant_id=tenant_id
        )
        action = ACTIONS[response]
        plan = await plan_actions(
            creds,
            [h["DeviceId"] for h in hits],
            [action],
            safety,
            {"isolation_type": "Selective", "scan_type": "Full"},
            tenant_id,
        )
        summary: dict[str, Any] = {
            "tenant_id": tenant,
            "matches": hits,
            "approved": False,
            "outcomes": [],
        }
        if not plan:
            await write_report(
                "defender-hunt-and-respond",
                "Hunt and respond: no match",
                [f"{ioc_kind}: {', '.join(ioc_values or [])}"],
                [],
                COLUMNS,
            )
            return summary
        allow_protected = False
        if "hunt" in approval.auto_approve_severities:
            verdict = "auto-approved (policy)"
        else:
            table = markdown_table(
                [
                    {
                        "device": p.computer_dns_name,
                        "hits": h["Hits"],
                        "action": action.value,
                        "protected": p.protected or "",
                    }
                    for p, h in zip(plan, hits, strict=True)
                ],
                ["device", "hits", "action", "protected"],
            )
            decision, verdict = await request_decision(
                f"## {len(plan)} device(s) saw {ioc_kind} {', '.join(ioc_values or [])}\n\n"
                f"{table}\n\nApprove **{action.value}** on them?",
                approval,
            )
            if decision is None or not decision.approve:
                summary["verdict"] = verdict
                await write_report(
                    "defender-hunt-and-respond",
                    "Hunt and respond: not approved",
                    [f"Decision: {verdict}"],
                    [],
                    COLUMNS,
                )
                return summary
            allow_protected = decision.include_protected
        summary["approved"], summary["verdict"] = True, verdict
        outcomes = await apply_machine_actions(
            creds,
            plan,
            f"prefect-defender hunt-and-respond ({ioc_kind} hunt, {verdict})",
            WriteGuard(safety),
            tenant_id,
            allow_protected,
            run_key=run_key_for("hunt", tenant, ioc_kind, sorted(ioc_values or []), response),
        )
        if not safety.dry_run:
            outcomes = await await_machine_actions(
                creds, outcomes, tenant_id, wait_timeout_seconds, poll_interval_seconds
            )
        summary["outcomes"] = [o.model_dump(mode="json") for o in outcomes]
        log.info("%d device(s) acted on", len(outcomes))
        await write_report(
            "defender-hunt-and-respond",
            "Hunt and respond",
            [
                f"IOCs ({ioc_kind}): {', '.join(ioc_values or [])}",
                f"Matching devices: {len(plan)}",
                f"Decision: {verdict}",
                f"Dry run: {safety.dry_run}",
            ],
            outcome_rows(plan, outcomes),
            COLUMNS,
        )
        return summary
