"""Release: after approval, lift isolation and code restriction, remove the indicators a
playbook added for an incident, and (when asked) re-enable the incident's disabled accounts and
dismiss risk confirmed by mistake."""

from __future__ import annotations

from typing import Any

from prefect import flow

from prefect_defender.api.input_types import (
    BlockRef,
    IncidentRef,
    LocalFloat,
    LocalInt,
    MachineId,
    TenantId,
    UserRef,
)
from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.validation import (
    check_incident_id,
    check_items,
    check_machine_ids,
    check_user_ref,
)
from prefect_defender.flows.accounts import users_of_incident
from prefect_defender.flows.approval import ApprovalPolicy, request_decision
from prefect_defender.flows.block_indicators import PLAYBOOK_TITLE_PREFIX
from prefect_defender.flows.device_actions import act_and_wait, unique_machine_ids
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import (
    markdown_table,
    note_on_incident,
    outcome_rows,
    write_report,
)
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_plans import plan_actions, run_key_for
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.identities import (
    describe_accounts,
    dismiss_risky_users,
    invoke_identity_actions,
)
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.indicators import delete_indicators, list_indicators
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["release_containment"]

COLUMNS = ["machine", "action", "outcome", "final", "action id", "note"]


@notifying
@flow(name="defender-release", log_prints=True)
@checked_parameters
async def release_containment(
    credentials: BlockRef = "defender-application-credentials/soc",
    incident_id: IncidentRef | None = None,
    machine_ids: list[MachineId] | None = None,
    tenant_id: TenantId | None = None,
    unisolate: bool = True,
    unrestrict: bool = False,
    expire_indicators: bool = True,
    release_accounts: bool = False,
    accounts: list[UserRef] | None = None,
    dismiss_risk: bool = False,
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: LocalInt = 1800,
    poll_interval_seconds: LocalFloat = 10.0,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
) -> dict[str, Any]:
    """Release the devices of an incident (or the given machines) after approval.

    Indicators are "expired" by deleting the ones whose title says a playbook created them
    for this incident (``prefect-defender: incident <id> ...``). With ``release_accounts``, the
    incident's accounts (its alerts' user entities) and ``accounts`` that are disabled now are
    enabled again on every provider (``contain-identity`` in reverse); with ``dismiss_risk``,
    those confirmed compromised get their risk dismissed.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.release import release_containment

        # pauses until an analyst approves the release in the Prefect UI (the run's page)
        report = asyncio.run(release_containment(
            credentials="defender-application-credentials/soc", incident_id=1001,
            poll_interval_seconds=1,
        ))
        assert report["approved"]
        ```
    """
    approval = approval or ApprovalPolicy()
    safety = run_guard(safety).policy  # every write of this run passes its guard
    incident_id = check_incident_id(incident_id) if incident_id else None
    async with await TenantScope.load(credentials, tenant_id) as scope:
        ids, to_enable, to_dismiss = await _targets(
            scope, incident_id, machine_ids, accounts, release_accounts, dismiss_risk
        )
        plan = await _plan(scope, ids, unisolate, unrestrict, safety)
        indicators = await _playbook_indicators(scope, incident_id) if expire_indicators else []
        decision, verdict = await request_decision(
            _proposal(incident_id, plan, indicators, to_enable, to_dismiss), approval
        )
        summary: dict[str, Any] = {"tenant_id": scope.tenant, "verdict": verdict, "approved": False}
        if decision is None or not decision.approve:
            await write_report(
                "defender-release", "Release: not approved", [f"Decision: {verdict}"], [], COLUMNS
            )
            return summary
        summary["approved"] = True
        outcomes = await act_and_wait(
            scope.client,
            plan,
            f"prefect-defender release ({verdict})",
            safety,
            run_key=run_key_for(
                "release", scope.tenant, incident_id, sorted(ids), unisolate, unrestrict
            ),
            allow_protected=True,
            tenant_id=tenant_id,
            wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
        )
        deleted, enabled, dismissed = await _undo(scope, indicators, to_enable, to_dismiss, safety)
        summary["account_outcomes"] = [o.model_dump(mode="json") for o in enabled + dismissed]
        summary["outcomes"] = [o.model_dump(mode="json") for o in outcomes]
        summary["indicators_deleted"] = [o.model_dump(mode="json") for o in deleted]
        await _comment_and_report(
            scope, incident_id, verdict, plan, outcomes, deleted, enabled, dismissed, safety
        )
        return summary


async def _targets(
    scope: TenantScope,
    incident_id: int | None,
    machine_ids: list[str] | None,
    accounts: list[str] | None,
    release_accounts: bool,
    dismiss_risk: bool,
) -> tuple[list[str], list[str], list[str]]:
    """The machines (the incident's and ``machine_ids``), and of the accounts looked at (the
    incident's with ``release_accounts``, and ``accounts``) those to enable and the object ids
    whose risk to dismiss; in order, without duplicates."""
    ids = check_machine_ids(machine_ids)
    users = check_items(accounts or [], check_user_ref, "accounts", max_items=1000)
    if incident_id:
        incident = await get_incident(scope.client, incident_id, scope.tenant_id)
        ids += incident.device_ids()
        if release_accounts:
            users = [*users_of_incident(incident), *users]
    users = list(dict.fromkeys(users)) if (release_accounts or dismiss_risk) else []
    to_enable, to_dismiss = await _accounts_to_release(scope, users, release_accounts, dismiss_risk)
    return unique_machine_ids(ids), to_enable, to_dismiss


