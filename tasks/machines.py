"""Tasks for Defender for Endpoint machines: list, look up, find by IP or tag, tag, related data."""

from __future__ import annotations

from datetime import datetime

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.input_types import (
    Concurrency,
    FilterText,
    IpAddress,
    Limit,
    MachineId,
    MachineRef,
    ODataFilterText,
    Tag,
    TenantId,
)
from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.machines import HealthStatus, LogonUser, Machine, RiskScore
from prefect_defender.api.resources.machines import TAG_BATCH_MAX, MachinesAPI
from prefect_defender.api.validation import check_items, check_machine_id
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, run_bulk

__all__ = [
    "find_machines_by_ip",
    "find_machines_by_tag",
    "get_machine",
    "get_machine_alerts",
    "get_machine_logon_users",
    "get_machines",
    "list_machines",
    "tag_machine",
    "tag_machines",
    "untag_machine",
]

#: machines per bulk tag call (the documented maximum)
TAG_BATCH = TAG_BATCH_MAX


@defender_task(endpoints=("mde.machines.list",))
async def list_machines(
    credentials: DefenderCredentialsLike,
    name: FilterText | None = None,
    name_startswith: FilterText | None = None,
    tag: FilterText | None = None,
    health_status: HealthStatus | str | None = None,
    risk_score: RiskScore | str | None = None,
    os_platform: FilterText | None = None,
    seen_since: datetime | None = None,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = 10_000,
    tenant_id: TenantId | None = None,
) -> list[Machine]:
    """Machines matching the filters, combined with ``and`` into one OData ``$filter``.

    ``name`` is the exact computer DNS name, ``name_startswith`` a prefix of it, ``tag`` one of
    the machine's tags (``machineTags/any``), ``health_status`` and ``risk_score`` documented
    values (any case), ``seen_since`` a timezone-aware lower bound of ``lastSeen``;
    ``odata_filter`` adds a raw expression. Values are escaped; invalid input sends nothing.

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
    built = MachinesAPI.build_filter(
        name=name,
        name_startswith=name_startswith,
        tag=tag,
        health_status=health_status,
        risk_score=risk_score,
        os_platform=os_platform,
        seen_since=seen_since,
    )
    expr = " and ".join(f"({p})" for p in (built, odata_filter) if p)
    async with defender_client(credentials, tenant_id) as client:
        machines = await client.machines.list(odata_filter=expr or None, limit=limit)
    task_logger().info("%d machine(s) matched", len(machines))
    return machines


@defender_task(endpoints=("mde.machines.get",))
async def get_machine(
    credentials: DefenderCredentialsLike, machine: MachineRef, tenant_id: TenantId | None = None
) -> Machine:
    """One machine by id or computer name.

    Example:
        ```python
        m = await get_machine(creds, "con-srv-001.contoso.example")  # an id or a DNS name
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.get(machine)


@defender_task(endpoints=("mde.machines.get",))
async def get_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    concurrency: Concurrency = 4,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Many machines by id in one task; one outcome per id, in input order.

    ``succeeded`` outcomes hold the :class:`Machine` in ``result``; a machine Defender does not
    know (or any other error) is a ``failed`` outcome with Defender's code, not an exception.

    Example:
        ```python
        outcomes = await get_machines(creds, incident.device_ids())
        names = [o.result.computer_dns_name for o in outcomes if o.ok]
        ```
    """
    ids = check_items(machine_ids, check_machine_id, "machine_ids", max_items=10_000)
    async with defender_client(credentials, tenant_id) as client:

        async def one(mid: str) -> ItemOutcome:
            machine = await client.machines.get(mid)
            return ItemOutcome(item=mid, status=OutcomeStatus.SUCCEEDED, result=machine)

        return await run_bulk(ids, one, concurrency=max(1, concurrency))


@defender_task(endpoints=("mde.machines.find_by_ip",))
async def find_machines_by_ip(
    credentials: DefenderCredentialsLike,
    ip: IpAddress,
    timestamp: datetime | None = None,
    tenant_id: TenantId | None = None,
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
    tag: Tag,
    starts_with: bool = False,
    tenant_id: TenantId | None = None,
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
    machine_id: MachineId,
    tag: Tag,
    remove: bool = False,
    tenant_id: TenantId | None = None,
) -> Machine:
    """Add a tag to one machine (or remove it with ``remove=True``); returns the machine.

    Example:
        ```python
        m = await tag_machine(creds, machine_id, "Contained-IR-42")
        assert "Contained-IR-42" in m.machine_tags
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        machine = await client.machines.set_tag(machine_id, tag, remove=remove)
    task_logger().info("%s tag on %s", "removed" if remove else "added", machine_id)
    return machine


