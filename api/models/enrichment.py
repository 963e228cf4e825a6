"""Entity enrichment models: files, IP addresses, domains, users (unknown fields kept).

Microsoft's pages spell the statistics two ways: the current ones write
``organizationPrevalence``/``globallyPrevalence`` as numbers, older captures (and the answers
some tenants still get) ``orgPrevalence``/``globalPrevalence`` as strings. Both are accepted and
read as integers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.validation import ascii_digits

__all__ = ["EntityEnrichment", "EntityStats", "FileInfo"]


class FileInfo(DefenderModel):
    """A file known to Defender (``GET /api/files/{sha1 or sha256}``)."""

    sha1: str | None = None
    sha256: str | None = None
    md5: str | None = None
    global_prevalence: int | None = None
    global_first_observed: datetime | None = None
    global_last_observed: datetime | None = None
    size: int | None = None
    file_type: str | None = None
    is_pe_file: bool | None = None
    file_publisher: str | None = None
    file_product_name: str | None = None
    signer: str | None = None
    issuer: str | None = None
    signer_hash: str | None = None
    is_valid_certificate: bool | None = None
    determination_type: str | None = None
    determination_value: str | None = None


class EntityStats(DefenderModel):
    """Prevalence of a file, IP address or domain (``.../stats``).

    ``sha1`` is set for files, ``ip_address`` for IPs, ``host`` for domains.
    """

    sha1: str | None = None
    ip_address: str | None = None
    host: str | None = None
    # current pages: organizationPrevalence (number); older ones: orgPrevalence (string)
    organization_prevalence: int | None = Field(
        default=None,
        validation_alias=AliasChoices("organizationPrevalence", "orgPrevalence"),
    )
    org_first_seen: datetime | None = None
    org_last_seen: datetime | None = None
    # current pages: globallyPrevalence (sic, number); older ones: globalPrevalence (string)
    global_prevalence: int | None = Field(
        default=None,
        validation_alias=AliasChoices("globallyPrevalence", "globalPrevalence"),
        serialization_alias="globallyPrevalence",
    )
    global_first_observed: datetime | None = None
    global_last_observed: datetime | None = None
    top_file_names: list[str] = []

    @field_validator("organization_prevalence", "global_prevalence", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().replace(",", "")
            return int(text) if ascii_digits(text) else None
        return value


class EntityEnrichment(DefenderModel):
    """Everything :func:`~prefect_defender.tasks.enrichment.enrich_entities` learnt about one
    entity. ``errors`` holds the lookups that failed (by name), the others are filled in."""

    kind: str = Field(description="file, ip, domain or user")
    value: str
    file: FileInfo | None = None
    stats: EntityStats | None = None
    alerts: list[Alert] = []
    machines: list[Machine] = []
    errors: dict[str, str] = {}

    @property
    def alert_ids(self) -> list[str]:
        """Ids of the related alerts."""
        return [a.id for a in self.alerts]

    @property
    def machine_names(self) -> list[str]:
        """DNS names (or ids) of the related machines."""
        return [m.computer_dns_name or m.id for m in self.machines]
