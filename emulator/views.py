"""The JSON shapes each surface serves, built from the shared stored records.

Stored incidents are XDR-shaped without alerts; alerts are stored MDE-shaped with their
entities. XDR incidents embed their alerts (with devices and entities); Graph incidents and
``alerts_v2`` use Graph's camelCase names, lower-case enums and polymorphic evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect_defender.emulator.state import Tenant

__all__ = [
    "graph_alert",
    "graph_incident",
    "graph_incident_views",
    "incident_alerts",
    "mde_file",
    "touch_incident",
    "xdr_incident",
]

_GRAPH_STATUS = {
    "Active": "active",
    "InProgress": "inProgress",
    "Resolved": "resolved",
    "Redirected": "redirected",
}
_GRAPH_ALERT_STATUS = {"New": "new", "InProgress": "inProgress", "Resolved": "resolved"}


def _lower_first(v: str | None) -> str | None:
    if not v:
        return v
    return v[0].lower() + v[1:]


def _graph_severity(v: str | None) -> str:
    return {"UnSpecified": "unknown", None: "unknown"}.get(v, _lower_first(v) or "unknown")


def incident_alerts(tenant: Tenant, incident_id: int) -> list[dict[str, Any]]:
    """Stored alerts of an incident, oldest first."""
    found = [a for a in tenant.data["alerts"].values() if a.get("incidentId") == incident_id]
    return sorted(found, key=lambda a: a["alertCreationTime"])


def _xdr_alert(tenant: Tenant, a: dict[str, Any]) -> dict[str, Any]:
    machine = tenant.data["machines"].get(a.get("machineId") or "")
    devices = []
    if machine:
        devices.append(
            {
                "deviceId": machine["id"],
                "aadDeviceId": machine.get("aadDeviceId"),
                "deviceDnsName": machine["computerDnsName"],
                "osPlatform": machine["osPlatform"],
                "osBuild": machine.get("osBuild"),
                "rbacGroupName": machine.get("rbacGroupName"),
                "firstSeen": machine.get("firstSeen"),
                "healthStatus": machine.get("healthStatus"),
                "riskScore": machine.get("riskScore"),
                "tags": list(machine.get("machineTags") or []),
            }
        )
    return {
        "alertId": a["id"],
        "incidentId": a["incidentId"],
        "serviceSource": "MicrosoftDefenderForEndpoint",
        "creationTime": a["alertCreationTime"],
        "lastUpdatedTime": a["lastUpdateTime"],
        "resolvedTime": a.get("resolvedTime"),
        "firstActivity": a.get("firstEventTime"),
        "lastActivity": a.get("lastEventTime"),
        "title": a["title"],
        "description": a.get("description"),
        "category": a.get("category"),
        "status": {"New": "New", "InProgress": "InProgress", "Resolved": "Resolved"}.get(
            a.get("status") or "", "New"
        ),
        "severity": a.get("severity"),
        "investigationId": a.get("investigationId"),
        "investigationState": a.get("investigationState"),
        "classification": a.get("classification"),
        "determination": a.get("determination"),
        "detectionSource": a.get("detectionSource"),
        "assignedTo": a.get("assignedTo"),
        "threatFamilyName": a.get("threatFamilyName"),
        "mitreTechniques": list(a.get("mitreTechniques") or []),
        "devices": devices,
        "entities": [dict(e) for e in a.get("entities") or []],
    }


def xdr_incident(tenant: Tenant, inc: dict[str, Any]) -> dict[str, Any]:
    """An incident as ``GET /api/incidents`` returns it."""
    out = {k: v for k, v in inc.items() if not k.startswith("_") and k != "description"}
    out["comments"] = [dict(c) for c in inc.get("comments") or []]
    out["tags"] = list(inc.get("tags") or [])
    out["alerts"] = [_xdr_alert(tenant, a) for a in incident_alerts(tenant, inc["incidentId"])]
    return out


def _evidence_item(kind: str, verdict: str, **fields: Any) -> dict[str, Any]:
    """One Graph evidence object: ``#microsoft.graph.security.<kind>Evidence``."""
    return {
        "@odata.type": f"#microsoft.graph.security.{kind}Evidence",
        "roles": [],
        "verdict": verdict,
        **fields,
    }


