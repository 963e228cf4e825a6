"""Enrichment, investigation, vulnerability and live response models (unknown fields kept)."""

from __future__ import annotations

from datetime import datetime

from prefect_defender.api.models.common import DefenderModel

__all__ = [
    "EntityStats",
    "ExposureScore",
    "FileInfo",
    "Investigation",
    "LibraryFile",
    "Recommendation",
    "Software",
    "Vulnerability",
]


class FileInfo(DefenderModel):
    """A file known to Defender (``GET /api/files/{hash}``)."""

    sha1: str | None = None
    sha256: str | None = None
    md5: str | None = None
    global_prevalence: int | None = None
    size: int | None = None
    file_type: str | None = None
    is_pe_file: bool | None = None
    signer: str | None = None
    is_valid_certificate: bool | None = None
    determination_type: str | None = None
    determination_value: str | None = None


class EntityStats(DefenderModel):
    """Prevalence statistics of a file, IP or domain in the organisation."""

    org_prevalence: str | None = None
    org_first_seen: datetime | None = None
    org_last_seen: datetime | None = None
    global_prevalence: str | None = None
    top_file_names: list[str] = []


class Investigation(DefenderModel):
    """An automated investigation."""

    id: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    state: str | None = None
    cancelled_by: str | None = None
    status_details: str | None = None
    machine_id: str | None = None
    computer_dns_name: str | None = None
    triggering_alert_id: str | None = None


class Software(DefenderModel):
    """A software product in the inventory."""

    id: str
    name: str | None = None
    vendor: str | None = None
    weaknesses: int | None = None
    public_exploit: bool | None = None
    exposed_machines: int | None = None
    impact_score: float | None = None


class Vulnerability(DefenderModel):
    """A CVE as threat and vulnerability management reports it."""

    id: str
    name: str | None = None
    description: str | None = None
    severity: str | None = None
    cvss_v3: float | None = None
    exposed_machines: int | None = None
    published_on: datetime | None = None
    public_exploit: bool | None = None


class Recommendation(DefenderModel):
    """A security recommendation."""

    id: str
    product_name: str | None = None
    recommendation_name: str | None = None
    vendor: str | None = None
    severity_score: float | None = None
    remediation_type: str | None = None
    status: str | None = None
    exposed_machines_count: int | None = None


class ExposureScore(DefenderModel):
    """The organisation's exposure score at a time."""

    time: datetime | None = None
    score: float | None = None


class LibraryFile(DefenderModel):
    """A file in the live response library."""

    file_name: str
    sha256: str | None = None
    description: str | None = None
    has_parameters: bool | None = None
    parameters_description: str | None = None
    created_by: str | None = None
