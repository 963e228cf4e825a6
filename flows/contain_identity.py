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
from prefect.variables import Variable

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.api.validation import (
    check_alert_id,
    check_choice,
    check_guid,
    check_incident_id,
    check_items,
    check_user_ref,
)
from prefect_defender.flows.approval import AccountDecision, ApprovalPolicy, request_decision
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import markdown_table, write_report
from prefect_defender.tasks.action_plans import run_key_for
from prefect_defender.tasks.alerts import get_alert
from prefect_defender.tasks.base import ItemOutcome, OutcomeStatus, task_logger
from prefect_defender.tasks.identities import (
    AccountSummary,
    describe_accounts,
    invoke_identity_actions,
)
from prefect_defender.tasks.incidents import add_incident_comment, get_incident
from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard, account_protection_reason
from prefect_defender.tasks.scope import TenantScope

__all__ = [
    "DEFAULT_ACTIONS",
    "account_proposal",
    "account_rows",
    "act_on_accounts",
    "check_actions",
    "contain_identity",
    "protected_accounts",
    "users_of_alert",
    "users_of_incident",
]

DEFAULT_ACTIONS = [IdentityAction.DISABLE, IdentityAction.REVOKE_ALL_SESSIONS]
COLUMNS = ["account", "action", "outcome", "via", "note"]


def users_of_incident(incident: Any) -> list[str]:
    """UPNs of the user entities of an incident's alerts, in order, without duplicates."""
    seen: dict[str, None] = {}
    for alert in incident.alerts:
        for ent in alert.entities:
            if (ent.entity_type or "").lower() == "user" and ent.user_principal_name:
                seen.setdefault(ent.user_principal_name, None)
    return list(seen)


def users_of_alert(alert: Any) -> list[str]:
    """UPNs (or Entra object ids) of an MDE alert's user evidence, in order, no duplicates."""
    seen: dict[str, None] = {}
    for ev in alert.evidence:
        if str(ev.get("entityType", "")).lower() != "user":
            continue
        ref = ev.get("userPrincipalName") or ev.get("aadUserId")
        if ref:
            seen.setdefault(str(ref), None)
    return list(seen)


def protected_accounts(safety: SafetyPolicy, infos: list[AccountSummary]) -> dict[str, str]:
    """``{user: why}`` for the accounts the safety policy protects."""
    out: dict[str, str] = {}
    for i in infos:
        reason = account_protection_reason(
            safety, i.user_principal_name or i.user, i.object_id, i.groups
        )
        if reason is None and i.error and i.error.startswith("groups unavailable"):
            # membership could not be read: treat as protected rather than act blind
            reason = f"group membership unknown ({i.error})"
        if reason:
            out[i.user] = reason
    return out


def account_proposal(
    infos: list[AccountSummary], acts: list[IdentityAction], protected: dict[str, str]
) -> str:
    """The approval form's table of accounts."""
    return markdown_table(
        [
            {
                "account": i.user_principal_name or i.user,
                "providers": ", ".join(i.providers) or ("entraID" if i.object_id else "?"),
                "enabled": "" if i.enabled is None else str(i.enabled).lower(),
                "risk": i.risk_level or "",
                "last sign-in": i.last_sign_ins[0] if i.last_sign_ins else "",
                "actions": ", ".join(a.value for a in acts),
                "protected": protected.get(i.user, ""),
                "note": "" if i.found else (i.error or "not found"),
            }
            for i in infos
        ],
        ["account", "providers", "enabled", "risk", "last sign-in", "actions", "protected", "note"],
    )