def _device_evidence(machine: dict[str, Any]) -> dict[str, Any]:
    return _evidence_item(
        "device",
        "suspicious",
        remediationStatus="none",
        mdeDeviceId=machine["id"],
        azureAdDeviceId=machine.get("aadDeviceId"),
        deviceDnsName=machine["computerDnsName"],
        osPlatform=machine["osPlatform"],
        healthStatus=_lower_first(machine.get("healthStatus")),
        riskScore=_lower_first(machine.get("riskScore")),
        rbacGroupName=machine.get("rbacGroupName"),
        ipInterfaces=[machine.get("lastIpAddress")],
    )


def _file_evidence(e: dict[str, Any]) -> dict[str, Any]:
    return _evidence_item(
        "file",
        "malicious",
        remediationStatus="none",
        mdeDeviceId=e.get("deviceId"),
        fileDetails={
            "sha1": e.get("sha1"),
            "sha256": e.get("sha256"),
            "fileName": e.get("fileName"),
            "filePath": e.get("filePath"),
        },
    )


def _user_evidence(e: dict[str, Any]) -> dict[str, Any]:
    return _evidence_item(
        "user",
        "suspicious",
        userAccount={
            "accountName": e.get("accountName"),
            "domainName": e.get("domainName"),
            "userPrincipalName": e.get("userPrincipalName"),
        },
    )


#: the Graph evidence of each MDE entity type (other entity types have none)
_ENTITY_EVIDENCE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "File": _file_evidence,
    "Ip": lambda e: _evidence_item("ip", "suspicious", ipAddress=e.get("ipAddress")),
    "Url": lambda e: _evidence_item("url", "suspicious", url=e.get("url")),
    "User": _user_evidence,
}


def _evidence(tenant: Tenant, a: dict[str, Any]) -> list[dict[str, Any]]:
    """An alert's Graph evidence: its device, then one item per file, IP, URL and user entity."""
    machine = tenant.data["machines"].get(a.get("machineId") or "")
    ev = [_device_evidence(machine)] if machine else []
    for e in a.get("entities") or []:
        build = _ENTITY_EVIDENCE.get(e.get("entityType") or "")
        if build is not None:
            ev.append(build(e))
    return ev


def graph_alert(tenant: Tenant, a: dict[str, Any]) -> dict[str, Any]:
    """An alert as Graph ``security/alerts_v2`` returns it."""
    return {
        "id": a["id"],
        "providerAlertId": a["id"],
        "incidentId": str(a.get("incidentId")) if a.get("incidentId") is not None else None,
        "status": _GRAPH_ALERT_STATUS.get(a.get("status") or "", "new"),
        "severity": _graph_severity(a.get("severity")),
        "classification": _lower_first(a.get("classification")),
        "determination": _lower_first(a.get("determination")),
        "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": _lower_first(a.get("detectionSource")),
        "detectorId": a.get("detectorId"),
        "tenantId": tenant.tenant_id,
        "title": a["title"],
        "description": a.get("description"),
        "category": a.get("category"),
        "assignedTo": a.get("assignedTo"),
        "alertWebUrl": f"https://security.microsoft.com/alerts/{a['id']}?tid={tenant.tenant_id}",
        "incidentWebUrl": f"https://security.microsoft.com/incidents/{a.get('incidentId')}"
        f"?tid={tenant.tenant_id}",
        "actorDisplayName": None,
        "threatDisplayName": a.get("threatFamilyName"),
        "threatFamilyName": a.get("threatFamilyName"),
        "mitreTechniques": list(a.get("mitreTechniques") or []),
        "createdDateTime": a["alertCreationTime"],
        "lastUpdateDateTime": a["lastUpdateTime"],
        "resolvedDateTime": a.get("resolvedTime"),
        "firstActivityDateTime": a.get("firstEventTime"),
        "lastActivityDateTime": a.get("lastEventTime"),
        "comments": [dict(c) for c in a.get("graphComments") or []],
        "evidence": _evidence(tenant, a),
    }


