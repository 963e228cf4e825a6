"""Entra ID user actions (disable, enable, revoke sessions) and Identity Protection risk actions.

Every task checks all its users first (object ids or UPNs; object ids only for risk actions)
and returns one :class:`~prefect_defender.tasks.outcomes.ItemOutcome` per user. Public through
``tasks.identities``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.input_types import (
    Concurrency,
    StrictBool,
    TenantId,
    UserObjectId,
    UserRefs,
)
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task
from prefect_defender.tasks.identities._account_actions import checked_users
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, run_bulk

__all__ = [
    "confirm_users_compromised",
    "dismiss_risky_users",
    "revoke_user_sessions",
    "set_users_enabled",
]


async def _each_user(
    credentials: DefenderCredentialsLike,
    tenant_id: str | None,
    users: list[str],
    act: Callable[[DefenderClient, str], Awaitable[Any]],
    dry_run: bool,
    concurrency: int,
) -> list[ItemOutcome]:
    """``act`` on every (checked) user with one client and bounded concurrency.

    One outcome per user: ``succeeded`` with what ``act`` returned as its result, ``dry_run``
    (nothing sent) or ``failed`` (see :func:`run_bulk`).
    """
    async with defender_client(credentials, tenant_id) as client:

        async def one(user: str) -> ItemOutcome:
            if dry_run:
                return ItemOutcome(item=user, status=OutcomeStatus.DRY_RUN)
            result = await act(client, user)
            return ItemOutcome(item=user, status=OutcomeStatus.SUCCEEDED, result=result)

        return await run_bulk(users, one, concurrency=concurrency)


@defender_task(endpoints=("graph.users.set_enabled",))
async def set_users_enabled(
    credentials: DefenderCredentialsLike,
    users: UserRefs,
    enabled: StrictBool,
    dry_run: bool = False,
    concurrency: Concurrency = 5,
    tenant_id: TenantId | None = None,
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
    who = checked_users(users)
    if not isinstance(enabled, bool):
        raise ValidationError("enabled: true or false", field="enabled")

    async def set_enabled(client: DefenderClient, user: str) -> dict[str, Any]:
        await client.users.set_enabled(user, enabled)
        return {"accountEnabled": enabled}

    return await _each_user(credentials, tenant_id, who, set_enabled, dry_run, concurrency)


@defender_task(endpoints=("graph.users.revoke_sessions",))
async def revoke_user_sessions(
    credentials: DefenderCredentialsLike,
    users: UserRefs,
    dry_run: bool = False,
    concurrency: Concurrency = 5,
    tenant_id: TenantId | None = None,
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
    who = checked_users(users)

    async def revoke(client: DefenderClient, user: str) -> None:
        await client.users.revoke_sessions(user)

    return await _each_user(credentials, tenant_id, who, revoke, dry_run, concurrency)


async def _risk_bulk(
    credentials: DefenderCredentialsLike,
    user_ids: list[str],
    dry_run: bool,
    tenant_id: str | None,
    confirm: bool,
) -> list[ItemOutcome]:
    ids = checked_users(user_ids, "user_ids", upn=False)
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
    user_ids: list[UserObjectId],
    dry_run: bool = False,
    tenant_id: TenantId | None = None,
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
    user_ids: list[UserObjectId],
    dry_run: bool = False,
    tenant_id: TenantId | None = None,
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
