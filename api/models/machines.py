"""Defender for Endpoint machine (device) entity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from prefect_defender.api.models.common import DefenderModel

__all__ = ["HealthStatus", "LogonUser", "Machine", "MachineIp", "RiskScore", "TagAction"]


class MachineIp(DefenderModel):
    """One address of a machine's network adapter."""

    ip_address: str | None = None
    mac_address: str | None = None
    type: str | None = None
    operational_status: str | None = None


class Machine(DefenderModel):
    """A device onboarded to Defender for Endpoint (``GET /api/machines``).

    ``health_status``, ``risk_score``, ``exposure_level``, ``device_value`` and
    ``onboarding_status`` are open strings (documented values in docs/reference.md).
    """

    id: str
    computer_dns_name: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    os_platform: str | None = None
    os_version: str | None = None
    os_processor: str | None = None
    version: str | None = None
    last_ip_address: str | None = None
    last_external_ip_address: str | None = None
    health_status: str | None = None
    onboarding_status: str | None = None
    device_value: str | None = None
    rbac_group_id: int | None = None
    rbac_group_name: str | None = None
    risk_score: str | None = None
    exposure_level: str | None = None
    is_aad_joined: bool | None = None
    aad_device_id: str | None = None
    machine_tags: list[str] = []
    ip_addresses: list[MachineIp] = []


class HealthStatus(StrEnum):
    """Documented ``healthStatus`` values (for filters; responses keep open strings)."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"
    IMPAIRED_COMMUNICATION = "ImpairedCommunication"
    NO_SENSOR_DATA = "NoSensorData"
    NO_SENSOR_DATA_IMPAIRED_COMMUNICATION = "NoSensorDataImpairedCommunication"
    UNKNOWN = "Unknown"


class RiskScore(StrEnum):
    """Documented ``riskScore`` values (for filters)."""

    NONE = "None"
    INFORMATIONAL = "Informational"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


class TagAction(StrEnum):
    """``Action`` of the tag endpoints."""

    ADD = "Add"
    REMOVE = "Remove"


class LogonUser(DefenderModel):
    """A user that logged on to a machine (``GET /api/machines/{id}/logonusers``)."""

    id: str
    account_name: str | None = None
    account_domain: str | None = None
    account_sid: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    logon_types: str | None = None
    is_domain_admin: bool | None = None
    is_only_network_user: bool | None = None
