"""Threat and vulnerability management models: software, CVEs, recommendations, exposure."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, Field

from prefect_defender.api.models.common import DefenderModel

__all__ = [
    "ExposureScore",
    "MachineReference",
    "Recommendation",
    "Software",
    "Vulnerability",
    "VulnerabilitySeverity",
]


class VulnerabilitySeverity(StrEnum):
    """CVE severities used in filters (responses keep an open string)."""

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
    CRITICAL = "Critical"


class Software(DefenderModel):
    """A software product in the inventory (id ``vendor-_-name``)."""

    id: str
    name: str | None = None
    vendor: str | None = None
    weaknesses: int | None = None
    public_exploit: bool | None = None
    active_alert: bool | None = None
    exposed_machines: int | None = None
    impact_score: float | None = None


class Vulnerability(DefenderModel):
    """A vulnerability (CVE) as threat and vulnerability management reports it."""

    id: str
    name: str | None = None
    description: str | None = None
    severity: str | None = None
    cvss_v3: float | None = Field(default=None, alias="cvssV3")
    cvss_vector: str | None = None
    exposed_machines: int | None = None
    published_on: datetime | None = None
    updated_on: datetime | None = None
    public_exploit: bool | None = None
    exploit_verified: bool | None = None
    exploit_in_kit: bool | None = None
    exploit_types: list[str] = []
    exploit_uris: list[str] = []
    # get-all-vulnerabilities.md writes "CveSupportability", other pages "cveSupportability"
    cve_supportability: str | None = Field(
        default=None, validation_alias=AliasChoices("cveSupportability", "CveSupportability")
    )


class MachineReference(DefenderModel):
    """A machine exposed to a vulnerability (``/vulnerabilities/{id}/machineReferences``)."""

    id: str
    computer_dns_name: str | None = None
    os_platform: str | None = None
    rbac_group_name: str | None = None


class Recommendation(DefenderModel):
    """A security recommendation."""

    id: str
    product_name: str | None = None
    recommendation_name: str | None = None
    weaknesses: int | None = None
    vendor: str | None = None
    recommended_version: str | None = None
    recommendation_category: str | None = None
    sub_category: str | None = None
    severity_score: float | None = None
    public_exploit: bool | None = None
    active_alert: bool | None = None
    associated_threats: list[str] = []
    remediation_type: str | None = None
    status: str | None = None
    config_score_impact: float | None = None
    exposure_impact: float | None = None
    total_machine_count: int | None = None
    exposed_machines_count: int | None = None
    related_component: str | None = None


class ExposureScore(DefenderModel):
    """The organisation's exposure score (``{time, score}``)."""

    time: datetime | None = None
    score: float | None = None
