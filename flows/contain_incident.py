"""Contain incident: the devices *and* the accounts of one incident, in one approval.

1. Read the incident: its alerts' devices and user entities.
2. One approval form lists both (devices with the isolation, accounts with their providers,
   Entra state, risk and last sign-in); protected devices and accounts are flagged and only
   touched with **include_protected**. Auto-approve applies only when nothing is protected.
3. Isolate the devices and run the identity actions under one set of safety rails (one
   per-run cap counts both), wait for the isolations, comment once, write one report.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.approval import (
    ApprovalPolicy,
    ContainmentDecision,
    ask_containment,
)
from prefect_defender.flows.contain_identity import (
    account_proposal,
    account_rows,
    act_on_accounts,
    check_actions,
    protected_accounts,
    users_of_incident,
)
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import device_proposal, outcome_rows, write_report
from prefect_defender.tasks.action_plans import (
    PlannedAction,
    apply_machine_actions,
    await_machine_actions,
    plan_actions,
    run_key_for,
)
from prefect_defender.tasks.base import ItemOutcome, OutcomeStatus, task_logger
from prefect_defender.tasks.identities import describe_accounts
from prefect_defender.tasks.incidents import add_incident_comment, get_incident
from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard
from prefect_defender.tasks.scope import TenantScope

__all__ = ["contain_incident"]

COLUMNS = ["target", "kind", "action", "outcome", "final", "note"]


@notifying
@flow(name="defender-contain-incident", log_prints=True)
async def contain_incident(
    credentials: str = "defender-application-credentials/soc",
    incident_id: int | str | None = None,
    tenant_id: str | None = None,
    isolation_type: Literal["Full", "Selective"] = "Selective",
    identity_actions: list[IdentityAction] | None = None,
    fallback_to_entra: bool = True,
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: int = 1800,
    poll_interval_seconds: float = 10.0,
    comment_on_incident: bool = True,
    run_key: str | None = None,
    notify: list[str] | None = None,
    notify_on: NotifyOn = "always",
) -> dict[str, Any]:
    """Isolate an incident's devices and contain its accounts, after one approval.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``.
        incident_id: the Defender XDR incident.
        tenant_id: for a partner block, the customer tenant.
        isolation_type: Full or Selective (the form can change it).
        identity_actions: default ``disable`` and ``revokeAllSessions``.
        fallback_to_entra: use Entra ID's own action where Defender has no account for it.
        approval: auto-approve severities, never-auto device tags, timeout.
        safety: dry run, caps (devices and accounts count together), protected devices and
            accounts, kill switch.
        notify: saved notification blocks told the outcome.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).

    Returns a summary with one outcome per device and per account and action.

    Example:
        ```python
        from prefect_defender.flows.contain_incident import contain_incident

        contain_incident(credentials="defender-application-credentials/soc", incident_id=1001)
        ```
    """
    approval = approval or ApprovalPolicy()
    safety = safety or SafetyPolicy()
    iid = check_incident_id(incident_id)
    acts = check_actions(identity_actions)
    async with await TenantScope.load(credentials, tenant_id) as scope:
        creds, tenant = scope.client, scope.tenant  # one client for every task of the run
        incident = await get_incident(creds, iid, tenant_id)
        ids = list(dict.fromkeys(i.lower() for i in incident.device_ids()))
        plan = await plan_actions(
            creds, ids, [ActionType.ISOLATE], safety, {"isolation_type": isolation_type}, tenant_id
        )
        who = users_of_incident(incident)
        infos = await describe_accounts(creds, who, tenant_id=tenant_id) if who else []
        protected = protected_accounts(safety, infos)
        summary: dict[str, Any] = {
            "incident_id": iid,
            "tenant_id": tenant,
            "devices": len(plan),
            "accounts": len(who),
            "approved": False,
            "device_outcomes": [],
            "account_outcomes": [],
        }
        if not plan and not who:
            await write_report(
                "defender-contain-incident",
                "Contain incident: nothing to do",
                [f"Incident {iid} names no device and no account."],
                [],
                COLUMNS,
            )
            return summary
        decided = await _decide(incident, plan, infos, acts, protected, isolation_type, approval)
        summary["verdict"] = decided.verdict
        if not decided.approved:
            await write_report(
                "defender-contain-incident",
                f"Contain incident {iid}: not approved",
                [f"Decision: {decided.verdict}"],
                [],
                COLUMNS,
            )
            if comment_on_incident and not safety.dry_run:
                await add_incident_comment(
                    creds, iid, f"Containment not performed: {decided.verdict}.", tenant_id
                )
            return summary
        summary["approved"] = True
        # one guard: the per-run cap counts devices and accounts together
        guard = WriteGuard(safety)
        comment = (
            f"prefect-defender contain-incident (incident {iid}, approved by {decided.approver})"
        )
        key = run_key or run_key_for(
            "contain-incident", tenant, iid, sorted(ids), decided.isolation_type
        )
        device_outcomes = (
            await apply_machine_actions(
                creds, plan, comment, guard, tenant_id, decided.allow_protected, run_key=key
            )
            if plan
            else []
        )
        ordered = (
            await act_on_accounts(
                creds,
                who,
                acts,
                protected,
                decided.allow_protected,
                guard,
                tenant,
                tenant_id,
                fallback_to_entra,
            )
            if who
            else []
        )
        if device_outcomes and not safety.dry_run:
            device_outcomes = await await_machine_actions(
                creds, device_outcomes, tenant_id, wait_timeout_seconds, poll_interval_seconds
            )
        summary["device_outcomes"] = [o.model_dump(mode="json") for o in device_outcomes]
        summary["account_outcomes"] = [o.model_dump(mode="json") for _, _, o in ordered]
        await _comment_and_report(
            scope, iid, plan, device_outcomes, ordered, decided, comment_on_incident, safety
        )
        return summary


async def _decide(
    incident: Incident,
    plan: list[PlannedAction],
    infos: list[Any],
    acts: list[Any],
    protected: Any,
    isolation_type: str,
    approval: ApprovalPolicy,
) -> ContainmentDecision:
    """Auto-approve by severity when no device or account is protected, else ask once for
    both in the Prefect UI."""
    never_auto = {t.lower() for t in approval.never_auto_tags}
    risky_devices = [p for p in plan if p.protected] + [
        p for p in plan if never_auto & {t.lower() for t in p.machine_tags}
    ]
    if (
        incident.severity
        and incident.severity in approval.auto_approve_severities
        and not risky_devices
        and not protected
    ):
        return ContainmentDecision(
            True, f"auto-approved (severity {incident.severity})", isolation_type
        )
    devices = device_proposal(plan, isolation_type) if plan else "none"
    accounts = account_proposal(infos, acts, protected) if infos else "none"
    return await ask_containment(
        f"## Approve containment of incident {incident.incident_id} ({incident.severity})?\n\n"
        f"### Devices\n\n{devices}\n\n"
        f"### Accounts\n\n{accounts}\n\n"
        "Tick **approve** to isolate the devices and act on the accounts. Protected "
        "devices and accounts are only touched with **include_protected**. No answer "
        "within the timeout means *do not act*.",
        approval,
        isolation_type,
        plan,
        "incident containment",
    )


async def _comment_and_report(
    scope: TenantScope,
    iid: int,
    plan: list[PlannedAction],
    device_outcomes: list[ItemOutcome],
    ordered: list[Any],
    decided: ContainmentDecision,
    comment_on_incident: bool,
    safety: SafetyPolicy,
) -> None:
    """One comment on the incident and one report for devices and accounts together."""
    drows = outcome_rows(plan, device_outcomes)
    rows = [
        {
            "target": r["machine"],
            "kind": "device",
            "action": r["action"],
            "outcome": r["outcome"],
            "final": r["final"],
            "note": r["note"],
        }
        for r in drows
    ] + [
        {
            "target": r["account"],
            "kind": "account",
            "action": r["action"],
            "outcome": r["outcome"],
            "final": r["via"],
            "note": r["note"],
        }
        for r in account_rows(ordered)
    ]
    isolated = sum(r["final"] == "Succeeded" for r in drows)
    contained = sum(o.status == OutcomeStatus.SUCCEEDED for _, _, o in ordered)
    if comment_on_incident and not safety.dry_run:
        try:
            await add_incident_comment(
                scope.client,
                iid,
                f"Containment ({decided.verdict}, {decided.isolation_type}): devices isolated "
                f"{isolated}/{len(drows)}; account actions {contained}/{len(ordered)}",
            )
        except DefenderError as exc:
            task_logger().warning("could not comment on incident %s: %s", iid, exc)
    await write_report(
        "defender-contain-incident",
        f"Contain incident {iid}",
        [
            f"Tenant: {scope.tenant}",
            f"Decision: {decided.verdict}",
            f"Isolation: {decided.isolation_type}",
            f"Dry run: {safety.dry_run}",
            f"Devices isolated: {isolated}/{len(drows)}",
            f"Account actions succeeded: {contained}/{len(ordered)}",
        ],
        rows,
        COLUMNS,
    )
