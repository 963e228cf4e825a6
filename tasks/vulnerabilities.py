"""Tasks for threat and vulnerability management."""

from __future__ import annotations

from typing import Any

from prefect_defender.api.models.entities import (
    ExposureScore,
    Recommendation,
    Software,
    Vulnerability,
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
    credentials: DefenderCredentialsLike, limit: int | None = None, tenant_id: str | None = None
) -> list[Software]:
    """The software inventory.

    Example:
        ```python
        software = await list_software(creds)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.software(limit)


@defender_task(endpoints=("mde.tvm.vulnerabilities",))
async def list_vulnerabilities(
    credentials: DefenderCredentialsLike, limit: int | None = None, tenant_id: str | None = None
) -> list[Vulnerability]:
    """Every vulnerability in the organisation (paged by 8,000, the documented maximum).

    Example:
        ```python
        cves = await list_vulnerabilities(creds)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.vulnerabilities(limit)


@defender_task(endpoints=("mde.machines.vulnerabilities",))
async def list_machine_vulnerabilities(
    credentials: DefenderCredentialsLike, machine_id: str, tenant_id: str | None = None
) -> list[Vulnerability]:
    """Vulnerabilities on one machine.

    Example:
        ```python
        cves = await list_machine_vulnerabilities(creds, machine_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.machine_vulnerabilities(machine_id)


@defender_task(endpoints=("mde.tvm.software_vulnerabilities",))
async def list_software_vulnerabilities(
    credentials: DefenderCredentialsLike, software_id: str, tenant_id: str | None = None
) -> list[Vulnerability]:
    """Vulnerabilities of one software product (``vendor-_-name``).

    Example:
        ```python
        cves = await list_software_vulnerabilities(creds, "google-_-chrome")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.software_vulnerabilities(software_id)


@defender_task(endpoints=("mde.tvm.vulnerability_machines",))
async def list_machines_by_vulnerability(
    credentials: DefenderCredentialsLike, cve: str, tenant_id: str | None = None
) -> list[dict[str, Any]]:
    """Machines exposed to a CVE.

    Example:
        ```python
        exposed = await list_machines_by_vulnerability(creds, "CVE-2024-20001")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.machines_by_vulnerability(cve)


@defender_task(endpoints=("mde.tvm.recommendations",))
async def list_recommendations(
    credentials: DefenderCredentialsLike, limit: int | None = None, tenant_id: str | None = None
) -> list[Recommendation]:
    """Security recommendations.

    Example:
        ```python
        recs = await list_recommendations(creds)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.recommendations(limit)


@defender_task(endpoints=("mde.tvm.exposure_score",))
async def get_exposure_score(
    credentials: DefenderCredentialsLike, tenant_id: str | None = None
) -> ExposureScore:
    """The organisation's exposure score.

    Example:
        ```python
        score = await get_exposure_score(creds)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.vulnerabilities.exposure_score()
