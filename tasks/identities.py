"""Tasks for identity response: contain accounts as well as devices.

* **Defender XDR identity accounts** (Graph v1.0 ``security/identities/identityAccounts``):
  list, get, and :func:`invoke_identity_actions`, which runs actions such as ``disable`` or
  ``revokeAllSessions`` on every account of each user across Entra ID, on-premises Active
  Directory and Okta, falling back to Entra ID's own user actions where Defender has no account
  that supports the action (a cloud-only user not seen by Defender for Identity, say).
* **Entra ID users**: read, disable/enable (``accountEnabled``), revoke sign-in sessions.
* **Identity Protection**: list/get risky users, confirm compromised, dismiss risk.

Every bulk task returns one :class:`~prefect_defender.tasks.base.ItemOutcome` per input (per
user and action for :func:`invoke_identity_actions`), and checks every input before the first
request (user ids as GUID or UPN where the endpoint accepts a UPN, GUID only for risky users;
actions and providers by their exact documented spelling).

Permissions (Microsoft Graph, application or delegated): ``SecurityIdentitiesAccount.Read.All``
to read identity accounts, ``SecurityIdentitiesActions.ReadWrite.All`` to act on them,
``User.Read.All``, ``User.EnableDisableAccount.All``, ``User.RevokeSessions.All``,
``IdentityRiskyUser.Read.All`` / ``IdentityRiskyUser.ReadWrite.All``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import DefenderError, NotFoundError, ValidationError
from prefect_defender.api.models.identities import (
    EntraUser,
    HealthIssue,
    IdentityAccount,
    IdentityAction,
    IdentityProvider,
    RiskDetection,
    RiskyUser,
    SignIn,
)
from prefect_defender.api.validation import check_choice, check_items, check_user_ref
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    ItemOutcome,
    OutcomeStatus,
    defender_client,
    defender_task,
    run_bulk,
    task_logger,
)

__all__ = [
    "AccountSummary",
    "confirm_users_compromised",
    "describe_accounts",
    "dismiss_risky_users",
    "get_entra_user",
    "get_identity_account",
    "get_risky_user",
    "invoke_identity_actions",
    "list_health_issues",
    "list_identity_accounts",
    "list_risk_detections",
    "list_risky_users",
    "list_sign_ins",
    "revoke_user_sessions",
    "set_users_enabled",
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


def _users(users: Any, field: str = "users", *, upn: bool = True) -> list[str]:
    items = check_items(
        users, lambda v, f: check_user_ref(v, f, upn=upn), field, max_items=MAX_USERS
    )
    if not items:
        raise ValidationError(f"{field}: at least one user", field=field)
    return items


@defender_task(endpoints=("graph.identity_accounts.list",))
async def list_identity_accounts(
    credentials: DefenderCredentialsLike,
    odata_filter: str | None = None,
    limit: int | None = None,
    tenant_id: str | None = None,
) -> list[IdentityAccount]:
    """Identity accounts Defender for Identity observes, each with its accounts per provider.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import list_identity_accounts

        @flow
        async def disabled_identities() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            idents = await list_identity_accounts(creds)
            return [i.display_name or i.id for i in idents if i.is_enabled is False]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.identity_accounts.list(odata_filter=odata_filter, limit=limit)


