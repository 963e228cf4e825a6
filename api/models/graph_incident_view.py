"""A Graph security incident as the playbooks' :class:`~prefect_defender.api.models.incidents.
Incident`: XDR's field names and value spellings, devices and entities from the alerts' evidence.

The mapping, read from Microsoft's pages:

* incident (https://learn.microsoft.com/graph/api/resources/security-incident): ``id`` (a string
  of digits, the same number as XDR's ``incidentId`` and the portal's) -> ``incidentId``;
  ``displayName`` -> ``incidentName``; ``createdDateTime``/``lastUpdateDateTime`` ->
  ``createdTime``/``lastUpdateTime``; ``customTags`` -> ``tags`` (``systemTags`` kept as
  ``system_tags``); comments' ``createdByDisplayName``/``createdDateTime`` -> ``createdBy``/
  ``createdTime``; the enums (``high``, ``inProgress``, ``truePositive``) in XDR's PascalCase
  (``High``, ``InProgress``, ``TruePositive``), Graph's ``unknown`` severity as ``UnSpecified``
  and ``unknown`` determination as ``NotAvailable`` (XDR's words for "not set").
* alert (https://learn.microsoft.com/graph/api/resources/security-alert): ``id`` -> ``alertId``,
  ``createdDateTime``/``lastUpdateDateTime`` -> ``creationTime``/``lastUpdatedTime``; the alert's
  ``evidence`` (https://learn.microsoft.com/graph/api/resources/security-alertevidence) gives
  ``devices`` (``deviceEvidence``: ``mdeDeviceId`` is MDE's machine id) and ``entities``
  (``fileEvidence``, ``processEvidence``, ``ipEvidence``, ``urlEvidence``, ``userEvidence``,
  ``mailboxEvidence`` ...; other kinds keep their fields under their own ``entityType``).
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.errors import InvalidResponseError
from prefect_defender.api.models.incidents import (
    GraphAlert,
    GraphComment,
    GraphIncident,
    Incident,
    IncidentAlert,
    IncidentComment,
    IncidentDevice,
    IncidentEntity,
    IncidentSurface,
)

__all__ = [
    "alert_from_graph",
    "graph_determination",
    "incident_comment",
    "incident_from_graph",
    "xdr_spelling",
]

#: Graph's "not set" values and XDR's words for them, per field
_NOT_SET = {"severity": "UnSpecified", "determination": "NotAvailable"}
#: the one determination XDR spells differently from Graph's camelCase (XDR PATCH page)
_XDR_TO_GRAPH_DETERMINATION = {"NoEnoughDataToValidate": "notEnoughDataToValidate"}


def xdr_spelling(value: str | None, field: str = "") -> str | None:
    """A Graph enum value in XDR's spelling: ``inProgress`` -> ``InProgress``."""
    if not value:
        return value
    if value == "unknown" and field in _NOT_SET:
        return _NOT_SET[field]
    return value[:1].upper() + value[1:]


def graph_determination(value: str) -> str:
    """An (already checked) XDR determination in Graph's spelling: ``NotAvailable`` ->
    ``unknown``, ``NoEnoughDataToValidate`` -> ``notEnoughDataToValidate``."""
    if value == "NotAvailable":
        return "unknown"
    value = _XDR_TO_GRAPH_DETERMINATION.get(value, value)
    return value[:1].lower() + value[1:]


def _evidence_kind(item: dict[str, Any]) -> str:
    """``#microsoft.graph.security.fileEvidence`` -> ``file``."""
    kind = str(item.get("@odata.type") or "").rsplit(".", 1)[-1]
    return kind.removesuffix("Evidence") or "unknown"


def _device(item: dict[str, Any]) -> IncidentDevice:
    return IncidentDevice.model_validate(
        {
            "deviceId": item.get("mdeDeviceId"),
            "aadDeviceId": item.get("azureAdDeviceId"),
            "deviceDnsName": item.get("deviceDnsName"),
            "osPlatform": item.get("osPlatform"),
            "healthStatus": xdr_spelling(item.get("healthStatus")),
            "riskScore": xdr_spelling(item.get("riskScore")),
            "rbacGroupName": item.get("rbacGroupName"),
        }
    )


def _file_fields(details: Any) -> dict[str, Any]:
    d = details if isinstance(details, dict) else {}
    return {k: d.get(k) for k in ("sha1", "sha256", "fileName", "filePath")}


def _account_fields(account: Any) -> dict[str, Any]:
    a = account if isinstance(account, dict) else {}
    return {
        "accountName": a.get("accountName"),
        "domainName": a.get("domainName"),
        "userPrincipalName": a.get("userPrincipalName"),
        "aadUserId": a.get("azureAdUserId"),
        "userSid": a.get("userSid"),
    }