async def act_on_accounts(
    creds: Any,
    who: list[str],
    acts: list[IdentityAction],
    protected: dict[str, str],
    allow_protected: bool,
    guard: WriteGuard,
    tenant: str,
    tenant_id: str | None,
    fallback_to_entra: bool,
    run_key: str | None = None,
) -> list[tuple[str, str, ItemOutcome]]:
    """Run ``acts`` on ``who`` under the safety rails; ``(user, action, outcome)`` in order.

    With ``run_key``, the (account, action) pairs that succeeded are kept in a Prefect Variable
    (``defender_identity_run_<key>``), so a re-run of the same logical run after a crash acts
    once per account and action: pairs done before are reported as skipped.
    """
    results: dict[tuple[str, str], ItemOutcome] = {}
    variable = f"defender_identity_run_{run_key}" if run_key and not guard.policy.dry_run else None
    done_before: set[str] = set()
    if variable:
        done_before = set(await Variable.aget(variable, default=[]) or [])
    admitted: dict[str, list[str]] = {}
    for action in acts:
        admitted[action.value] = []
        for user in who:
            if f"{user} {action.value}" in done_before:
                results[(user, action.value)] = ItemOutcome(
                    item=f"{user} {action.value}",
                    status=OutcomeStatus.SKIPPED,
                    reason=f"already done by an earlier attempt of this run (run key {run_key})",
                )
                continue
            if user in protected and not allow_protected:
                results[(user, action.value)] = ItemOutcome(
                    item=f"{user} {action.value}",
                    status=OutcomeStatus.SKIPPED,
                    reason=f"{protected[user]}: not approved for protected accounts",
                )
                continue
            why = await guard.admit(tenant)
            if why is not None:
                results[(user, action.value)] = ItemOutcome(
                    item=f"{user} {action.value}", status=OutcomeStatus.SKIPPED, reason=why
                )
                continue
            admitted[action.value].append(user)
    # one task call (one listing of the identities) per set of admitted users, usually one
    groups: dict[tuple[str, ...], list[IdentityAction]] = {}
    for action in acts:
        if admitted[action.value]:
            groups.setdefault(tuple(admitted[action.value]), []).append(action)
    for users, group in groups.items():
        done = await invoke_identity_actions(
            creds,
            list(users),
            group,
            fallback_to_entra=fallback_to_entra,
            dry_run=guard.policy.dry_run,
            tenant_id=tenant_id,
        )
        by_item = {o.item: o for o in done}
        for user in users:
            for action in group:
                results[(user, action.value)] = by_item[f"{user} {action.value}"]
        if variable:
            done_before |= {o.item for o in done if o.status == OutcomeStatus.SUCCEEDED}
            await Variable.aset(variable, sorted(done_before), overwrite=True)
    return [(u, a.value, results[(u, a.value)]) for u in who for a in acts]


def account_rows(ordered: list[tuple[str, str, ItemOutcome]]) -> list[dict[str, Any]]:
    """Report rows of :func:`act_on_accounts`' outcomes."""
    return [_row(o, u, a) for u, a, o in ordered]


def check_actions(actions: list[IdentityAction] | None) -> list[IdentityAction]:
    """The identity actions asked for (default: disable and revoke all sessions)."""
    return check_items(
        actions if actions is not None else DEFAULT_ACTIONS,
        lambda v, f: check_choice(v, IdentityAction, f),
        "actions",
        max_items=6,
    )


def _row(outcome: ItemOutcome, user: str, action: str) -> dict[str, Any]:
    steps = outcome.result if isinstance(outcome.result, list) else []
    via = ", ".join(f"{s.get('via')}:{s.get('provider')}" for s in steps)
    return {
        "account": user,
        "action": action,
        "outcome": outcome.status.value,
        "via": via,
        "note": outcome.reason or "",
    }


