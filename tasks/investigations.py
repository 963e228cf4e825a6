"""Tasks for automated investigations: list, get, start."""

from __future__ import annotations

from prefect_defender.api.models.entities import Investigation
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

__all__ = ["get_investigation", "list_investigations", "start_investigation"]


@defender_task(endpoints=("mde.investigations.list",))
async def list_investigations(
    credentials: DefenderCredentialsLike,
    state: str | None = None,
    machine_id: str | None = None,
    limit: int | None = 1000,
    tenant_id: str | None = None,
) -> list[Investigation]:
    """Automated investigations, optionally by state and machine.

    Example:
        ```python
        running = await list_investigations(creds, state="Running")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.investigations.list(state=state, machine_id=machine_id, limit=limit)


@defender_task(endpoints=("mde.investigations.get",))
async def get_investigation(
    credentials: DefenderCredentialsLike, investigation_id: str, tenant_id: str | None = None
) -> Investigation:
    """One automated investigation.

    Example:
        ```python
        inv = await get_investigation(creds, "4000")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.investigations.get(investigation_id)


@defender_task(endpoints=("mde.investigations.start",))
async def start_investigation(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> Investigation:
    """Start an automated investigation on a machine (50 per hour).

    Example:
        ```python
        inv = await start_investigation(creds, machine_id, "Suspicious activity after IR-7")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.investigations.start(machine_id, comment)