def _entity_fields(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """XDR's entity type and fields for one evidence item of ``kind``."""
    if kind == "file":
        return {"entityType": "File", **_file_fields(item.get("fileDetails"))}
    if kind == "process":
        return {
            "entityType": "Process",
            **_file_fields(item.get("imageFile")),
            "processId": item.get("processId"),
            "processCommandLine": item.get("processCommandLine"),
        }
    if kind == "ip":
        return {"entityType": "Ip", "ipAddress": item.get("ipAddress")}
    if kind == "url":
        return {"entityType": "Url", "url": item.get("url")}
    if kind == "user":
        return {"entityType": "User", **_account_fields(item.get("userAccount"))}
    if kind == "mailbox":
        return {
            "entityType": "MailBox",
            "mailboxAddress": item.get("primaryAddress"),
            "mailboxDisplayName": item.get("displayName"),
            **_account_fields(item.get("userAccount")),
        }
    # every other kind keeps its own fields, named after its evidence type
    fields = {k: v for k, v in item.items() if not k.startswith("@")}
    return {**fields, "entityType": kind[:1].upper() + kind[1:]}


def alert_from_graph(alert: GraphAlert) -> IncidentAlert:
    """A Graph alert (``alerts_v2``) as an incident's alert: devices and entities from its
    evidence, XDR's spellings.

    Example:
        ```python
        async with creds.get_client() as client:
            alert = alert_from_graph(await client.graph_alerts.get(graph_alert_id))
            print([d.device_id for d in alert.devices])
        ```
    """
    devices: list[IncidentDevice] = []
    entities: list[IncidentEntity] = []
    for item in alert.evidence:
        kind = _evidence_kind(item)
        if kind == "device":
            devices.append(_device(item))
            continue
        fields = _entity_fields(kind, item)
        fields.setdefault("deviceId", item.get("mdeDeviceId"))
        entities.append(IncidentEntity.model_validate(fields))
    return IncidentAlert.model_validate(
        {
            "alertId": alert.id,
            "providerAlertId": alert.provider_alert_id,
            "incidentId": alert.incident_id,
            "serviceSource": xdr_spelling(alert.service_source),
            "creationTime": alert.created_date_time,
            "lastUpdatedTime": alert.last_update_date_time,
            "title": alert.title,
            "category": alert.category,
            "status": xdr_spelling(alert.status),
            "severity": xdr_spelling(alert.severity, "severity"),
            "detectionSource": xdr_spelling(alert.detection_source),
            "mitreTechniques": list(alert.mitre_techniques),
            "devices": devices,
            "entities": entities,
        }
    )


def _incident_number(graph_id: str) -> int:
    if not graph_id.isdigit():
        raise InvalidResponseError(
            f"Graph answered incident id {graph_id[:40]!r}, not a string of digits",
            code="UnexpectedIncidentId",
        )
    return int(graph_id)


def incident_comment(comment: GraphComment) -> IncidentComment:
    """A Graph ``alertComment`` in XDR's words (``createdBy``, ``createdTime``)."""
    return IncidentComment(
        comment=comment.comment,
        created_by=comment.created_by_display_name,
        created_time=comment.created_date_time,
    )


def incident_from_graph(incident: GraphIncident) -> Incident:
    """``incident`` (read on Graph, with its alerts if they were expanded) as an
    :class:`Incident`, with ``surface="graph"``.

    Example:
        ```python
        async with creds.get_client() as client:
            graph = await client.graph_incidents.get(1001, expand_alerts=True)
            print(incident_from_graph(graph).device_ids())
        ```
    """
    comments = [incident_comment(c) for c in incident.comments]
    return Incident.model_validate(
        {
            "incidentId": _incident_number(incident.id),
            "surface": IncidentSurface.GRAPH,
            "redirectIncidentId": incident.redirect_incident_id or None,
            "incidentName": incident.display_name,
            "incidentWebUrl": incident.incident_web_url,
            "createdTime": incident.created_date_time,
            "lastUpdateTime": incident.last_update_date_time,
            "assignedTo": incident.assigned_to,
            "classification": xdr_spelling(incident.classification),
            "determination": xdr_spelling(incident.determination, "determination"),
            "status": xdr_spelling(incident.status),
            "severity": xdr_spelling(incident.severity, "severity"),
            "tags": list(incident.custom_tags),
            "systemTags": list(incident.system_tags),
            "comments": comments,
            "alerts": [alert_from_graph(a) for a in incident.alerts],
        }
    )
