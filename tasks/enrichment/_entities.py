"""Tasks enriching one entity: a file, an IP address, a domain or a user."""

from __future__ import annotations

from prefect_defender.api.input_types import (
    AccountName,
    Domain,
    FileHash,
    FileSha1,
    IpAddress,
    LookBackHours,
    TenantId,
)
from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.enrichment import EntityStats, FileInfo
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.resources.enrichment import MAX_LOOK_BACK_HOURS
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
)

__all__ = [
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
    credentials: DefenderCredentialsLike, file_hash: FileHash, tenant_id: TenantId | None = None
) -> FileInfo:
    """File information by SHA-1 or SHA-256 (``NotFoundError`` for an unknown file).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_file_info

        @flow
        async def verdict(sha256: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            info = await get_file_info(creds, sha256)
            return info.determination_type, info.sha1
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_info(file_hash)


@defender_task(endpoints=("mde.files.stats",))
async def get_file_stats(
    credentials: DefenderCredentialsLike,
    file_hash: FileHash,
    look_back_hours: LookBackHours = MAX_LOOK_BACK_HOURS,
    tenant_id: TenantId | None = None,
) -> EntityStats:
    """Organisation prevalence of a file over 1 to 720 hours (``NotFoundError`` if unknown).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_file_stats

        @flow
        async def prevalence(sha1: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            stats = await get_file_stats(creds, sha1, look_back_hours=48)
            return stats.organization_prevalence
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_stats(file_hash, look_back_hours)


@defender_task(endpoints=("mde.files.alerts",))
async def get_file_alerts(
    credentials: DefenderCredentialsLike, sha1: FileSha1, tenant_id: TenantId | None = None
) -> list[Alert]:
    """Alerts related to a file, by SHA-1 only (an unknown file gives an empty list).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_file_alerts

        @flow
        async def file_alerts(sha1: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [a.id for a in await get_file_alerts(creds, sha1)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_alerts(sha1)


@defender_task(endpoints=("mde.files.machines",))
async def get_file_machines(
    credentials: DefenderCredentialsLike, sha1: FileSha1, tenant_id: TenantId | None = None
) -> list[Machine]:
    """Machines where a file was seen, by SHA-1 only (a SHA-256 is refused before sending).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_file_info, get_file_machines

        @flow
        async def where_is(sha256: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            info = await get_file_info(creds, sha256)  # SHA-256 -> SHA-1
            return [m.computer_dns_name for m in await get_file_machines(creds, info.sha1)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.file_machines(sha1)


@defender_task(endpoints=("mde.ips.stats",))
async def get_ip_stats(
    credentials: DefenderCredentialsLike,
    ip: IpAddress,
    look_back_hours: LookBackHours = MAX_LOOK_BACK_HOURS,
    tenant_id: TenantId | None = None,
) -> EntityStats:
    """Organisation prevalence of an IP address (an unseen valid IP has prevalence 0).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_ip_stats

        @flow
        async def ip_prevalence(ip: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_ip_stats(creds, ip)).organization_prevalence
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.ip_stats(ip, look_back_hours)


@defender_task(endpoints=("mde.ips.alerts",))
async def get_ip_alerts(
    credentials: DefenderCredentialsLike, ip: IpAddress, tenant_id: TenantId | None = None
) -> list[Alert]:
    """Alerts related to an IP address (an invalid IP is refused before sending).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_ip_alerts

        @flow
        async def ip_alerts(ip: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [a.title for a in await get_ip_alerts(creds, ip)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.ip_alerts(ip)


@defender_task(endpoints=("mde.domains.stats",))
async def get_domain_stats(
    credentials: DefenderCredentialsLike,
    domain: Domain,
    look_back_hours: LookBackHours = MAX_LOOK_BACK_HOURS,
    tenant_id: TenantId | None = None,
) -> EntityStats:
    """Organisation prevalence of a domain (an unseen domain has prevalence 0).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_domain_stats

        @flow
        async def domain_prevalence(domain: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_domain_stats(creds, domain)).organization_prevalence
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.domain_stats(domain, look_back_hours)


@defender_task(endpoints=("mde.domains.alerts",))
async def get_domain_alerts(
    credentials: DefenderCredentialsLike, domain: Domain, tenant_id: TenantId | None = None
) -> list[Alert]:
    """Alerts related to a domain.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_domain_alerts

        @flow
        async def domain_alerts(domain: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [a.id for a in await get_domain_alerts(creds, domain)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.domain_alerts(domain)


@defender_task(endpoints=("mde.domains.machines",))
async def get_domain_machines(
    credentials: DefenderCredentialsLike, domain: Domain, tenant_id: TenantId | None = None
) -> list[Machine]:
    """Machines that communicated with a domain (Defender returns at most 500).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_domain_machines

        @flow
        async def who_talked_to(domain: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [m.id for m in await get_domain_machines(creds, domain)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.domain_machines(domain)


@defender_task(endpoints=("mde.users.alerts",))
async def get_user_alerts(
    credentials: DefenderCredentialsLike,
    account_name: AccountName,
    tenant_id: TenantId | None = None,
) -> list[Alert]:
    """Alerts related to a user, by account name (``jdoe``), not UPN (refused before sending).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_user_alerts

        @flow
        async def user_alerts(account: str = "jdoe"):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [a.title for a in await get_user_alerts(creds, account)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.user_alerts(account_name)


@defender_task(endpoints=("mde.users.machines",))
async def get_user_machines(
    credentials: DefenderCredentialsLike,
    account_name: AccountName,
    tenant_id: TenantId | None = None,
) -> list[Machine]:
    """Machines a user logged on to, by account name (``jdoe``), not UPN.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import get_user_machines

        @flow
        async def user_devices(account: str = "jdoe"):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [m.computer_dns_name for m in await get_user_machines(creds, account)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.entities.user_machines(account_name)
