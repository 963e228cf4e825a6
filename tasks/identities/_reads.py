"""The reads of identity response: identity accounts, Entra ID users, risky users, sign-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from prefect_defender.api.input_types import (
    Limit,
    LookBackHours,
    ODataFilterText,
    OpaqueId,
    RiskLevel,
    RiskState,
    TenantId,
    UserObjectId,
    UserRef,
)
from prefect_defender.api.models.identities import (
    EntraUser,
    HealthIssue,
    IdentityAccount,
    RiskDetection,
    RiskyUser,
    SignIn,
)
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

# the constants below lived here before the split: still importable from this module

__all__ = [
    "get_entra_user",
    "get_identity_account",
    "get_risky_user",
    "list_health_issues",
    "list_identity_accounts",
    "list_risk_detections",
    "list_risky_users",
    "list_sign_ins",
]


@defender_task(endpoints=("graph.identity_accounts.list",))
async def list_identity_accounts(
    credentials: DefenderCredentialsLike,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
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
    credentials: DefenderCredentialsLike, identity_id: OpaqueId, tenant_id: TenantId | None = None
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


@defender_task(endpoints=("graph.users.get",))
async def get_entra_user(
    credentials: DefenderCredentialsLike, user: UserRef, tenant_id: TenantId | None = None
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


@defender_task(endpoints=("graph.risky_users.list",))
async def list_risky_users(
    credentials: DefenderCredentialsLike,
    risk_level: RiskLevel | None = None,
    risk_state: RiskState | None = None,
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
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
    credentials: DefenderCredentialsLike, user_id: UserObjectId, tenant_id: TenantId | None = None
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


@defender_task(endpoints=("graph.sign_ins.list",))
async def list_sign_ins(
    credentials: DefenderCredentialsLike,
    user: UserRef | None = None,
    look_back_hours: LookBackHours = 24,
    limit: Limit | None = 100,
    tenant_id: TenantId | None = None,
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
    user: UserRef | None = None,
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
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
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
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
