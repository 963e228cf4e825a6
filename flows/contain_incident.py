"""Contain incident: the devices *and* the accounts of one incident, in one approval.

1. Read the incident: its alerts' devices and user entities.
2. One approval form lists both (devices with the isolation, accounts with their providers,
   Entra state, risk and last sign-in); protected devices and accounts are flagged and only
   touched with **include_protected**. Auto-approve applies only when nothing is protected.
3. Isolate the devices and run the identity actions under one set of safety rails (one
   per-run cap counts both), wait for the isolations, comment once, write one report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from prefect import flow

from prefect_defender.api.input_types import (
    BlockRef,
    IncidentRef,
    LocalFloat,
    LocalInt,
    RunKey,
    TenantId,
)
from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.accounts import (
    account_rows,
    act_on_accounts,
    check_actions,
    protected_accounts,
    users_of_incident,
    with_left_out,
)
from prefect_defender.flows.approval import (
    ApprovalPolicy,
    ContainmentDecision,
    ask_containment,
    left_out_outcome,
)
from prefect_defender.flows.decision_facts import (
    account_facts,
    account_form_rows,
    context_for,
    device_facts,
    device_form_rows,
    incident_facts,
)
from prefect_defender.flows.device_actions import unique_machine_ids
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.proposals import AgentProposal, proposal_line
from prefect_defender.flows.reports import (
    containment_summary,
    outcome_rows,
    report_and_comment,
    write_report,
)
from prefect_defender.flows.run_names import run_name
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_plans import (
    apply_machine_actions,
    await_machine_actions,
    plan_actions,
    run_key_for,
)
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.identities import AccountSummary, describe_accounts
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["contain_incident"]

COLUMNS = ["target", "kind", "action", "outcome", "final", "note"]


@notifying
@flow(name="defender-contain-incident", flow_run_name=run_name("contain-incident"), log_prints=True)
@checked_parameters
async def contain_incident(
    credentials: BlockRef = "defender-application-credentials/soc",
    incident_id: IncidentRef | None = None,
    tenant_id: TenantId | None = None,
    isolation_type: Literal["Full", "Selective"] = "Selective",
    identity_actions: list[IdentityAction] | None = None,
    fallback_to_entra: bool = True,
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: LocalInt = 1800,
    poll_interval_seconds: LocalFloat = 10.0,
    comment_on_incident: bool = True,
    run_key: RunKey | None = None,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
    proposal: AgentProposal | None = None,
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
        proposal: set by the MCP server when an AI agent proposed this run: the run always
            asks (never auto-approved) and the comment and report name the agent and reason.

    Returns a summary with one outcome per device and per account and action.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.approval import ApprovalPolicy
        from prefect_defender.flows.contain_incident import contain_incident

        report = asyncio.run(contain_incident(
            credentials="defender-application-credentials/soc", incident_id=1001,
            approval=ApprovalPolicy(auto_approve_severities=["High"]), poll_interval_seconds=1,
        ))
        assert report["approved"] and report["device_outcomes"] and report["account_outcomes"]
        ```
    """
    approval = approval or ApprovalPolicy()
    safety = run_guard(safety).policy  # every write of this run passes its guard
    iid = check_incident_id(incident_id)
    acts = check_actions(identity_actions)
    async with await TenantScope.load(credentials, tenant_id) as scope:
        named = await _named(scope, iid, isolation_type, safety)
        summary = named.summary(iid, scope.tenant)
        if not named.plan and not named.who:
            await write_report(
                "defender-contain-incident",
                "Contain incident: nothing to do",
                [f"Incident {iid} names no device and no account."],
                [],
                COLUMNS,
            )
            return summary
        decided = await _decide(scope, named, acts, isolation_type, approval, safety, proposal)
        summary["verdict"] = decided.verdict
        if not decided.approved:
            tell = comment_on_incident and not safety.dry_run
            await _not_approved(scope, iid, decided, tell, proposal)
            return summary
        summary["approved"] = True
        key = run_key or run_key_for(
            "contain-incident", scope.tenant, iid, sorted(named.ids), decided.isolation_type
        )
        device_outcomes, ordered = await _act(
            scope, iid, named, acts, decided, safety, key, fallback_to_entra
        )
        if device_outcomes and not safety.dry_run:
            device_outcomes = await await_machine_actions(
                scope.client,
                device_outcomes,
                timeout=wait_timeout_seconds,
                poll_interval=poll_interval_seconds,
            )
        summary["device_outcomes"] = [o.model_dump(mode="json") for o in device_outcomes]
        summary["account_outcomes"] = [o.model_dump(mode="json") for _, _, o in ordered]
        await _comment_and_report(
            scope,
            iid,
            named.plan,
            device_outcomes,
            ordered,
            decided,
            comment_on_incident,
            safety,
            proposal,
        )
        return summary


