"""Incident models: Defender XDR (``/api/incidents``) and Graph (``security/incidents``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field

from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.models.enrichment import FileInfo
from prefect_defender.api.models.machines import LogonUser, Machine

__all__ = [
    "AlertDomain",
    "AlertIp",
    "AlertRelated",
    "GraphAlert",
    "GraphComment",
    "GraphIncident",
    "Incident",
    "IncidentAlert",
    "IncidentComment",
    "IncidentDevice",
    "IncidentEntity",
    "IncidentSurface",
]


class IncidentSurface(StrEnum):
    """Where incidents are read and written: Microsoft Graph (the default) or Defender XDR
    (retiring 1 February 2027, Message Center MC1220762; only when asked for)."""

    GRAPH = "graph"
    XDR = "xdr"


class IncidentComment(DefenderModel):
    """A comment on an incident."""

    comment: str | None = None
    created_by: str | None = None
    created_time: datetime | None = None


class IncidentDevice(DefenderModel):
    """A device named by an incident's alert (``deviceId`` is the MDE machine id)."""

    # the list page spells it both ``deviceId`` and ``DeviceId``: accept both
    device_id: str | None = Field(
        default=None, validation_alias=AliasChoices("deviceId", "DeviceId")
    )
    aad_device_id: str | None = None
    device_dns_name: str | None = None
    os_platform: str | None = None
    health_status: str | None = None
    risk_score: str | None = None
    rbac_group_name: str | None = None


class IncidentEntity(DefenderModel):
    """An entity of an alert: file, IP, URL, user, process, mailbox, registry ... (open)."""

    entity_type: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    file_name: str | None = None
    file_path: str | None = None
    ip_address: str | None = None
    url: str | None = None
    account_name: str | None = None
    domain_name: str | None = None
    user_principal_name: str | None = None
    aad_user_id: str | None = None
    device_id: str | None = None


class IncidentAlert(DefenderModel):
    """An alert embedded in an XDR incident."""

    alert_id: str | None = None
    provider_alert_id: str | None = None  # Graph's providerAlertId (Graph-read incidents)
    incident_id: int | None = None
    service_source: str | None = None
    creation_time: datetime | None = None
    last_updated_time: datetime | None = None
    title: str | None = None
    category: str | None = None
    status: str | None = None
    severity: str | None = None
    detection_source: str | None = None
    mitre_techniques: list[str] = []
    devices: list[IncidentDevice] = []
    entities: list[IncidentEntity] = []

    def device_ids(self) -> list[str]:
        """MDE machine ids of the alert's devices, in order, without duplicates."""
        return list(dict.fromkeys(d.device_id for d in self.devices if d.device_id))


class Incident(DefenderModel):
    """An incident as the playbooks see it, whichever surface it was read from.

    The field names and values are Defender XDR's (``GET /api/incidents``: ``incidentName``,
    ``Active``, ``High``, ``tags``, alerts with ``devices`` and ``entities``); an incident read
    on Graph is converted to them (:func:`prefect_defender.api.models.graph_incident_view.
    incident_from_graph`), so the same incident looks the same from both. ``surface`` says where
    it came from.
    """

    incident_id: int
    surface: IncidentSurface = IncidentSurface.XDR
    redirect_incident_id: int | None = None
    incident_name: str | None = None
    created_time: datetime | None = None
    last_update_time: datetime | None = None
    assigned_to: str | None = None
    classification: str | None = None
    determination: str | None = None
    status: str | None = None
    severity: str | None = None
    tags: list[str] = []
    system_tags: list[str] = []  # Graph's systemTags (Graph-read incidents)
    incident_web_url: str | None = None  # Graph's incidentWebUrl (Graph-read incidents)
    comments: list[IncidentComment] = []
    alerts: list[IncidentAlert] = []

    def device_ids(self) -> list[str]:
        """MDE machine ids named by the incident's alerts, in order, without duplicates."""
        return list(dict.fromkeys(i for alert in self.alerts for i in alert.device_ids()))


class GraphComment(DefenderModel):
    """A comment on a Graph alert or incident (``alertComment``).

    The alertComment page spells the author and time ``createdByDisplayName``/``createdDateTime``;
    the incident PATCH example answers with ``createdBy``/``createdTime``: both are accepted.
    """

    comment: str | None = None
    created_by_display_name: str | None = Field(
        default=None, validation_alias=AliasChoices("createdByDisplayName", "createdBy")
    )
    created_date_time: datetime | None = Field(
        default=None, validation_alias=AliasChoices("createdDateTime", "createdTime")
    )


class GraphAlert(DefenderModel):
    """A Graph security alert (``alerts_v2``); ``evidence`` items are polymorphic dicts."""

    id: str
    provider_alert_id: str | None = None
    incident_id: str | None = None
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    classification: str | None = None
    determination: str | None = None
    service_source: str | None = None
    detection_source: str | None = None
    category: str | None = None
    assigned_to: str | None = None
    alert_web_url: str | None = None
    created_date_time: datetime | None = None
    last_update_date_time: datetime | None = None
    first_activity_date_time: datetime | None = None
    last_activity_date_time: datetime | None = None
    resolved_date_time: datetime | None = None
    mitre_techniques: list[str] = []
    comments: list[GraphComment] = []
    evidence: list[dict[str, Any]] = []


class GraphIncident(DefenderModel):
    """A Graph security incident (``GET /security/incidents``)."""

    id: str
    tenant_id: str | None = None
    display_name: str | None = None
    created_date_time: datetime | None = None
    last_update_date_time: datetime | None = None
    assigned_to: str | None = None
    classification: str | None = None
    determination: str | None = None
    status: str | None = None
    severity: str | None = None
    custom_tags: list[str] = []
    system_tags: list[str] = []
    incident_web_url: str | None = None
    redirect_incident_id: str | None = None
    description: str | None = None
    comments: list[GraphComment] = []
    alerts: list[GraphAlert] = []


class AlertDomain(DefenderModel):
    """A domain related to an alert (``GET /api/alerts/{id}/domains``)."""

    host: str


class AlertIp(DefenderModel):
    """An IP address related to an alert (``GET /api/alerts/{id}/ips``)."""

    id: str


class AlertRelated(DefenderModel):
    """Entities related to an MDE alert; a relation not asked for, or that failed, is ``None``.

    ``errors`` maps a failed relation (each needs its own permission) to the error's dict.
    """

    alert_id: str
    domains: list[AlertDomain] | None = None
    files: list[FileInfo] | None = None
    ips: list[AlertIp] | None = None
    machine: Machine | None = None
    user: LogonUser | None = None
    errors: dict[str, dict[str, Any]] = {}
