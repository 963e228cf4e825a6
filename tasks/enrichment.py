"""Tasks for entity enrichment: files, IP addresses, domains and users.

User endpoints take the account (SAM) name such as ``jdoe``, not the UPN: a UPN is refused
before any request with a message saying so. The file alerts/machines endpoints take SHA-1 only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.entities import EntityStats, FileInfo
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.validation import check_domain, check_hash, check_ip, check_sam_name
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    ItemOutcome,
    OutcomeStatus,
    defender_client,
    defender_task,
)

__all__ = [
    "enrich_entities",
    "get_domain_alerts",
    "get_domain_machines",
    "get_domain_stats",
    "get_file_alerts",
    "get_file_info",
    "get_file_machines",
    "get_file_stats",
    "get_ip_alerts",
    "get_ip_stats",
    "get_user_alerts",
    "get_user_machines",
]


@defender_task(endpoints=("mde.files.get",))
async def get_file_info(
    credentials: DefenderCredentialsLike, file_hash: str, tenant_id: str | None = None
) -> FileInfo:
    """File information by SHA-1 or SHA-256.

    Example:
        ```python
        info = await get_file_info(creds, sha256)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_info(file_hash)


@defender_task(endpoints=("mde.files.stats",))
async def get_file_stats(
    credentials: DefenderCredentialsLike,
    file_hash: str,
    look_back_hours: int = 720,
    tenant_id: str | None = None,
) -> EntityStats:
    """Organisation prevalence of a file over up to 720 hours.

    Example:
        ```python
        stats = await get_file_stats(creds, sha1, look_back_hours=48)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_stats(file_hash, look_back_hours)


@defender_task(endpoints=("mde.files.alerts",))
async def get_file_alerts(
    credentials: DefenderCredentialsLike, sha1: str, tenant_id: str | None = None
) -> list[Alert]:
    """Alerts related to a file (SHA-1 only).

    Example:
        ```python
        alerts = await get_file_alerts(creds, sha1)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_alerts(sha1)


@defender_task(endpoints=("mde.files.machines",))
async def get_file_machines(
    credentials: DefenderCredentialsLike, sha1: str, tenant_id: str | None = None
) -> list[Machine]:
    """Machines where a file was seen (SHA-1 only).

    Example:
        ```python
        machines = await get_file_machines(creds, sha1)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_machines(sha1)


@defender_task(endpoints=("mde.ips.stats",))
async def get_ip_stats(
    credentials: DefenderCredentialsLike, ip: str, tenant_id: str | None = None
) -> EntityStats:
    """Organisation prevalence of an IP address.

    Example:
        ```python
        stats = await get_ip_stats(creds, "203.0.113.66")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.ip_stats(ip)


@defender_task(endpoints=("mde.ips.alerts",))
async def get_ip_alerts(
    credentials: DefenderCredentialsLike, ip: str, tenant_id: str | None = None
) -> list[Alert]:
    """Alerts related to an IP address.

    Example:
        ```python
        alerts = await get_ip_alerts(creds, "203.0.113.66")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.ip_alerts(ip)


@defender_task(endpoints=("mde.domains.stats",))
async def get_domain_stats(
    credentials: DefenderCredentialsLike, domain: str, tenant_id: str | None = None
) -> EntityStats:
    """Organisation prevalence of a domain.

    Example:
        ```python
        stats = await get_domain_stats(creds, "evil.example")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.domain_stats(domain)


@defender_task(endpoints=("mde.domains.alerts",))
async def get_domain_alerts(
    credentials: DefenderCredentialsLike, domain: str, tenant_id: str | None = None
) -> list[Alert]:
    """Alerts related to a domain.

    Example:
        ```python
        alerts = await get_domain_alerts(creds, "evil.example")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.domain_alerts(domain)


@defender_task(endpoints=("mde.domains.machines",))
async def get_domain_machines(
    credentials: DefenderCredentialsLike, domain: str, tenant_id: str | None = None
) -> list[Machine]:
    """Machines that communicated with a domain (at most 500).

    Example:
        ```python
        machines = await get_domain_machines(creds, "evil.example")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.domain_machines(domain)


@defender_task(endpoints=("mde.users.alerts",))
async def get_user_alerts(
    credentials: DefenderCredentialsLike, account_name: str, tenant_id: str | None = None
) -> list[Alert]:
    """Alerts related to a user, by account name (``jdoe``), not UPN.

    Example:
        ```python
        alerts = await get_user_alerts(creds, "jdoe")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.user_alerts(account_name)


@defender_task(endpoints=("mde.users.machines",))
async def get_user_machines(
    credentials: DefenderCredentialsLike, account_name: str, tenant_id: str | None = None
) -> list[Machine]:
    """Machines a user logged on to, by account name (``jdoe``), not UPN.

    Example:
        ```python
        machines = await get_user_machines(creds, "jdoe")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.user_machines(account_name)


@defender_task(
    endpoints=(
        "mde.files.get",
        "mde.files.stats",
        "mde.ips.stats",
        "mde.domains.stats",
        "mde.users.alerts",
        "mde.users.machines",
    )
)
async def enrich_entities(
    credentials: DefenderCredentialsLike,
    files: list[str] | None = None,
    ips: list[str] | None = None,
    domains: list[str] | None = None,
    users: list[str] | None = None,
    concurrency: int = 8,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Enrich many entities at once; one outcome per entity (``file:<hash>``, ``ip:<addr>``, ...).

    Every value is validated first; an entity Defender does not know is a ``failed`` outcome
    with Defender's error, never a dropped item.

    Example:
        ```python
        outcomes = await enrich_entities(creds, files=[sha256], ips=["203.0.113.66"],
                                         users=["jdoe"])
        ```
    """
    jobs: list[tuple[str, str, str]] = []
    jobs += [("file", check_hash(v, f"files[{i}]"), "") for i, v in enumerate(files or [])]
    jobs += [("ip", check_ip(v, f"ips[{i}]"), "") for i, v in enumerate(ips or [])]
    jobs += [("domain", check_domain(v, f"domains[{i}]"), "") for i, v in enumerate(domains or [])]
    jobs += [("user", check_sam_name(v, f"users[{i}]"), "") for i, v in enumerate(users or [])]
    sem = asyncio.Semaphore(max(1, concurrency))
    async with defender_client(credentials, tenant_id) as client:
        ent = client.entities

        async def one(kind: str, value: str) -> ItemOutcome:
            label = f"{kind}:{value}"
            async with sem:
                try:
                    result: dict[str, Any]
                    if kind == "file":
                        info = await ent.file_info(value)
                        stats = await ent.file_stats(value)
                        result = {"info": info.to_api(), "stats": stats.to_api()}
                    elif kind == "ip":
                        result = {"stats": (await ent.ip_stats(value)).to_api()}
                    elif kind == "domain":
                        result = {"stats": (await ent.domain_stats(value)).to_api()}
                    else:
                        alerts = await ent.user_alerts(value)
                        machines = await ent.user_machines(value)
                        result = {
                            "alerts": len(alerts),
                            "machines": [m.computer_dns_name for m in machines],
                        }
                except DefenderError as exc:
                    return ItemOutcome(
                        item=label,
                        status=OutcomeStatus.FAILED,
                        error=exc.to_dict(),
                        reason=str(exc),
                    )
            return ItemOutcome(item=label, status=OutcomeStatus.SUCCEEDED, result=result)

        return list(await asyncio.gather(*(one(k, v) for k, v, _ in jobs)))
