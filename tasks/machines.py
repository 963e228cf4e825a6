"""Tasks for Defender for Endpoint machines: list, look up, find by IP or tag, tag, related data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect_defender.api.models.machines import Machine
from prefect_defender.api.validation import check_items, check_machine_id
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    ItemOutcome,
    OutcomeStatus,
    defender_client,
    defender_task,
    task_logger,
)

__all__ = [
    "find_machines_by_ip",
    "find_machines_by_tag",
    "get_machine",
    "get_machine_alerts",
    "get_machine_logon_users",
    "list_machines",
    "tag_machine",
    "tag_machines",
]

TAG_BATCH = 500


@defender_task(endpoints=("mde.machines.list",))
async def list_machines(
    credentials: DefenderCredentialsLike,
    name_startswith: str | None = None,
    tag: str | None = None,
    health_status: str | None = None,
    risk_score: str | None = None,
    os_platform: str | None = None,
    seen_since: datetime | None = None,
    odata_filter: str | None = None,
    limit: int | None = 10_000,
    tenant_id: str | None = None,
) -> list[Machine]:
    """Machines matching the filters (values are escaped; the API compares case-insensitively).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.machines import list_machines

        @flow
        async def risky() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [m.computer_dns_name for m in await list_machines(creds, risk_score="High")]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        built = client.machines.build_filter(
            name_startswith=name_startswith,
            tag=tag,
            health_status=health_status,
            risk_score=risk_score,
            os_platform=os_platform,
            seen_since=seen_since,
        )
        expr = " and ".join(f"({p})" for p in (built, odata_filter) if p)
        return await client.machines.list(odata_filter=expr or None, limit=limit)


@defender_task(endpoints=("mde.machines.get",))
async def get_machine(
    credentials: DefenderCredentialsLike, machine: str, tenant_id: str | None = None
) -> Machine:
    """One machine by id or computer name.

    Example:
        ```python
        m = await get_machine(creds, "contoso-ws-001.contoso.example")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.get(machine)


@defender_task(endpoints=("mde.machines.find_by_ip",))
async def find_machines_by_ip(
    credentials: DefenderCredentialsLike,
    ip: str,
    timestamp: datetime | None = None,
    tenant_id: str | None = None,
) -> list[Machine]:
    """Machines that had ``ip`` within 15 minutes of ``timestamp`` (default now; <= 30 days).

    Example:
        ```python
        hosts = await find_machines_by_ip(creds, "10.1.2.3")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.find_by_ip(ip, timestamp)


@defender_task(endpoints=("mde.machines.find_by_tag",))
async def find_machines_by_tag(
    credentials: DefenderCredentialsLike,
    tag: str,
    starts_with: bool = False,
    tenant_id: str | None = None,
) -> list[Machine]:
    """Machines carrying ``tag`` (or a tag starting with it).

    Example:
        ```python
        dcs = await find_machines_by_tag(creds, "DomainController")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.find_by_tag(tag, starts_with=starts_with)


@defender_task(endpoints=("mde.machines.tag",))
async def tag_machine(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    tag: str,
    remove: bool = False,
    tenant_id: str | None = None,
) -> Machine:
    """Add (or remove) a tag on one machine.

    Example:
        ```python
        await tag_machine(creds, machine_id, "Contained-IR-42")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.set_tag(machine_id, tag, remove=remove)


@defender_task(endpoints=("mde.machines.tag_many",))
async def tag_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    tag: str,
    remove: bool = False,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Add (or remove) a tag on many machines, 500 per call; one outcome per machine.

    Example:
        ```python
        outcomes = await tag_machines(creds, ids, "Quarantine-Wave-1")
        ```
    """
    ids = check_items(machine_ids, check_machine_id, "machine_ids", max_items=100_000)
    outcomes: dict[str, ItemOutcome] = {}
    log = task_logger()
    async with defender_client(credentials, tenant_id) as client:
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), TAG_BATCH):
            chunk = unique[start : start + TAG_BATCH]
            try:
                tagged = await client.machines.set_tag_many(chunk, tag, remove=remove)
            except Exception as exc:
                for mid in chunk:
                    outcomes[mid] = ItemOutcome(
                        item=mid, status=OutcomeStatus.FAILED, reason=str(exc)
                    )
                continue
            seen = {m.id for m in tagged}
            for mid in chunk:
                outcomes[mid] = (
                    ItemOutcome(item=mid, status=OutcomeStatus.SUCCEEDED)
                    if mid in seen
                    else ItemOutcome(
                        item=mid,
                        status=OutcomeStatus.FAILED,
                        reason="machine not found in this tenant",
                    )
                )
            log.info("tagged %d/%d machines", min(start + TAG_BATCH, len(unique)), len(unique))
    return [outcomes[m] for m in ids]


@defender_task(endpoints=("mde.machines.logon_users",))
async def get_machine_logon_users(
    credentials: DefenderCredentialsLike, machine_id: str, tenant_id: str | None = None
) -> list[dict[str, Any]]:
    """Users that logged on to a machine.

    Example:
        ```python
        users = await get_machine_logon_users(creds, machine_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.logon_users(machine_id)


@defender_task(endpoints=("mde.machines.alerts",))
async def get_machine_alerts(
    credentials: DefenderCredentialsLike, machine_id: str, tenant_id: str | None = None
) -> list[dict[str, Any]]:
    """Alerts related to a machine.

    Example:
        ```python
        alerts = await get_machine_alerts(creds, machine_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.alerts(machine_id)