def graph_incident(tenant: Tenant, inc: dict[str, Any], expand_alerts: bool) -> dict[str, Any]:
    """An incident as Graph ``security/incidents`` returns it."""
    out: dict[str, Any] = {
        "id": str(inc["incidentId"]),
        "tenantId": tenant.tenant_id,
        "status": _GRAPH_STATUS.get(inc.get("status") or "", "active"),
        "incidentWebUrl": f"https://security.microsoft.com/incidents/{inc['incidentId']}"
        f"?tid={tenant.tenant_id}",
        "redirectIncidentId": str(inc["redirectIncidentId"])
        if inc.get("redirectIncidentId")
        else None,
        "displayName": inc.get("incidentName"),
        "createdDateTime": inc["createdTime"],
        "lastUpdateDateTime": inc["lastUpdateTime"],
        "assignedTo": inc.get("assignedTo"),
        "classification": _lower_first(inc.get("classification")) or "unknown",
        "determination": {"NotAvailable": "unknown"}.get(
            inc.get("determination") or "", _lower_first(inc.get("determination")) or "unknown"
        ),
        "severity": _graph_severity(inc.get("severity")),
        "customTags": list(inc.get("tags") or []),
        "systemTags": [],
        "description": inc.get("description"),
        "summary": None,
        "comments": [
            {
                "comment": c.get("comment"),
                "createdByDisplayName": c.get("createdBy"),
                "createdDateTime": c.get("createdTime"),
            }
            for c in inc.get("comments") or []
        ],
    }
    if expand_alerts:
        out["alerts"] = [graph_alert(tenant, a) for a in incident_alerts(tenant, inc["incidentId"])]
    return out


def touch_incident(tenant: Tenant, incident: dict[str, Any], when: str | None = None) -> None:
    """Mark an incident changed: new ``lastUpdateTime`` and a bumped write counter.

    Every change to a stored incident must go through here so cached list views stay right.
    """
    from prefect_defender.emulator.seed import iso

    incident["lastUpdateTime"] = when or iso(datetime.now(UTC))
    tenant.counters["incident_writes"] += 1


def graph_incident_views(tenant: Tenant) -> list[dict[str, Any]]:
    """Graph views of every incident, newest first (cached until an incident changes)."""
    key = (len(tenant.data["incidents"]), tenant.counters["incident_writes"])
    cached = tenant.data["_cache"].get("graph_incidents")
    if cached is not None and cached[0] == key:
        return list(cached[1])
    views = [graph_incident(tenant, i, False) for i in tenant.data["incidents"].values()]
    views.sort(key=lambda v: (v["lastUpdateDateTime"], int(v["id"])), reverse=True)
    tenant.data["_cache"]["graph_incidents"] = (key, views)
    return list(views)


def mde_file(
    sha1: str | None,
    sha256: str | None,
    md5: str | None,
    *,
    prevalence: int,
    first_seen: str | None,
    last_seen: str | None,
    determination: tuple[str, str | None],
) -> dict[str, Any]:
    """A file as MDE's File entity describes it (every emulated file is the same 180 KB
    unsigned executable; ``determination`` is ``(type, value)``)."""
    return {
        "sha1": sha1,
        "sha256": sha256,
        "md5": md5,
        "globalPrevalence": prevalence,
        "globalFirstObserved": first_seen,
        "globalLastObserved": last_seen,
        "size": 184320,
        "fileType": "PortableExecutable",
        "isPeFile": True,
        "filePublisher": None,
        "fileProductName": None,
        "signer": None,
        "issuer": None,
        "signerHash": None,
        "isValidCertificate": False,
        "determinationType": determination[0],
        "determinationValue": determination[1],
    }
