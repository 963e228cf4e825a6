"""Contain identity: disable and sign out the accounts of an incident after an analyst approves.

1. Find the accounts: the user entities of an incident's alerts, plus explicit ``users``.
2. Describe each (Defender identity and its providers, Entra ID state, risk level) and ask for
   approval in the Prefect UI, unless the auto-approve policy covers the incident's severity
   and no account is protected. No answer means no action.
3. Act under the safety rails (kill switch, caps, protected accounts, dry run): each action on
   every account of the identity that supports it (Entra ID, on-premises AD, Okta), with Entra
   ID's own action standing in where Defender has none.
4. Comment on the incident, write the report artifact, notify.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from prefect_defender.api.input_types import (
    AlertId,
    BlockRef,
    IncidentRef,
    RunKey,
    TenantId,
    UserRef,
)
from prefect_defender.api.models.graph_incident_view import alert_from_graph
from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.validation import (
    check_alert_id,
    check_incident_id,
    check_items,
    check_user_ref,
)
from prefect_defender.flows.accounts import (
    account_rows,
    act_on_accounts,
    check_actions,
    protected_accounts,
    users_of_alert,
    users_of_incident,
    with_left_out,
)
from prefect_defender.flows.approval import (
    ApprovalPolicy,
    ContainmentDecision,
    ask_containment,
)
from prefect_defender.flows.approval_form import AccountDecision
from prefect_defender.flows.decision_facts import (
    account_facts,
    account_form_rows,
    context_for,
    incident_facts,
)
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.proposals import AgentProposal, proposal_line
from prefect_defender.flows.reports import (
    containment_summary,
    report_and_comment,
    write_report,
)
from prefect_defender.flows.run_names import run_name
from prefect_defender.tasks.action_plans import run_key_for
from prefect_defender.tasks.alerts import get_graph_alert
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.identities import AccountSummary, describe_accounts
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["contain_identity"]

COLUMNS = ["account", "action", "outcome", "via", "note"]


@notifying
@flow(name="defender-contain-identity", flow_run_name=run_name("contain-identity"), log_prints=True)
@checked_parameters
async def contain_identity(
    credentials: BlockRef = "defender-application-credentials/soc",
    incident_id: IncidentRef | None = None,
    alert_id: AlertId | None = None,
    users: list[UserRef] | None = None,
    tenant_id: TenantId | None = None,
    actions: list[IdentityAction] | None = None,
    fallback_to_entra: bool = True,
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    comment_on_incident: bool = True,
    run_key: RunKey | None = None,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
    proposal: AgentProposal | None = None,
) -> dict[str, Any]:
    """Contain the accounts of an incident (disable, revoke sessions ...) after approval.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``.
        incident_id: a Defender XDR incident; the user entities of its alerts are contained.
        alert_id: an alert (read on Graph, alerts_v2); the users in its evidence are contained.
        users: more accounts, by UPN or Entra object id.
        tenant_id: for a partner block, the customer tenant.
        actions: identity actions (default: ``disable`` and ``revokeAllSessions``).
        fallback_to_entra: use Entra ID's own action where Defender has no account for it.
        approval: auto-approve severities and timeout (protected accounts always ask).
        safety: dry run, caps, protected accounts/patterns, kill switch variable.
        run_key: idempotency key; default: derived from the inputs and the day, so a re-run
            after a crash acts once per account and action (pass a new key to act again).
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).
        proposal: set by the MCP server when an AI agent proposed this run: the run always
            asks (never auto-approved) and the comment and report name the agent and reason.

    Returns a summary with one outcome per account and action.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.approval import ApprovalPolicy
        from prefect_defender.flows.contain_identity import contain_identity

        report = asyncio.run(contain_identity(
            credentials="defender-application-credentials/soc",
            incident_id=1001,
            actions=["disable", "revokeAllSessions"],
            approval=ApprovalPolicy(auto_approve_severities=["High"]),  # else: the form
        ))
        assert report["approved"] and report["outcomes"]
        ```
    """
    approval = approval or ApprovalPolicy()
    safety = run_guard(safety).policy  # every write of this run passes its guard
    incident_id = check_incident_id(incident_id) if incident_id else None
    alert_id = check_alert_id(alert_id) if alert_id else None
    acts = check_actions(actions)
    extra = check_items(users or [], check_user_ref, "users", max_items=1000)
    async with await TenantScope.load(credentials, tenant_id) as scope:
        creds, tenant = scope.client, scope.tenant  # one client for every task of the run
        incident, who = await _accounts(scope, incident_id, alert_id, extra)
        summary = _summary(incident_id, tenant, who, acts)
        if not who or not acts:
            await _nothing_to_do()
            return summary
        infos: list[AccountSummary] = await describe_accounts(creds, who)
        protected = protected_accounts(safety, infos)
        decided = await _decide(
            scope, incident, incident_id, infos, acts, protected, approval, safety, proposal
        )
        summary["verdict"] = decided.verdict
        if not decided.approved:
            tell = comment_on_incident and not safety.dry_run
            await _not_approved(scope, incident_id, who, acts, decided, tell, proposal)
            return summary
        summary["approved"] = True
        key = run_key or run_key_for(
            "contain-identity", tenant, incident_id, sorted(who), [a.value for a in acts]
        )
        chosen = [u for u in who if decided.chosen(u)]
        acted = await act_on_accounts(
            scope,
            chosen,
            acts,
            protected,
            decided.allow_protected,
            run_guard(safety),
            fallback_to_entra,
            run_key=key,
        )
        ordered = with_left_out(who, acts, acted)
        summary["outcomes"] = [o.model_dump(mode="json") for _, _, o in ordered]
        await _comment_and_report(
            scope, incident_id, acts, ordered, decided, comment_on_incident, safety, proposal
        )
        return summary


def _summary(
    incident_id: int | None, tenant: str, who: list[str], acts: list[IdentityAction]
) -> dict[str, Any]:
    """The flow's result before anything is decided or done."""
    return {
        "incident_id": incident_id,
        "tenant_id": tenant,
        "accounts": len(who),
        "actions": [a.value for a in acts],
        "approved": False,
        "outcomes": [],
    }


async def _nothing_to_do() -> None:
    await write_report(
        "defender-contain-identity",
        "Contain identity: nothing to do",
        ["No account (or no action) found for the given incident/users."],
        [],
        COLUMNS,
    )


async def _accounts(
    scope: TenantScope,
    incident_id: int | None,
    alert_id: str | None,
    extra: list[str],
) -> tuple[Incident | None, list[str]]:
    """The incident (if any) and the accounts of the incident, the alert and ``users``, in
    order, without duplicates."""
    creds = scope.client
    incident = await get_incident(creds, incident_id) if incident_id else None
    who = users_of_incident(incident) if incident else []
    if alert_id:
        # on Graph (alerts_v2): the accounts of its user evidence
        who += users_of_alert(alert_from_graph(await get_graph_alert(creds, alert_id)))
    who += extra
    return incident, list(dict.fromkeys(who))


async def _decide(
    scope: TenantScope,
    incident: Incident | None,
    incident_id: int | None,
    infos: list[AccountSummary],
    acts: list[IdentityAction],
    protected: dict[str, str],
    approval: ApprovalPolicy,
    safety: SafetyPolicy,
    proposal: AgentProposal | None = None,
) -> ContainmentDecision:
    """Auto-approve by severity when no account is protected (and no agent proposed the run),
    else ask in the Prefect UI.

    Accounts are not isolated: the decision's ``isolation_type`` is empty."""
    severity = incident.severity if incident else None
    if approval.auto_approves(severity) and not protected and proposal is None:
        return ContainmentDecision(True, f"auto-approved (severity {severity})", "")
    link = scope.link("incident", incident_id) if incident_id else None
    context = context_for(
        "defender-contain-identity",
        scope,
        safety,
        incident=incident_facts(incident, link) if incident else None,
        accounts=account_facts(infos, acts, protected, safety, lambda oid: scope.link("user", oid)),
        writes=len(infos) * len(acts),
        proposal=proposal.form_text() if proposal else None,
        instructions=INSTRUCTIONS,
    )
    return await ask_containment(
        context,
        approval,
        "",
        [],
        "identity containment",
        rows=account_form_rows(context.accounts, [i.user for i in infos]),
        form_type=AccountDecision,
    )


INSTRUCTIONS = (
    "Switch **approve** on to act on the accounts switched on below; switch an account off to "
    "leave it out. Protected accounts are only touched with **include protected**. No answer "
    "by the deadline means *do not act*."
)


async def _not_approved(
    scope: TenantScope,
    incident_id: int | None,
    who: list[str],
    acts: list[IdentityAction],
    decided: ContainmentDecision,
    tell_incident: bool,
    proposal: AgentProposal | None = None,
) -> None:
    """One "not approved" row per account and action; the incident is told (who, when, why)
    when ``tell_incident``."""
    refused = {"outcome": "not approved", "via": "", "note": decided.verdict}
    proposed = proposal_line(proposal)
    await report_and_comment(
        scope,
        "defender-contain-identity",
        "Contain identity: not approved",
        [f"Incident: {incident_id}", *decided.heard_lines(), *([proposed] if proposed else [])],
        [{"account": u, "action": a.value, **refused} for u in who for a in acts],
        COLUMNS,
        incident_id=incident_id,
        comment=f"Identity containment not performed: {decided.heard()}."
        f"{f' ({proposed})' if proposed else ''}"
        if tell_incident
        else None,
        acted=False,
    )


async def _comment_and_report(
    scope: TenantScope,
    incident_id: int | None,
    acts: list[IdentityAction],
    ordered: list[tuple[str, str, ItemOutcome]],
    decided: ContainmentDecision,
    comment_on_incident: bool,
    safety: SafetyPolicy,
    proposal: AgentProposal | None = None,
) -> None:
    """Tell the incident (unless off or a dry run) and write the report of the actions."""
    rows = account_rows(ordered)
    proposed = proposal_line(proposal)
    ok = sum(o.status == OutcomeStatus.SUCCEEDED for _, _, o in ordered)
    text = "; ".join(f"{r['account']} {r['action']}: {r['outcome']}" for r in rows)
    await report_and_comment(
        scope,
        "defender-contain-identity",
        f"Contain identity: incident {incident_id}" if incident_id else "Contain identity",
        containment_summary(
            scope.label,
            decided,
            f"Actions: {', '.join(a.value for a in acts)}",
            safety.dry_run,
            f"Succeeded: {ok}/{len(ordered)}",
            *([proposed] if proposed else []),
        ),
        rows,
        COLUMNS,
        incident_id=incident_id,
        comment=f"Identity containment{' (' + proposed + ')' if proposed else ''} "
        f"{decided.heard()}. Results: {text}"[:3900]
        if comment_on_incident and not safety.dry_run
        else None,
        acted=True,
    )