@defender_task(endpoints=("graph.identity_accounts.get",))
async def get_identity_account(
    credentials: DefenderCredentialsLike, identity_id: str, tenant_id: str | None = None
) -> IdentityAccount:
    """One identity account by id (``NotFoundError`` for an unknown id).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import get_identity_account

        @flow
        async def providers(identity_id: str) -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            ident = await get_identity_account(creds, identity_id)
            return [a.identity_provider for a in ident.accounts]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.identity_accounts.get(identity_id)


async def _act_on_user(
    client: DefenderClient,
    user: str,
    action: IdentityAction,
    providers: set[str] | None,
    fallback_to_entra: bool,
    dry_run: bool,
    identity: IdentityAccount | None,
) -> ItemOutcome:
    item = f"{user} {action.value}"
    steps: list[dict[str, Any]] = []
    accounts = [
        a
        for a in (identity.accounts if identity else [])
        if providers is None or a.identity_provider in providers
    ]
    for acc in accounts:
        if action.value not in acc.actions:
            continue
        step: dict[str, Any] = {
            "via": "defender",
            "provider": acc.identity_provider,
            "account_id": acc.identifier,
            "action": action.value,
        }
        if dry_run:
            step["status"] = OutcomeStatus.DRY_RUN.value
        else:
            try:
                res = await client.identity_accounts.invoke_action(
                    identity.id,  # type: ignore[union-attr]
                    acc.identifier,
                    action,
                    acc.identity_provider,
                    identity=identity,
                )
                step |= {"status": "succeeded", "correlation_id": res.correlation_id}
            except DefenderError as exc:
                step |= {"status": "failed", "error": exc.to_dict()}
        steps.append(step)
    entra = ENTRA_FALLBACK[action]
    covered = any(s["provider"] == IdentityProvider.ENTRA_ID.value for s in steps)
    wants_entra = providers is None or IdentityProvider.ENTRA_ID.value in providers
    if fallback_to_entra and wants_entra and not covered and entra is not None:
        target = (identity.entra_object_id if identity else None) or user
        step = {"via": "entra", "provider": "entraID", "account_id": target, "action": entra}
        if dry_run:
            step["status"] = OutcomeStatus.DRY_RUN.value
        else:
            try:
                if entra in ("disable", "enable"):
                    await client.users.set_enabled(target, entra == "enable")
                elif entra == "revokeSignInSessions":
                    await client.users.revoke_sessions(target)
                else:
                    if "@" in target:
                        target = (await client.users.get(target)).id
                        step["account_id"] = target
                    await client.risky_users.confirm_compromised([target])
                step["status"] = "succeeded"
            except DefenderError as exc:
                step |= {"status": "failed", "error": exc.to_dict()}
        steps.append(step)
    if not steps:
        why = (
            f"no account of {user} supports {action.value}"
            if identity is not None
            else f"{user} is not an identity Defender observes"
        )
        if not fallback_to_entra or entra is None:
            why += " and Entra ID has no equivalent action" if entra is None else ""
        return ItemOutcome(item=item, status=OutcomeStatus.SKIPPED, result=[], reason=why)
    statuses = {s["status"] for s in steps}
    if "failed" in statuses:
        failed = next(s for s in steps if s["status"] == "failed")
        return ItemOutcome(
            item=item,
            status=OutcomeStatus.FAILED,
            result=steps,
            error=failed["error"],
            reason=f"{failed['provider']}: {failed['error'].get('message', '')}",
        )
    status = OutcomeStatus.DRY_RUN if dry_run else OutcomeStatus.SUCCEEDED
    return ItemOutcome(item=item, status=status, result=steps)


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
    users: list[str],
    actions: list[IdentityAction],
    providers: list[IdentityProvider] | None = None,
    fallback_to_entra: bool = True,
    dry_run: bool = False,
    concurrency: int = 5,
    tenant_id: str | None = None,
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
    who = _users(users)
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
        by_key = await _identity_index(client)
        pairs = [f"{i}\x1f{j}" for i in range(len(who)) for j in range(len(acts))]

        async def one(pair: str) -> ItemOutcome:
            i, j = (int(x) for x in pair.split("\x1f"))
            user, action = who[i], acts[j]
            ident = by_key.get(user.lower())
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


class AccountSummary(BaseModel):
    """What a responder sees of one account before acting (the approval form's row)."""

    user: str = Field(description="The user as given (UPN or object id).")
    user_principal_name: str | None = None
    object_id: str | None = None
    display_name: str | None = None
    enabled: bool | None = None
    identity_id: str | None = Field(default=None, description="Defender's identity account id.")
    providers: list[str] = Field(default_factory=list, description="Providers Defender knows.")
    actions: dict[str, list[str]] = Field(
        default_factory=dict, description="Actions each provider's account supports."
    )
    risk_level: str | None = None
    risk_state: str | None = None
    groups: list[str] = Field(
        default_factory=list, description="Groups and directory roles (display name and id)."
    )
    last_sign_ins: list[str] = Field(
        default_factory=list, description="The latest sign-ins: time, IP, country, result."
    )
    found: bool = Field(default=False, description="Known to Entra ID or Defender.")
    error: str | None = None


def _sign_in_line(s: SignIn) -> str:
    when = s.created_date_time.strftime("%Y-%m-%d %H:%M") if s.created_date_time else "?"
    where = s.location.country_or_region if s.location else None
    code = s.status.error_code if s.status else None
    result = "ok" if s.succeeded else f"failed ({code})"
    return f"{when} {s.ip_address or '?'} {where or '?'} {result}"


@defender_task(
    endpoints=(
        "graph.identity_accounts.list",
        "graph.users.get",
        "graph.risky_users.get",
        "graph.sign_ins.list",
        "graph.users.member_of",
    )
)
async def describe_accounts(
    credentials: DefenderCredentialsLike,
    users: list[str],
    concurrency: int = 5,
    tenant_id: str | None = None,
) -> list[AccountSummary]:
    """Each user's identity across providers, Entra state and risk, in one batch.

    One summary per user, in order: a user neither Entra ID nor Defender knows has
    ``found=False`` and the error; a user that was never risky has no risk level.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import describe_accounts

        @flow
        async def risk_of(upns: list[str]) -> dict[str, str | None]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return {a.user: a.risk_level for a in await describe_accounts(creds, upns)}
        ```
    """
    who = _users(users)
    async with defender_client(credentials, tenant_id) as client:
        by_key = await _identity_index(client)

        async def one(user: str) -> ItemOutcome:
            ident = by_key.get(user.lower())
            info = AccountSummary(user=user)
            if ident is not None:
                info.found = True
                info.identity_id = ident.id
                info.display_name = ident.display_name
                info.user_principal_name = ident.user_principal_name
                info.providers = [a.identity_provider for a in ident.accounts]
                info.actions = {a.identity_provider: list(a.actions) for a in ident.accounts}
            target = (ident.entra_object_id if ident else None) or user
            try:
                entra = await client.users.get(target)
                info.found = True
                info.object_id = entra.id
                info.enabled = entra.account_enabled
                info.user_principal_name = info.user_principal_name or entra.user_principal_name
                info.display_name = info.display_name or entra.display_name
            except DefenderError as exc:
                info.error = f"{type(exc).__name__}: {exc}"
            if info.object_id:
                try:
                    risk = await client.risky_users.get(info.object_id)
                    info.risk_level, info.risk_state = risk.risk_level, risk.risk_state
                except NotFoundError:
                    info.risk_level = "none"
                try:
                    for g in await client.users.member_of(info.object_id):
                        info.groups += [str(v) for v in (g.get("displayName"), g.get("id")) if v]
                except DefenderError as exc:  # no GroupMember.Read.All: protection cannot be told
                    info.groups = []
                    info.error = f"groups unavailable: {getattr(exc, 'code', '') or exc}"
                try:
                    recent = await client.sign_ins.list(user=info.object_id, limit=3)
                    info.last_sign_ins = [_sign_in_line(x) for x in recent]
                except DefenderError as exc:  # no AuditLog.Read.All, or no Entra ID P1 licence
                    info.last_sign_ins = [f"unavailable: {getattr(exc, 'code', '') or exc}"]
            return ItemOutcome(item=user, status=OutcomeStatus.SUCCEEDED, result=info)

        outcomes = await run_bulk(who, one, concurrency=concurrency)
    return [
        o.result
        if isinstance(o.result, AccountSummary)
        else AccountSummary(user=o.item, error=o.reason)
        for o in outcomes
    ]


async def _identity_index(client: DefenderClient) -> dict[str, IdentityAccount]:
    """Every identity by lower-cased UPN, e-mail address and account identifier."""
    by_key: dict[str, IdentityAccount] = {}
    async for ident in client.identity_accounts.iterate():
        for key in (ident.user_principal_name, ident.email_address):
            if key:
                by_key.setdefault(key.lower(), ident)
        for acc in ident.accounts:
            by_key.setdefault(acc.identifier.lower(), ident)
    return by_key


@defender_task(endpoints=("graph.users.get",))
async def get_entra_user(
    credentials: DefenderCredentialsLike, user: str, tenant_id: str | None = None
) -> EntraUser:
    """An Entra ID user by object id or UPN: enabled or not, synced from on-premises or not.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import get_entra_user

        @flow
        async def is_enabled(upn: str) -> bool | None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_entra_user(creds, upn)).account_enabled
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.users.get(user)


@defender_task(endpoints=("graph.users.set_enabled",))
async def set_users_enabled(
    credentials: DefenderCredentialsLike,
    users: list[str],
    enabled: bool,
    dry_run: bool = False,
    concurrency: int = 5,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Disable (``enabled=False``) or re-enable Entra ID users; one outcome per user.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import set_users_enabled

        @flow
        async def block_sign_in(upns: list[str]) -> int:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            outcomes = await set_users_enabled(creds, upns, enabled=False)
            return sum(o.ok for o in outcomes)
        ```
    """
    who = _users(users)
    if not isinstance(enabled, bool):
        raise ValidationError("enabled: true or false", field="enabled")
    async with defender_client(credentials, tenant_id) as client:

        async def one(user: str) -> ItemOutcome:
            if dry_run:
                return ItemOutcome(item=user, status=OutcomeStatus.DRY_RUN)
            await client.users.set_enabled(user, enabled)
            return ItemOutcome(
                item=user, status=OutcomeStatus.SUCCEEDED, result={"accountEnabled": enabled}
            )

        return await run_bulk(who, one, concurrency=concurrency)


@defender_task(endpoints=("graph.users.revoke_sessions",))
async def revoke_user_sessions(
    credentials: DefenderCredentialsLike,
    users: list[str],
    dry_run: bool = False,
    concurrency: int = 5,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Revoke the refresh tokens and session cookies of Entra ID users; one outcome per user.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import revoke_user_sessions

        @flow
        async def sign_out(upn: str) -> str:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await revoke_user_sessions(creds, [upn]))[0].status
        ```
    """
    who = _users(users)
    async with defender_client(credentials, tenant_id) as client:

        async def one(user: str) -> ItemOutcome:
            if dry_run:
                return ItemOutcome(item=user, status=OutcomeStatus.DRY_RUN)
            await client.users.revoke_sessions(user)
            return ItemOutcome(item=user, status=OutcomeStatus.SUCCEEDED)

        return await run_bulk(who, one, concurrency=concurrency)


@defender_task(endpoints=("graph.risky_users.list",))
async def list_risky_users(
    credentials: DefenderCredentialsLike,
    risk_level: str | None = None,
    risk_state: str | None = None,
    limit: int | None = None,
    tenant_id: str | None = None,
) -> list[RiskyUser]:
    """Identity Protection's risky users, optionally by risk level and risk state.

    ``risk_level``: low, medium, high, hidden, none; ``risk_state``: atRisk,
    confirmedCompromised, remediated, dismissed, confirmedSafe, none.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import list_risky_users

        @flow
        async def high_risk() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            users = await list_risky_users(creds, risk_level="high", risk_state="atRisk")
            return [u.user_principal_name or u.id for u in users]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.risky_users.list(
            risk_level=risk_level, risk_state=risk_state, limit=limit
        )


@defender_task(endpoints=("graph.risky_users.get",))
async def get_risky_user(
    credentials: DefenderCredentialsLike, user_id: str, tenant_id: str | None = None
) -> RiskyUser:
    """One risky user by the user's object id (``NotFoundError`` when it was never risky).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import get_risky_user

        @flow
        async def risk_of(user_id: str) -> str | None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_risky_user(creds, user_id)).risk_level
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.risky_users.get(user_id)


async def _risk_bulk(
    credentials: DefenderCredentialsLike,
    user_ids: list[str],
    dry_run: bool,
    tenant_id: str | None,
    confirm: bool,
) -> list[ItemOutcome]:
    ids = _users(user_ids, "user_ids", upn=False)
    if dry_run:
        return [ItemOutcome(item=u, status=OutcomeStatus.DRY_RUN) for u in ids]
    async with defender_client(credentials, tenant_id) as client:
        api = client.risky_users
        try:
            if confirm:
                await api.confirm_compromised(ids)
            else:
                await api.dismiss(ids)
        except DefenderError as exc:
            if len(ids) == 1:
                return [
                    ItemOutcome(
                        item=ids[0],
                        status=OutcomeStatus.FAILED,
                        error=exc.to_dict(),
                        reason=str(exc),
                    )
                ]

            # one unknown id fails the whole request: ask again one by one, so each id gets
            # its own outcome
            async def one(uid: str) -> ItemOutcome:
                await (api.confirm_compromised([uid]) if confirm else api.dismiss([uid]))
                return ItemOutcome(item=uid, status=OutcomeStatus.SUCCEEDED)

            return await run_bulk(ids, one, concurrency=5)
    return [ItemOutcome(item=u, status=OutcomeStatus.SUCCEEDED) for u in ids]


@defender_task(endpoints=("graph.risky_users.confirm_compromised",))
async def confirm_users_compromised(
    credentials: DefenderCredentialsLike,
    user_ids: list[str],
    dry_run: bool = False,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Confirm users compromised in Identity Protection (their risk becomes high).

    Risk-based Conditional Access then applies to them. Object ids only; one outcome per user.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import confirm_users_compromised

        @flow
        async def confirm(user_id: str) -> str:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await confirm_users_compromised(creds, [user_id]))[0].status
        ```
    """
    return await _risk_bulk(credentials, user_ids, dry_run, tenant_id, confirm=True)


@defender_task(endpoints=("graph.risky_users.dismiss",))
async def dismiss_risky_users(
    credentials: DefenderCredentialsLike,
    user_ids: list[str],
    dry_run: bool = False,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Dismiss the risk of users (for a confirmation made by mistake); one outcome per user.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import dismiss_risky_users

        @flow
        async def undo(user_id: str) -> str:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await dismiss_risky_users(creds, [user_id]))[0].status
        ```
    """
    return await _risk_bulk(credentials, user_ids, dry_run, tenant_id, confirm=False)


@defender_task(endpoints=("graph.sign_ins.list",))
async def list_sign_ins(
    credentials: DefenderCredentialsLike,
    user: str | None = None,
    look_back_hours: int = 24,
    limit: int | None = 100,
    tenant_id: str | None = None,
) -> list[SignIn]:
    """Entra ID sign-ins of the last ``look_back_hours`` (of one user by object id or UPN).

    Newest first; ``succeeded`` tells a passed sign-in from a refused one.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import list_sign_ins

        @flow
        async def failed_sign_ins(upn: str) -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rows = await list_sign_ins(creds, user=upn, look_back_hours=48)
            return [s.ip_address or "?" for s in rows if not s.succeeded]
        ```
    """
    since = datetime.now(UTC) - timedelta(hours=look_back_hours)
    async with defender_client(credentials, tenant_id) as client:
        return await client.sign_ins.list(user=user, since=since, limit=limit)


@defender_task(endpoints=("graph.risk_detections.list",))
async def list_risk_detections(
    credentials: DefenderCredentialsLike,
    user: str | None = None,
    limit: int | None = None,
    tenant_id: str | None = None,
) -> list[RiskDetection]:
    """Identity Protection's risk detections (of one user by object id or UPN).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import list_risk_detections

        @flow
        async def why_risky(upn: str) -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [d.risk_event_type or "?" for d in await list_risk_detections(creds, upn)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.risk_detections.list(user=user, limit=limit)


@defender_task(endpoints=("graph.health_issues.list",))
async def list_health_issues(
    credentials: DefenderCredentialsLike,
    status: Literal["open", "closed", "suppressed"] | None = "open",
    severity: Literal["low", "medium", "high"] | None = None,
    limit: int | None = None,
    tenant_id: str | None = None,
) -> list[HealthIssue]:
    """Defender for Identity health issues (sensors, directory credentials ...), open by default.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.identities import list_health_issues

        @flow
        async def sensor_problems() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            issues = await list_health_issues(creds, severity="high")
            return [i.display_name or i.id for i in issues]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.identity_health_issues.list(
            status=status, severity=severity, limit=limit
        )
