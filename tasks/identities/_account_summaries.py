"""What a responder sees of each account before acting: :func:`describe_accounts`.

Public through ``tasks.identities``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from prefect_defender.api.errors import DefenderError, NotFoundError
from prefect_defender.api.input_types import Concurrency, TenantId, UserRefs
from prefect_defender.api.models.identities import SignIn
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task
from prefect_defender.tasks.identities._account_actions import IdentityIndex, checked_users
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, run_bulk

__all__ = [
    "AccountSummary",
    "describe_accounts",
]


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


def _as_asked(asked: str, answered: str | None) -> str | None:
    """The id an answer gives for a user, as the one asked for (checked on entry, carried) when
    it is the same text, so it is not checked again on its way to the next request."""
    return asked if answered == asked else answered


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
    users: UserRefs,
    concurrency: Concurrency = 5,
    tenant_id: TenantId | None = None,
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
    who = checked_users(users)
    async with defender_client(credentials, tenant_id) as client:
        index = await IdentityIndex.load(client)

        async def one(user: str) -> ItemOutcome:
            ident = await index.resolve(client, user)
            info = AccountSummary(user=user)
            if ident is not None:
                info.found = True
                info.identity_id = ident.id
                info.display_name = ident.display_name
                info.user_principal_name = ident.user_principal_name
                info.providers = [a.identity_provider for a in ident.accounts]
                info.actions = {a.identity_provider: list(a.actions) for a in ident.accounts}
            target = _as_asked(user, ident.entra_object_id if ident else None) or user
            try:
                entra = await client.users.get(target)
                info.found = True
                info.object_id = _as_asked(target, entra.id)
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
                except DefenderError as exc:  # no Directory.Read.All: protection cannot be told
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
