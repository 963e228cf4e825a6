"""The playbooks' accounts: who an incident or alert names, which of them the safety policy
protects, and the identity actions run under the safety rails.

Contain-identity, contain-incident and release share these steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect.variables import Variable

from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.api.validation import check_choice, check_items
from prefect_defender.flows.approval import left_out_outcome
from prefect_defender.tasks.identities import AccountSummary, invoke_identity_actions
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus
from prefect_defender.tasks.safety import (
    AutomationHaltedError,
    SafetyPolicy,
    WriteGuard,
    account_protection_reason,
)
from prefect_defender.tasks.scope import TenantScope

__all__ = [
    "DEFAULT_ACTIONS",
    "account_rows",
    "act_on_accounts",
    "check_actions",
    "protected_accounts",
    "users_of_alert",
    "users_of_incident",
    "with_left_out",
]

DEFAULT_ACTIONS = [IdentityAction.DISABLE, IdentityAction.REVOKE_ALL_SESSIONS]


def users_of_incident(incident: Any) -> list[str]:
    """UPNs of the user entities of an incident's alerts, in order, without duplicates."""
    seen: dict[str, None] = {}
    for alert in incident.alerts:
        for ent in alert.entities:
            if (ent.entity_type or "").lower() == "user" and ent.user_principal_name:
                seen.setdefault(ent.user_principal_name, None)
    return list(seen)


def users_of_alert(alert: Any) -> list[str]:
    """UPNs (or Entra object ids) of an alert's user entities (an
    :class:`~prefect_defender.api.models.incidents.IncidentAlert`, as
    :func:`~prefect_defender.api.models.graph_incident_view.alert_from_graph` reads a Graph
    alert's evidence), in order, no duplicates."""
    seen: dict[str, None] = {}
    for ent in alert.entities:
        if (ent.entity_type or "").lower() != "user":
            continue
        ref = ent.user_principal_name or ent.aad_user_id
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


async def act_on_accounts(
    scope: TenantScope,
    who: list[str],
    acts: list[IdentityAction],
    protected: dict[str, str],
    allow_protected: bool,
    guard: WriteGuard,
    fallback_to_entra: bool,
    run_key: str | None = None,
) -> list[tuple[str, str, ItemOutcome]]:
    """Run ``acts`` on ``who`` in the run's tenant (``scope``) under the safety rails;
    ``(user, action, outcome)`` in order.

    With ``run_key``, the (account, action) pairs that succeeded are kept in a Prefect Variable
    (``defender_identity_run_<key>``), so a re-run of the same logical run after a crash acts
    once per account and action: pairs done before are reported as skipped.
    """
    variable = f"defender_identity_run_{run_key}" if run_key and not guard.policy.dry_run else None
    done_before: set[str] = set()
    if variable:
        done_before = set(await Variable.aget(variable, default=[]) or [])
    rails = _Rails(protected, allow_protected, guard, scope.tenant, done_before, run_key)
    results, admitted = await _admit(who, acts, rails)
    # one task call (one listing of the identities) per set of admitted users, usually one
    groups: dict[tuple[str, ...], list[IdentityAction]] = {}
    for action in acts:
        if admitted[action.value]:
            groups.setdefault(tuple(admitted[action.value]), []).append(action)
    for users, group in groups.items():
        done = await invoke_identity_actions(
            scope.client,
            list(users),
            group,
            fallback_to_entra=fallback_to_entra,
            dry_run=guard.policy.dry_run,
        )
        by_item = {o.item: o for o in done}
        for user in users:
            for action in group:
                results[(user, action.value)] = by_item[f"{user} {action.value}"]
        if variable:
            done_before |= {o.item for o in done if o.status == OutcomeStatus.SUCCEEDED}
            await Variable.aset(variable, sorted(done_before), overwrite=True)
    return [(u, a.value, results[(u, a.value)]) for u in who for a in acts]


@dataclass
class _Rails:
    """Why an (account, action) pair is not run, checked in this order: done by an earlier
    attempt of the run, a protected account the analyst did not include, the guard's refusal
    (kill switch, caps; an admitted pair counts toward the caps). Once the kill switch has
    halted the run, every later pair is skipped with the same reason."""

    protected: dict[str, str]
    allow_protected: bool
    guard: WriteGuard
    tenant: str
    done_before: set[str]
    run_key: str | None
    halted: str | None = None

    async def refusal(self, user: str, action: str) -> str | None:
        """Why ``action`` is not run on ``user``; ``None`` admits it."""
        if f"{user} {action}" in self.done_before:
            return f"already done by an earlier attempt of this run (run key {self.run_key})"
        if user in self.protected and not self.allow_protected:
            return f"{self.protected[user]}: not approved for protected accounts"
        if self.halted is None:
            try:
                return await self.guard.admit(self.tenant)
            except AutomationHaltedError as exc:
                self.halted = exc.message
        return self.halted


async def _admit(
    who: list[str], acts: list[IdentityAction], rails: _Rails
) -> tuple[dict[tuple[str, str], ItemOutcome], dict[str, list[str]]]:
    """The skipped pairs' outcomes and, per action, the admitted accounts, in order."""
    skipped: dict[tuple[str, str], ItemOutcome] = {}
    admitted: dict[str, list[str]] = {}
    for action in acts:
        admitted[action.value] = []
        for user in who:
            why = await rails.refusal(user, action.value)
            if why is None:
                admitted[action.value].append(user)
            else:
                skipped[(user, action.value)] = ItemOutcome(
                    item=f"{user} {action.value}", status=OutcomeStatus.SKIPPED, reason=why
                )
    return skipped, admitted


def account_rows(ordered: list[tuple[str, str, ItemOutcome]]) -> list[dict[str, Any]]:
    """Report rows of :func:`act_on_accounts`' outcomes."""
    return [_row(o, u, a) for u, a, o in ordered]


def with_left_out(
    who: list[str], acts: list[IdentityAction], acted: list[tuple[str, str, ItemOutcome]]
) -> list[tuple[str, str, ItemOutcome]]:
    """Every (account, action) of ``who`` in order: the outcomes of the accounts acted on, and
    "left out by the operator" for the others."""
    done = {(u, a): o for u, a, o in acted}
    return [
        (u, a.value, done.get((u, a.value)) or left_out_outcome(f"{u} {a.value}"))
        for u in who
        for a in acts
    ]


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
