"""Release: after approval, lift isolation and code restriction, remove the indicators a
playbook added for an incident, and (when asked) re-enable the incident's disabled accounts and
dismiss risk confirmed by mistake.

What it looks at is read in ``flows/release_targets.py``; the approval form shows, per device,
account and indicator, what will be undone and what is in force now
(``flows/release_context.py``), with a switch per row; who decided, when and why goes to the
incident comment, the report (``flows/release_report.py``), the ``defender.approval.decided``
event and the outcome notification, as for a containment.
"""

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
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.approval import (
    ApprovalPolicy,
    ContainmentDecision,
    ask_containment,
    left_out_outcome,
)
from prefect_defender.flows.approval_form import ReleaseDecision
from prefect_defender.flows.device_actions import act_and_wait
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.release_context import release_context
from prefect_defender.flows.release_report import (
    Undone,
    report_not_approved,
    report_nothing,
    report_release,
)
from prefect_defender.flows.release_targets import (
    ReleaseAsk,
    ReleaseTargets,
    checked_inputs,
    read_targets,
)
from prefect_defender.flows.run_names import run_name
from prefect_defender.tasks.action_plans import run_key_for
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.identities import dismiss_risky_users, invoke_identity_actions
from prefect_defender.tasks.indicators import delete_indicators
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["release_containment"]


@notifying
@flow(name="defender-release", flow_run_name=run_name("release"), log_prints=True)
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
    those confirmed compromised get their risk dismissed. The operator can switch any row off;
    a release with nothing to undo asks nobody and reports so.

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
    extra, users = checked_inputs(machine_ids, accounts)
    ask = ReleaseAsk(unisolate, unrestrict, expire_indicators, release_accounts, dismiss_risk)
    async with await TenantScope.load(credentials, tenant_id) as scope:
        targets = await read_targets(scope, incident_id, extra, users, ask, safety)
        summary: dict[str, Any] = {"tenant_id": scope.tenant, "approved": False}
        if targets.empty():
            summary["verdict"] = "nothing to release"
            await report_nothing(incident_id)
            return summary
        decided = await _decide(scope, targets, approval, safety, ask.why())
        summary["verdict"] = decided.verdict
        if not decided.approved:
            await report_not_approved(scope, incident_id, decided, safety)
            return summary
        summary["approved"] = True
        ids = sorted({p.machine_id for p in targets.plan})
        devices = await act_and_wait(
            scope,
            targets.plan,
            f"prefect-defender release (incident {incident_id}, {decided.verdict})",
            safety,
            run_key=run_key_for("release", scope.tenant, incident_id, ids, unisolate, unrestrict),
            allow_protected=True,
            wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
            chosen=decided.chosen,
        )
        undone = await _undo(scope, targets, decided, devices, safety)
        summary["outcomes"] = [o.model_dump(mode="json") for o in undone.devices]
        summary["indicators_deleted"] = [o.model_dump(mode="json") for o in undone.indicators]
        summary["account_outcomes"] = [
            o.model_dump(mode="json") for o in undone.enabled + undone.dismissed
        ]
        await report_release(scope, incident_id, decided, targets, undone, ask.why(), safety)
        return summary


async def _decide(
    scope: TenantScope,
    targets: ReleaseTargets,
    approval: ApprovalPolicy,
    safety: SafetyPolicy,
    why: str,
) -> ContainmentDecision:
    """Ask in the Prefect UI, one block and one switch per device, account and indicator."""
    context, rows = await release_context(scope, targets, safety, why)
    return await ask_containment(
        context, approval, "", [], "release", rows=rows, form_type=ReleaseDecision
    )


async def _undo(
    scope: TenantScope,
    targets: ReleaseTargets,
    decided: ContainmentDecision,
    devices: list[ItemOutcome],
    safety: SafetyPolicy,
) -> Undone:
    """Delete the chosen indicators, enable the chosen disabled accounts and dismiss the
    chosen risks (each honours the dry run); one outcome per row, left-out rows included."""
    chosen = targets.chosen(decided)
    deleted: list[ItemOutcome] = []
    if chosen.indicators:
        ids = _ids_of(chosen)
        deleted = (
            [ItemOutcome(item=i, status=OutcomeStatus.DRY_RUN) for i in ids]
            if safety.dry_run
            else await delete_indicators(scope.client, ids)
        )
    enabled: list[ItemOutcome] = []
    if chosen.to_enable:
        enabled = await invoke_identity_actions(
            scope.client,
            chosen.to_enable,
            [IdentityAction.ENABLE],
            dry_run=safety.dry_run,
        )
    dismissed: list[ItemOutcome] = []
    if chosen.to_dismiss:
        dismissed = await dismiss_risky_users(
            scope.client, chosen.to_dismiss, dry_run=safety.dry_run
        )
    return Undone(
        devices,
        _with_left_out(_ids_of(targets), _ids_of(chosen), deleted),
        _with_left_out(targets.to_enable, chosen.to_enable, enabled),
        _with_left_out(targets.to_dismiss, chosen.to_dismiss, dismissed),
    )


def _ids_of(targets: ReleaseTargets) -> list[str]:
    """The ids of the targets' indicators."""
    return [str(i.id) for i in targets.indicators]


def _with_left_out(items: list[str], kept: list[str], done: list[ItemOutcome]) -> list[ItemOutcome]:
    """One outcome per item, in order: the task's for the ``kept`` ones (a task returns one
    outcome per item asked, in order), ``left out by the operator`` for the others."""
    acted = iter(done)
    return [next(acted) if i in kept else left_out_outcome(i) for i in items]