@dataclass
class _Named:
    """What an incident names: its devices (as planned isolations) and its accounts."""

    incident: Incident
    ids: list[str]
    plan: list[PlannedAction]
    who: list[str]
    infos: list[AccountSummary]
    protected: dict[str, str]

    def summary(self, iid: int, tenant: str) -> dict[str, Any]:
        """The flow's result before anything is decided or done."""
        return {
            "incident_id": iid,
            "tenant_id": tenant,
            "devices": len(self.plan),
            "accounts": len(self.who),
            "approved": False,
            "device_outcomes": [],
            "account_outcomes": [],
        }


async def _named(scope: TenantScope, iid: int, isolation_type: str, safety: SafetyPolicy) -> _Named:
    """Read the incident, plan its devices' isolation and describe its accounts."""
    client = scope.client  # one client for every task of the run
    incident = await get_incident(client, iid)
    ids = unique_machine_ids(incident.device_ids())
    plan = await plan_actions(
        client, ids, [ActionType.ISOLATE], safety, {"isolation_type": isolation_type}
    )
    who = users_of_incident(incident)
    infos = await describe_accounts(client, who) if who else []
    return _Named(incident, ids, plan, who, infos, protected_accounts(safety, infos))


async def _decide(
    scope: TenantScope,
    named: _Named,
    acts: list[IdentityAction],
    isolation_type: str,
    approval: ApprovalPolicy,
    safety: SafetyPolicy,
    proposal: AgentProposal | None = None,
) -> ContainmentDecision:
    """Auto-approve by severity when no device or account is protected (and no agent proposed
    the run), else ask once for both in the Prefect UI."""
    incident, plan, protected = named.incident, named.plan, named.protected
    risky_devices = [p for p in plan if p.protected] + approval.never_auto_devices(plan)
    auto = approval.auto_approves(incident.severity) and not risky_devices and not protected
    if auto and proposal is None:
        return ContainmentDecision(
            True, f"auto-approved (severity {incident.severity})", isolation_type
        )
    context = context_for(
        "defender-contain-incident",
        scope,
        safety,
        incident=incident_facts(incident, scope.link("incident", incident.incident_id), plan),
        devices=device_facts(plan, lambda p: f"isolate ({isolation_type})"),
        accounts=account_facts(
            named.infos, acts, protected, safety, lambda oid: scope.link("user", oid)
        ),
        writes=len(plan) + len(named.infos) * len(acts),
        proposal=proposal.form_text() if proposal else None,
        instructions=INSTRUCTIONS,
    )
    rows = device_form_rows(context.devices) + account_form_rows(
        context.accounts, [i.user for i in named.infos]
    )
    return await ask_containment(
        context, approval, isolation_type, plan, "incident containment", rows=rows
    )


INSTRUCTIONS = (
    "Switch **approve** on to isolate the devices and act on the accounts switched on below; "
    "switch a row off to leave it out. Protected devices and accounts are only touched with "
    "**include protected**. No answer by the deadline means *do not act*."
)


