"""Identity actions across providers: contain a user's accounts in Defender XDR and Entra ID.

:func:`invoke_identity_actions` runs actions such as ``disable`` or ``revokeAllSessions`` on
every account of each user across Entra ID, on-premises Active Directory and Okta (Graph v1.0
``security/identities/identityAccounts``), falling back to Entra ID's own user actions where
Defender has no account that supports the action (a cloud-only user not seen by Defender for
Identity, say). Public through ``tasks.identities``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import DefenderError, NotFoundError, ValidationError
from prefect_defender.api.input_types import Concurrency, TenantId, UserRefs
from prefect_defender.api.models.identities import (
    EntraUser,
    IdentityAccount,
    IdentityAction,
    IdentityProvider,
)
from prefect_defender.api.validation import check_choice, check_items, check_user_ref
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, error_outcome, run_bulk

__all__ = [
    "ENTRA_FALLBACK",
    "IdentityIndex",
    "invoke_identity_actions",
]

#: Entra ID's own user action standing in for an XDR action (None: no Entra equivalent)
ENTRA_FALLBACK: dict[IdentityAction, str | None] = {
    IdentityAction.DISABLE: "disable",
    IdentityAction.ENABLE: "enable",
    IdentityAction.REVOKE_ALL_SESSIONS: "revokeSignInSessions",
    IdentityAction.REQUIRE_USER_TO_SIGN_IN_AGAIN: "revokeSignInSessions",
    IdentityAction.MARK_USER_AS_COMPROMISED: "confirmCompromised",
    IdentityAction.FORCE_PASSWORD_RESET: None,
}


#: users per bulk call (each user costs requests; a bigger list is a mistake, not a batch)
MAX_USERS = 1000


def checked_users(users: Any, field: str = "users", *, upn: bool = True) -> list[str]:
    """Users as object ids or UPNs (``upn=False``: object ids only), at least one."""
    items = check_items(
        users, lambda v, f: check_user_ref(v, f, upn=upn), field, max_items=MAX_USERS
    )
    if not items:
        raise ValidationError(f"{field}: at least one user", field=field)
    return items


def _first_label(domain: str | None) -> str:
    return (domain or "").split(".")[0].casefold()


class IdentityIndex:
    """Defender's identity accounts, found by what the answer carries.

    The list answer of the base ``identityAccounts`` resource (and of every example on its
    pages) has no ``userPrincipalName`` or ``emailAddress``; only the derived
    ``security.user`` type adds them
    (https://learn.microsoft.com/graph/api/resources/security-identityaccounts,
    https://learn.microsoft.com/graph/api/resources/security-user). So a user is found by UPN or
    e-mail when the answer has them, by any account identifier (the Entra ID object id among
    them), and, for a UPN no identity names, through its Entra ID user: its object id, its
    on-premises SID, or its on-premises account name in the same domain (only when one
    identity matches).

    Example:
        ```python
        async with creds.get_client() as client:
            index = await IdentityIndex.load(client)
            identity = await index.resolve(client, "jdoe@contoso.example")
        ```
    """

    def __init__(self, identities: list[IdentityAccount]) -> None:
        self.by_key: dict[str, IdentityAccount] = {}
        self.by_name: dict[str, list[IdentityAccount]] = {}
        for ident in identities:
            keys = [
                ident.user_principal_name,
                ident.email_address,
                ident.on_premises_security_identifier,
                ident.cloud_security_identifier,
            ]
            for key in (*keys, *(a.identifier for a in ident.accounts)):
                if key:
                    self.by_key.setdefault(key.casefold(), ident)
            if ident.display_name:
                self.by_name.setdefault(ident.display_name.casefold(), []).append(ident)

    @classmethod
    async def load(cls, client: DefenderClient) -> IdentityIndex:
        """Every identity of the tenant (``@odata.nextLink`` followed to the end)."""
        return cls([ident async for ident in client.identity_accounts.iterate()])

    def get(self, key: str) -> IdentityAccount | None:
        """The identity named by a UPN, e-mail, account identifier or SID (any case)."""
        return self.by_key.get(key.casefold())

    def of_entra_user(self, user: EntraUser) -> IdentityAccount | None:
        """The identity of an Entra ID user: by object id, on-premises SID, or account name
        in the same domain when exactly one identity has it."""
        for key in (user.id, user.on_premises_security_identifier):
            if key and (hit := self.get(key)) is not None:
                return hit
        name = user.on_premises_sam_account_name
        if not name:
            return None
        domain = _first_label(user.on_premises_domain_name)
        same = [
            i
            for i in self.by_name.get(name.casefold(), [])
            if not (i.domain and domain) or _first_label(i.domain) == domain
        ]
        return same[0] if len(same) == 1 else None

    async def resolve(self, client: DefenderClient, user: str) -> IdentityAccount | None:
        """The identity of ``user`` (object id or UPN); a UPN no identity names is looked up
        in Entra ID first (``None`` when neither knows it)."""
        if (hit := self.get(user)) is not None or "@" not in user:
            return hit
        try:
            entra = await client.users.get(user)
        except NotFoundError:
            return None
        return self.of_entra_user(entra)


async def _run_step(
    step: dict[str, Any], call: Callable[[], Awaitable[dict[str, Any]]], dry_run: bool
) -> dict[str, Any]:
    """Send one step (unless ``dry_run``) and record how it ended in the step itself: a step
    the safety rails refused (kill switch, cap) is ``skipped``, nothing was sent."""
    if dry_run:
        step["status"] = OutcomeStatus.DRY_RUN.value
        return step
    try:
        step |= {"status": "succeeded", **await call()}
    except DefenderError as exc:
        step |= {"status": error_outcome("", exc).status.value, "error": exc.to_dict()}
    return step


async def _defender_steps(
    client: DefenderClient,
    identity: IdentityAccount | None,
    action: IdentityAction,
    providers: set[str] | None,
    dry_run: bool,
) -> list[dict[str, Any]]:
    """The action on every account of ``identity`` that supports it (only ``providers``)."""
    steps: list[dict[str, Any]] = []
    for acc in identity.accounts if identity else []:
        if providers is not None and acc.identity_provider not in providers:
            continue
        if action.value not in acc.actions:
            continue

        async def call(acc: Any = acc) -> dict[str, Any]:
            res = await client.identity_accounts.invoke_action(
                identity.id,  # type: ignore[union-attr]
                acc.identifier,
                action,
                acc.identity_provider,
                identity=identity,
            )
            return {"correlation_id": res.correlation_id}

        step = {
            "via": "defender",
            "provider": acc.identity_provider,
            "account_id": acc.identifier,
            "action": action.value,
        }
        steps.append(await _run_step(step, call, dry_run))
    return steps


async def _entra_step(
    client: DefenderClient, target: str, entra: str, dry_run: bool
) -> dict[str, Any]:
    """Entra ID's own action ``entra`` (see :data:`ENTRA_FALLBACK`) on the user ``target``."""
    step: dict[str, Any] = {
        "via": "entra",
        "provider": "entraID",
        "account_id": target,
        "action": entra,
    }

    async def call() -> dict[str, Any]:
        if entra in ("disable", "enable"):
            await client.users.set_enabled(target, entra == "enable")
        elif entra == "revokeSignInSessions":
            await client.users.revoke_sessions(target)
        else:  # Identity Protection takes object ids only
            object_id = (await client.users.get(target)).id if "@" in target else target
            step["account_id"] = object_id
            await client.risky_users.confirm_compromised([object_id])
        return {}

    return await _run_step(step, call, dry_run)


def _providers_note(
    identity: IdentityAccount | None, steps: list[dict[str, Any]], wanted: set[str] | None
) -> str:
    """Which providers a user's action reached and which had no account of the user, so a
    containment that reached Entra ID only says so."""
    reached = sorted({s["provider"] for s in steps if s["status"] not in ("failed", "skipped")})
    have = {a.identity_provider for a in identity.accounts} if identity else set()
    asked = [p.value for p in IdentityProvider if wanted is None or p.value in wanted]
    missing = sorted(p for p in asked if p not in have and p not in reached)
    note = f"reached: {', '.join(reached) or 'none'}"
    note += f"; no account found in: {', '.join(missing)}" if missing else ""
    return note + ("" if identity else " (no Defender identity matched the user)")


def _user_outcome(
    user: str,
    action: IdentityAction,
    identity: IdentityAccount | None,
    steps: list[dict[str, Any]],
    dry_run: bool,
    wanted: set[str] | None = None,
) -> ItemOutcome:
    """One user and action: skipped (nothing could act, or the safety rails refused a step),
    failed (a step failed) or done; the reason names the providers reached and those with no
    account of the user."""
    item = f"{user} {action.value}"
    note = _providers_note(identity, steps, wanted)
    if not steps:
        why = (
            f"no account of {user} supports {action.value}"
            if identity is not None
            else f"{user} is not an identity Defender observes"
        )
        if ENTRA_FALLBACK[action] is None:
            why += " and Entra ID has no equivalent action"
        return ItemOutcome(
            item=item, status=OutcomeStatus.SKIPPED, result=[], reason=f"{why}; {note}"
        )
    for ended in (OutcomeStatus.FAILED, OutcomeStatus.SKIPPED):  # a failure first, then refusal
        step = next((s for s in steps if s["status"] == ended.value), None)
        if step is not None:
            return ItemOutcome(
                item=item,
                status=ended,
                result=steps,
                error=step["error"],
                reason=f"{step['provider']}: {step['error'].get('message', '')}; {note}",
            )
    refused_dry = any(s["status"] == OutcomeStatus.DRY_RUN.value for s in steps)  # by the rails
    status = OutcomeStatus.DRY_RUN if dry_run or refused_dry else OutcomeStatus.SUCCEEDED
    return ItemOutcome(item=item, status=status, result=steps, reason=note)


async def _act_on_user(
    client: DefenderClient,
    user: str,
    action: IdentityAction,
    providers: set[str] | None,
    fallback_to_entra: bool,
    dry_run: bool,
    identity: IdentityAccount | None,
) -> ItemOutcome:
    """``action`` on every account of one user, with Entra ID's own action standing in."""
    steps = await _defender_steps(client, identity, action, providers, dry_run)
    entra = ENTRA_FALLBACK[action]
    covered = any(s["provider"] == IdentityProvider.ENTRA_ID.value for s in steps)
    wants_entra = providers is None or IdentityProvider.ENTRA_ID.value in providers
    if fallback_to_entra and wants_entra and not covered and entra is not None:
        target = (identity.entra_object_id if identity else None) or user
        steps.append(await _entra_step(client, target, entra, dry_run))
    return _user_outcome(user, action, identity, steps, dry_run, providers)


@defender_task(
    endpoints=(
        "graph.identity_accounts.list",
        "graph.identity_accounts.invoke_action",
        "graph.users.get",
        "graph.users.set_enabled",
        "graph.users.revoke_sessions",
        "graph.risky_users.confirm_compromised",
    )
)
async def invoke_identity_actions(
    credentials: DefenderCredentialsLike,
    users: UserRefs,
    actions: list[IdentityAction],
    providers: list[IdentityProvider] | None = None,
    fallback_to_entra: bool = True,
    dry_run: bool = False,
    concurrency: Concurrency = 5,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Contain accounts: run identity actions on every account of each user, across providers.

    One outcome per user and action. Each user (object id or UPN) is looked up among
    Defender's identity accounts; each action goes to every account of that identity whose
    ``actions`` list names it (only ``providers`` when given). Where no Entra ID account of
    the identity took the action, Entra ID's own action stands in (``fallback_to_entra``):
    ``disable``/``enable`` set ``accountEnabled``, ``revokeAllSessions`` and
    ``requireUserToSignInAgain`` revoke sign-in sessions, ``markUserAsCompromised`` confirms
    the user compromised; ``forcePasswordReset`` has no Entra equivalent. An outcome's
    ``result`` lists each step (``via`` defender or entra, provider, account id, status,
    correlation id); a user nothing could act on is ``skipped`` with the reason. ``dry_run``
    reads the identities and sends no action.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import invoke_identity_actions

        @flow
        async def contain_account(upn: str) -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            outcomes = await invoke_identity_actions(
                creds, [upn], ["disable", "revokeAllSessions"]
            )
            return [f"{o.item}: {o.status}" for o in outcomes]
        ```
    """
    who = checked_users(users)
    acts = check_items(
        actions, lambda v, f: check_choice(v, IdentityAction, f), "actions", max_items=6
    )
    if not acts:
        raise ValidationError("actions: at least one action", field="actions")
    wanted: set[str] | None = None
    if providers is not None:
        chosen = check_items(
            providers, lambda v, f: check_choice(v, IdentityProvider, f), "providers"
        )
        if not chosen:
            raise ValidationError(
                "providers: at least one provider, or leave it empty for all", field="providers"
            )
        wanted = {p.value for p in chosen}
    log = task_logger()
    async with defender_client(credentials, tenant_id) as client:
        index = await IdentityIndex.load(client)
        pairs = [f"{i}\x1f{j}" for i in range(len(who)) for j in range(len(acts))]
        found: dict[str, IdentityAccount | None] = {}

        async def one(pair: str) -> ItemOutcome:
            i, j = (int(x) for x in pair.split("\x1f"))
            user, action = who[i], acts[j]
            if user not in found:  # one look-up per user, whatever the number of actions
                found[user] = await index.resolve(client, user)
            ident = found[user]
            return await _act_on_user(
                client, user, action, wanted, fallback_to_entra, dry_run, ident
            )

        outcomes = await run_bulk(pairs, one, concurrency=concurrency)
    # run_bulk names an item by its key if the action itself raised: name it by user and action
    for pair, outcome in zip(pairs, outcomes, strict=True):
        i, j = (int(x) for x in pair.split("\x1f"))
        outcome.item = f"{who[i]} {acts[j].value}"
    log.info(
        "identity actions: %d users x %d actions, %d succeeded, %d skipped, %d failed",
        len(who),
        len(acts),
        sum(o.status == OutcomeStatus.SUCCEEDED for o in outcomes),
        sum(o.status == OutcomeStatus.SKIPPED for o in outcomes),
        sum(o.status == OutcomeStatus.FAILED for o in outcomes),
    )
    return outcomes