@defender_task(endpoints=("mde.machines.tag",))
async def untag_machine(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    tag: Tag,
    tenant_id: TenantId | None = None,
) -> Machine:
    """Remove a tag from one machine; returns the machine.

    Example:
        ```python
        m = await untag_machine(creds, machine_id, "Contained-IR-42")
        ```
    """
    return await tag_machine.fn(credentials, machine_id, tag, True, tenant_id)


@defender_task(endpoints=("mde.machines.tag_many",))
async def tag_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    tag: Tag,
    remove: bool = False,
    dry_run: bool = False,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Add (or remove) a tag on many machines, 500 per call; one outcome per machine.

    Every id is validated before anything is sent. A machine the API did not list as updated
    is ``failed`` ("not found"); a failed call fails the machines of its chunk with Defender's
    code and message. ``dry_run`` reports the calls without sending them.

    Example:
        ```python
        outcomes = await tag_machines(creds, ids, "Quarantine-Wave-1")
        failed = [o.item for o in outcomes if not o.ok]
        ```
    """
    ids = check_items(machine_ids, check_machine_id, "machine_ids")
    unique = list(dict.fromkeys(ids))
    chunks = [unique[i : i + TAG_BATCH] for i in range(0, len(unique), TAG_BATCH)]
    verb = "Remove" if remove else "Add"
    log = task_logger()
    outcomes: dict[str, ItemOutcome] = {}
    MachinesAPI.check_tag(tag)
    if dry_run:
        for n, chunk in enumerate(chunks):
            for mid in chunk:
                outcomes[mid] = ItemOutcome(
                    item=mid,
                    status=OutcomeStatus.DRY_RUN,
                    result={"call": n + 1, "Value": tag, "Action": verb},
                    reason=f"dry run: {verb} tag in call {n + 1} of {len(chunks)} not sent",
                )
        return [outcomes[m] for m in ids]
    async with defender_client(credentials, tenant_id) as client:
        for n, chunk in enumerate(chunks):
            try:
                updated = await client.machines.set_tag_many(chunk, tag, remove=remove)
            except DefenderError as exc:
                for mid in chunk:
                    outcomes[mid] = ItemOutcome(
                        item=mid, status=OutcomeStatus.FAILED, error=exc.to_dict(), reason=str(exc)
                    )
                log.warning("tag call %d/%d failed: %s", n + 1, len(chunks), exc.code)
                continue
            listed = None if updated is None else {m.id.lower() for m in updated}
            for mid in chunk:
                if listed is None or mid in listed:
                    outcomes[mid] = ItemOutcome(
                        item=mid, status=OutcomeStatus.SUCCEEDED, result={"Action": verb}
                    )
                else:
                    outcomes[mid] = ItemOutcome(
                        item=mid,
                        status=OutcomeStatus.FAILED,
                        error={"code": "ResourceNotFound", "message": "not updated by the API"},
                        reason="machine not found in this tenant (or not visible to this app)",
                    )
            log.info("tag %s: call %d/%d done (%d machines)", verb, n + 1, len(chunks), len(chunk))
    return [outcomes[m] for m in ids]


@defender_task(endpoints=("mde.machines.logon_users",))
async def get_machine_logon_users(
    credentials: DefenderCredentialsLike, machine_id: MachineId, tenant_id: TenantId | None = None
) -> list[LogonUser]:
    """Users that logged on to a machine.

    Example:
        ```python
        users = await get_machine_logon_users(creds, machine_id)
        admins = [u.account_name for u in users if u.is_domain_admin]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.logon_users(machine_id)


@defender_task(endpoints=("mde.machines.alerts",))
async def get_machine_alerts(
    credentials: DefenderCredentialsLike, machine_id: MachineId, tenant_id: TenantId | None = None
) -> list[Alert]:
    """Alerts related to a machine.

    Example:
        ```python
        alerts = await get_machine_alerts(creds, machine_id)
        high = [a for a in alerts if a.severity == "High"]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machines.alerts(machine_id)