async def _plan(
    scope: TenantScope, ids: list[str], unisolate: bool, unrestrict: bool, safety: SafetyPolicy
) -> list[PlannedAction]:
    """The release actions asked for, on every machine; none is protected (releasing is
    never dangerous)."""
    kinds = [ActionType.UNISOLATE] if unisolate else []
    kinds += [ActionType.UNRESTRICT_CODE_EXECUTION] if unrestrict else []
    plan = (
        await plan_actions(scope.client, ids, kinds, safety, None, scope.tenant_id) if kinds else []
    )
    for p in plan:
        p.protected = None
    return plan


async def _accounts_to_release(
    scope: TenantScope, users: list[str], release_accounts: bool, dismiss_risk: bool
) -> tuple[list[str], list[str]]:
    """The accounts disabled now (to enable) and the object ids of those confirmed compromised
    (to dismiss), as asked."""
    infos = await describe_accounts(scope.client, users, tenant_id=scope.tenant_id) if users else []
    to_enable = [i.user for i in infos if release_accounts and i.enabled is False]
    to_dismiss = [
        i.object_id
        for i in infos
        if dismiss_risk and i.object_id and i.risk_state == "confirmedCompromised"
    ]
    return to_enable, to_dismiss


async def _playbook_indicators(scope: TenantScope, incident_id: int | None) -> list[Any]:
    """The indicators whose title says a playbook created them for this incident."""
    marker = f"{PLAYBOOK_TITLE_PREFIX}: incident {incident_id} "
    return [
        i
        for i in await list_indicators(scope.client, limit=15_000, tenant_id=scope.tenant_id)
        if incident_id and (i.title or "").startswith(marker)
    ]


def _proposal(
    incident_id: int | None,
    plan: list[PlannedAction],
    indicators: list[Any],
    to_enable: list[str],
    to_dismiss: list[str],
) -> str:
    """The approval form's text: a table of everything the release would do."""
    return f"## Release incident {incident_id}?\n\n" + markdown_table(
        [{"target": p.computer_dns_name, "action": p.action.value} for p in plan]
        + [
            {"target": f"{i.indicator_type}:{i.indicator_value}", "action": "delete indicator"}
            for i in indicators
        ]
        + [{"target": u, "action": "enable account"} for u in to_enable]
        + [{"target": u, "action": "dismiss risk"} for u in to_dismiss],
        ["target", "action"],
    )


async def _undo(
    scope: TenantScope,
    indicators: list[Any],
    to_enable: list[str],
    to_dismiss: list[str],
    safety: SafetyPolicy,
) -> tuple[list[ItemOutcome], list[ItemOutcome], list[ItemOutcome]]:
    """Delete the playbook's indicators (not in a dry run), enable the disabled accounts and
    dismiss the risk (both honour the dry run); the outcomes of each."""
    deleted: list[ItemOutcome] = []
    if indicators and not safety.dry_run:
        deleted = await delete_indicators(scope.client, [i.id for i in indicators], scope.tenant_id)
    enabled: list[ItemOutcome] = []
    dismissed: list[ItemOutcome] = []
    if to_enable:
        enabled = await invoke_identity_actions(
            scope.client,
            to_enable,
            [IdentityAction.ENABLE],
            dry_run=safety.dry_run,
            tenant_id=scope.tenant_id,
        )
    if to_dismiss:
        dismissed = await dismiss_risky_users(
            scope.client, to_dismiss, dry_run=safety.dry_run, tenant_id=scope.tenant_id
        )
    return deleted, enabled, dismissed


async def _comment_and_report(
    scope: TenantScope,
    incident_id: int | None,
    verdict: str,
    plan: list[PlannedAction],
    outcomes: list[ItemOutcome],
    deleted: list[ItemOutcome],
    enabled: list[ItemOutcome],
    dismissed: list[ItemOutcome],
    safety: SafetyPolicy,
) -> None:
    """Tell the incident (unless a dry run) and write the report of the release (the tasks
    return one outcome per account asked for, so ``dismissed`` counts the risks dismissed)."""
    account_outcomes = enabled + dismissed
    if incident_id and not safety.dry_run:  # a refused comment is logged, not raised
        await note_on_incident(
            scope.client,
            incident_id,
            f"Released ({verdict}): {len(outcomes)} action(s), "
            f"{len(deleted)} indicator(s) removed, "
            f"{sum(o.ok for o in account_outcomes)} account action(s).",
            scope.tenant_id,
        )
    task_logger().info("release: %d action(s), %d indicator(s)", len(outcomes), len(deleted))
    await write_report(
        "defender-release",
        f"Release of incident {incident_id}",
        [
            f"Decision: {verdict}",
            f"Indicators removed: {len(deleted)}",
            f"Accounts enabled: {sum(o.ok for o in enabled)}",
            f"Risk dismissed: {len(dismissed)}",
        ],
        outcome_rows(plan, outcomes)
        + [
            {
                "machine": o.item,
                "action": "account",
                "outcome": o.status.value,
                "final": "",
                "action id": "",
                "note": o.reason or "",
            }
            for o in account_outcomes
        ],
        COLUMNS,
    )