@notifying
@flow(name="defender-contain-identity", log_prints=True)
async def contain_identity(
    credentials: str = "defender-application-credentials/soc",
    incident_id: int | str | None = None,
    alert_id: str | None = None,
    users: list[str] | None = None,
    tenant_id: str | None = None,
    actions: list[IdentityAction] | None = None,
    fallback_to_entra: bool = True,
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    comment_on_incident: bool = True,
    run_key: str | None = None,
    notify: list[str] | None = None,
    notify_on: NotifyOn = "always",
) -> dict[str, Any]:
    """Contain the accounts of an incident (disable, revoke sessions ...) after approval.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``.
        incident_id: a Defender XDR incident; the user entities of its alerts are contained.
        alert_id: a Defender for Endpoint alert; the users in its evidence are contained.
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

    Returns a summary with one outcome per account and action.

    Example:
        ```python
        from prefect_defender.flows.contain_identity import contain_identity

        contain_identity(
            credentials="defender-application-credentials/soc",
            incident_id=1001,
            actions=["disable", "revokeAllSessions"],
        )
        ```
    """
    log = task_logger()
    approval = approval or ApprovalPolicy()
    safety = safety or SafetyPolicy()
    incident_id = check_incident_id(incident_id) if incident_id else None
    alert_id = check_alert_id(alert_id) if alert_id else None
    acts = check_actions(actions)
    tenant_id = check_guid(tenant_id, "tenant_id") if tenant_id is not None else None
    extra = check_items(users or [], check_user_ref, "users", max_items=1000)
    async with await TenantScope.load(credentials, tenant_id) as scope:
        creds, tenant = scope.client, scope.tenant  # one client for every task of the run
        incident = await get_incident(creds, incident_id, tenant_id) if incident_id else None
        who = users_of_incident(incident) if incident else []
        if alert_id:
            who += users_of_alert(await get_alert(creds, alert_id, tenant_id))
        who += extra
        who = list(dict.fromkeys(who))
        summary: dict[str, Any] = {
            "incident_id": incident_id,
            "tenant_id": tenant,
            "accounts": len(who),
            "actions": [a.value for a in acts],
            "approved": False,
            "outcomes": [],
        }
        if not who or not acts:
            await write_report(
                "defender-contain-identity",
                "Contain identity: nothing to do",
                ["No account (or no action) found for the given incident/users."],
                [],
                COLUMNS,
            )
            return summary
        infos: list[AccountSummary] = await describe_accounts(creds, who, tenant_id=tenant_id)
        protected = protected_accounts(safety, infos)
        severity = incident.severity if incident else None
        auto = bool(severity and severity in approval.auto_approve_severities and not protected)
        allow_protected = False
        if auto:
            verdict = f"auto-approved (severity {severity})"
        else:
            proposal = account_proposal(infos, acts, protected)
            title = f"incident {incident_id} ({severity})" if incident else "the listed accounts"
            decision, verdict = await request_decision(
                f"## Approve containment of the accounts of {title}?\n\n{proposal}\n\n"
                "Tick **approve** to act. Protected accounts are only touched with "
                "**include_protected**. No answer within the timeout means *do not act*.",
                approval,
                form_type=AccountDecision,
            )
            if decision is None or not decision.approve:
                log.info("identity containment not approved: %s", verdict)
                summary["verdict"] = verdict
                rows = [
                    {
                        "account": u,
                        "action": a.value,
                        "outcome": "not approved",
                        "via": "",
                        "note": verdict,
                    }
                    for u in who
                    for a in acts
                ]
                await write_report(
                    "defender-contain-identity",
                    "Contain identity: not approved",
                    [f"Incident: {incident_id}", f"Decision: {verdict}"],
                    rows,
                    COLUMNS,
                )
                if comment_on_incident and incident_id and not safety.dry_run:
                    await add_incident_comment(
                        creds,
                        incident_id,
                        f"Identity containment not performed: {verdict}.",
                        tenant_id,
                    )
                return summary
            allow_protected = decision.include_protected
        summary["approved"] = True
        summary["verdict"] = verdict
        guard = WriteGuard(safety)
        key = run_key or run_key_for(
            "contain-identity", tenant, incident_id, sorted(who), [a.value for a in acts]
        )
        ordered = await act_on_accounts(
            creds,
            who,
            acts,
            protected,
            allow_protected,
            guard,
            tenant,
            tenant_id,
            fallback_to_entra,
            run_key=key,
        )
        rows = account_rows(ordered)
        summary["outcomes"] = [o.model_dump(mode="json") for _, _, o in ordered]
        ok = sum(o.status == OutcomeStatus.SUCCEEDED for _, _, o in ordered)
        if comment_on_incident and incident_id and not safety.dry_run:
            text = "; ".join(f"{r['account']} {r['action']}: {r['outcome']}" for r in rows)
            try:
                await add_incident_comment(
                    creds,
                    incident_id,
                    f"Identity containment ({verdict}): {text}"[:3900],
                    tenant_id,
                )
            except DefenderError as exc:
                log.warning("could not comment on incident %s: %s", incident_id, exc)
        await write_report(
            "defender-contain-identity",
            f"Contain identity: incident {incident_id}" if incident_id else "Contain identity",
            [
                f"Tenant: {tenant}",
                f"Decision: {verdict}",
                f"Actions: {', '.join(a.value for a in acts)}",
                f"Dry run: {safety.dry_run}",
                f"Succeeded: {ok}/{len(ordered)}",
            ],
            rows,
            COLUMNS,
        )
        return summary