async def _not_approved(
    scope: TenantScope,
    iid: int,
    decided: ContainmentDecision,
    tell_incident: bool,
    proposal: AgentProposal | None = None,
) -> None:
    """The report of a refused (or unanswered) approval; the incident is told (who, when,
    why) when ``tell_incident``."""
    proposed = proposal_line(proposal)
    await report_and_comment(
        scope,
        "defender-contain-incident",
        f"Contain incident {iid}: not approved",
        [*decided.heard_lines(), *([proposed] if proposed else [])],
        [],
        COLUMNS,
        incident_id=iid,
        comment=f"Containment not performed: {decided.heard()}."
        f"{f' ({proposed})' if proposed else ''}"
        if tell_incident
        else None,
        acted=False,
    )


async def _act(
    scope: TenantScope,
    iid: int,
    named: _Named,
    acts: list[IdentityAction],
    decided: ContainmentDecision,
    safety: SafetyPolicy,
    run_key: str,
    fallback_to_entra: bool,
) -> tuple[list[ItemOutcome], list[tuple[str, str, ItemOutcome]]]:
    """Request the isolations, then act on the accounts, under one guard (the per-run cap
    counts devices and accounts together); the isolations are not waited for here."""
    guard = run_guard(safety)
    comment = f"prefect-defender contain-incident (incident {iid}, approved by {decided.approver})"
    plan = [p for p in named.plan if decided.chosen(p.machine_id)]
    who = [u for u in named.who if decided.chosen(u)]
    requested = iter(
        await apply_machine_actions(
            scope.client,
            plan,
            comment,
            guard,
            allow_protected=decided.allow_protected,
            run_key=run_key,
        )
        if plan
        else []
    )
    device_outcomes = [
        next(requested) if decided.chosen(p.machine_id) else left_out_outcome(p.machine_id)
        for p in named.plan
    ]
    acted = (
        await act_on_accounts(
            scope,
            who,
            acts,
            named.protected,
            decided.allow_protected,
            guard,
            fallback_to_entra,
            run_key=run_key,
        )
        if who
        else []
    )
    return device_outcomes, with_left_out(named.who, acts, acted)


async def _comment_and_report(
    scope: TenantScope,
    iid: int,
    plan: list[PlannedAction],
    device_outcomes: list[ItemOutcome],
    ordered: list[Any],
    decided: ContainmentDecision,
    comment_on_incident: bool,
    safety: SafetyPolicy,
    proposal: AgentProposal | None = None,
) -> None:
    """One comment on the incident and one report for devices and accounts together."""
    proposed = proposal_line(proposal)
    drows = outcome_rows(plan, device_outcomes)
    rows = [_row(r["machine"], "device", r, r["final"]) for r in drows] + [
        _row(r["account"], "account", r, r["via"]) for r in account_rows(ordered)
    ]
    isolated = sum(r["final"] == "Succeeded" for r in drows)
    contained = sum(o.status == OutcomeStatus.SUCCEEDED for _, _, o in ordered)
    await report_and_comment(
        scope,
        "defender-contain-incident",
        f"Contain incident {iid}",
        containment_summary(
            scope.label,
            decided,
            f"Isolation: {decided.isolation_type}",
            safety.dry_run,
            f"Devices isolated: {isolated}/{len(drows)}",
            f"Account actions succeeded: {contained}/{len(ordered)}",
            *([proposed] if proposed else []),
        ),
        rows,
        COLUMNS,
        incident_id=iid,
        comment=f"Containment ({decided.isolation_type}{'; ' + proposed if proposed else ''}) "
        f"{decided.heard()}. Results: devices isolated {isolated}/{len(drows)}; account "
        f"actions {contained}/{len(ordered)}"
        if comment_on_incident and not safety.dry_run
        else None,
        acted=True,
    )


def _row(target: str, kind: str, row: dict[str, Any], final: str) -> dict[str, Any]:
    """A report row from a device row (``outcome_rows``) or an account row (``account_rows``)."""
    return {
        "target": target,
        "kind": kind,
        "action": row["action"],
        "outcome": row["outcome"],
        "final": final,
        "note": row["note"],
    }
