"""Tasks for threat and vulnerability management: software, CVEs, exposure, recommendations."""

from __future__ import annotations

from prefect_defender.api.input_types import (
    Cvss,
    FilterText,
    Limit,
    MachineId,
    ODataFilterText,
    SoftwareId,
    TenantId,
    VulnerabilityId,
)
from prefect_defender.api.models.vulnerabilities import (
    ExposureScore,
    MachineReference,
    Recommendation,
    Software,
    Vulnerability,
    VulnerabilitySeverity,
)
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

__all__ = [
    "get_exposure_score",
    "list_machine_vulnerabilities",
    "list_machines_by_vulnerability",
    "list_recommendations",
    "list_software",
    "list_software_vulnerabilities",
    "list_vulnerabilities",
]


@defender_task(endpoints=("mde.tvm.software",))
async def list_software(
    credentials: DefenderCredentialsLike,
    vendor: FilterText | None = None,
    name: FilterText | None = None,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
) -> list[Software]:
    """The software inventory, optionally by vendor or name (pages of 10,000).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.vulnerabilities import list_software

        @flow
        async def exploitable_software():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [s.id for s in await list_software(creds) if s.public_exploit]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.software(
            limit=limit, vendor=vendor, name=name, odata_filter=odata_filter
        )


@defender_task(endpoints=("mde.tvm.vulnerabilities",))
async def list_vulnerabilities(
    credentials: DefenderCredentialsLike,
    severity: VulnerabilitySeverity | str | None = None,
    min_cvss: Cvss | None = None,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
) -> list[Vulnerability]:
    """Every vulnerability in the organisation (paged by 8,000, the documented maximum).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.vulnerabilities import list_vulnerabilities

        @flow
        async def critical_cves():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [v.id for v in await list_vulnerabilities(creds, severity="Critical")]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.vulnerabilities(
            limit=limit, severity=severity, min_cvss=min_cvss, odata_filter=odata_filter
        )


@defender_task(endpoints=("mde.machines.vulnerabilities",))
async def list_machine_vulnerabilities(
    credentials: DefenderCredentialsLike, machine_id: MachineId, tenant_id: TenantId | None = None
) -> list[Vulnerability]:
    """Vulnerabilities discovered on one machine (Defender allows 50 calls per minute).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.vulnerabilities import list_machine_vulnerabilities

        @flow
        async def machine_cves(machine_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [v.id for v in await list_machine_vulnerabilities(creds, machine_id)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.machine_vulnerabilities(machine_id)


@defender_task(endpoints=("mde.tvm.software_vulnerabilities",))
async def list_software_vulnerabilities(
    credentials: DefenderCredentialsLike, software_id: SoftwareId, tenant_id: TenantId | None = None
) -> list[Vulnerability]:
    """Vulnerabilities of one software product (id ``vendor-_-name``).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.vulnerabilities import list_software_vulnerabilities

        @flow
        async def chrome_cves():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await list_software_vulnerabilities(creds, "google-_-chrome")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.software_vulnerabilities(software_id)


@defender_task(endpoints=("mde.tvm.vulnerability_machines",))
async def list_machines_by_vulnerability(
    credentials: DefenderCredentialsLike, cve: VulnerabilityId, tenant_id: TenantId | None = None
) -> list[MachineReference]:
    """Machines exposed to a vulnerability (``CVE-2024-12345``).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.vulnerabilities import list_machines_by_vulnerability

        @flow
        async def exposed(cve: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return [m.computer_dns_name for m in await list_machines_by_vulnerability(creds, cve)]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.machines_by_vulnerability(cve)


@defender_task(endpoints=("mde.tvm.recommendations",))
async def list_recommendations(
    credentials: DefenderCredentialsLike,
    status: FilterText | None = None,
    product_name: FilterText | None = None,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
) -> list[Recommendation]:
    """Security recommendations, optionally by status or product (pages of 10,000).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.vulnerabilities import list_recommendations

        @flow
        async def top_recommendations():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            recs = await list_recommendations(creds, status="Active")
            return sorted(recs, key=lambda r: -(r.severity_score or 0))[:10]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.recommendations(
            limit=limit, status=status, product_name=product_name, odata_filter=odata_filter
        )


@defender_task(endpoints=("mde.tvm.exposure_score",))
async def get_exposure_score(
    credentials: DefenderCredentialsLike, tenant_id: TenantId | None = None
) -> ExposureScore:
    """The organisation's exposure score (``time`` and ``score``).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.vulnerabilities import get_exposure_score

        @flow
        async def exposure():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_exposure_score(creds)).score
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.exposure_score()
