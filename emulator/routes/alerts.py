"""Alerts (MDE ``/api/alerts`` and Graph ``/security/alerts_v2``) and incident updates
(XDR ``PATCH /api/incidents/{id}``, Graph ``PATCH /security/incidents/{id}`` and comments)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, parse_top_skip
from prefect_defender.emulator.routes.graph_incidents import next_link
from prefect_defender.emulator.routes.machines import find_machine, public
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import Tenant
from prefect_defender.emulator.views import (
    graph_alert,
    graph_incident,
    touch_incident,
    xdr_incident,
)

A_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
A_READ_D = ("Alert.Read", "Alert.ReadWrite")
A_WRITE = ("Alert.ReadWrite.All",)
A_WRITE_D = ("Alert.ReadWrite",)
ALERT_FILTERS = (
    "alertCreationTime",
    "lastUpdateTime",
    "incidentId",
    "investigationId",
    "id",
    "assignedTo",
    "detectionSource",
    "lastEventTime",
    "status",
    "severity",
    "category",
)
GRAPH_ALERT_FILTERS = (
    "assignedTo",
    "classification",
    "determination",
    "createdDateTime",
    "lastUpdateDateTime",
    "severity",
    "serviceSource",
    "status",
)

# documented values; both spellings where Microsoft's pages disagree
CLASSIFICATION_GROUPS = {
    "TruePositive": {
        "MultiStagedAttack",
        "MaliciousUserActivity",
        "CompromisedUser",
        "CompromisedAccount",
        "Malware",
        "Phishing",
        "UnwantedSoftware",
        "Apt",
        "SecurityPersonnel",
        "Other",
    },
    "InformationalExpectedActivity": {
        "SecurityTesting",
        "LineOfBusinessApplication",
        "ConfirmedUserActivity",
        "ConfirmedActivity",
        "Other",
    },
    "FalsePositive": {
        "Clean",
        "NotMalicious",
        "InsufficientData",
        "NoEnoughDataToValidate",
        "Other",
    },
    "Unknown": {"NotAvailable"},
}
GRAPH_STATUS = {
    "active": "Active",
    "inProgress": "InProgress",
    "resolved": "Resolved",
    "redirected": "Redirected",
    "awaitingAction": "Active",
}
GRAPH_ALERT_STATUS = {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"}
CATEGORIES = {
    "General",
    "CommandAndControl",
    "Collection",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Exfiltration",
    "Exploit",
    "Execution",
    "InitialAccess",
    "LateralMovement",
    "Malware",
    "Persistence",
    "PrivilegeEscalation",
    "Ransomware",
    "SuspiciousActivity",
}


def _now() -> str:
    return iso(datetime.now(UTC))


def _upper_first(v: str) -> str:
    return v[:1].upper() + v[1:]


def _check_fields(body: dict[str, Any], allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(
                400, "InvalidRequestBody", f"Request body is incorrect: unknown parameter '{key}'."
            )


def _triage(body: dict[str, Any], target: dict[str, Any]) -> None:
    c = body.get("classification")
    d = body.get("determination")
    if c is not None and c not in CLASSIFICATION_GROUPS:
        raise ApiError(400, "InvalidRequestBody", f"Invalid classification '{c}'.")
    if d is not None:
        group = c or target.get("classification") or "Unknown"
        if d not in CLASSIFICATION_GROUPS.get(group, set()):
            raise ApiError(
                400,
                "InvalidRequestBody",
                f"Determination '{d}' is not valid with classification '{group}'.",
            )


def _alert(tenant: Tenant, alert_id: str) -> dict[str, Any]:
    a: dict[str, Any] | None = tenant.data["alerts"].get(alert_id)
    if a is None:
        raise ApiError(404, "ResourceNotFound", f"Alert {alert_id} was not found")
    return a


def _mde_evidence(tenant: Tenant, a: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for e in a.get("entities") or []:
        t = e.get("entityType")
        row = {
            "entityType": t,
            "evidenceCreationTime": a["alertCreationTime"],
            "detectionStatus": "Detected" if t == "File" else None,
        }
        for key in (
            "sha1",
            "sha256",
            "fileName",
            "filePath",
            "ipAddress",
            "url",
            "accountName",
            "domainName",
            "userPrincipalName",
        ):
            if e.get(key) is not None:
                row[key] = e[key]
        out.append(row)
    return out


def mde_alert(tenant: Tenant, a: dict[str, Any], expand: bool = False) -> dict[str, Any]:
    """An alert as ``GET /api/alerts`` returns it."""
    out = {k: v for k, v in a.items() if k not in ("entities", "graphComments")}
    if expand:
        out["evidence"] = _mde_evidence(tenant, a)
    return out


@api("GET", "/api/alerts", surface="mde", app=A_READ, delegated=A_READ_D)
async def list_alerts(ctx: Ctx) -> Response:
    """List alerts ($top up to 10,000; ``$expand=evidence``)."""
    top, skip = parse_top_skip(ctx.query, 10_000)
    pred = compile_filter(ctx.query.get("$filter"), ALERT_FILTERS)
    expand = ctx.query.get("$expand")
    if expand not in (None, "evidence"):
        raise ApiError(400, "ODataError", f"Could not find a property named '{expand}'.")
    with ctx.state.lock:
        rows = [a for a in ctx.tenant.data["alerts"].values() if pred(a)]
        rows.sort(key=lambda a: a["alertCreationTime"], reverse=True)
        page = [mde_alert(ctx.tenant, a, expand == "evidence") for a in rows[skip : skip + top]]
    return JSONResponse(
        {"@odata.context": f"{ctx.request.base_url}api/$metadata#Alerts", "value": page}
    )


@api("GET", "/api/alerts/{id}", surface="mde", app=A_READ, delegated=A_READ_D)
async def get_alert(ctx: Ctx) -> Response:
    """One alert."""
    with ctx.state.lock:
        return JSONResponse(mde_alert(ctx.tenant, _alert(ctx.tenant, ctx.params["id"]), True))


def _apply_alert_update(ctx: Ctx, a: dict[str, Any], body: dict[str, Any]) -> None:
    if "status" in body:
        if body["status"] not in ("New", "InProgress", "Resolved"):
            raise ApiError(400, "InvalidRequestBody", f"Invalid status '{body['status']}'.")
        a["status"] = body["status"]
        a["resolvedTime"] = _now() if body["status"] == "Resolved" else None
    if "assignedTo" in body:
        a["assignedTo"] = body["assignedTo"]
    if "classification" in body:
        a["classification"] = body["classification"]
    if "determination" in body:
        a["determination"] = body["determination"]
    if body.get("comment"):
        a.setdefault("comments", []).append(
            {"comment": body["comment"], "createdBy": ctx.caller, "createdTime": _now()}
        )
    a["lastUpdateTime"] = _now()


@api("PATCH", "/api/alerts/{id}", surface="mde", app=A_WRITE, delegated=A_WRITE_D)
async def update_alert(ctx: Ctx) -> Response:
    """Update an alert."""
    body = await ctx.body()
    _check_fields(body, {"status", "assignedTo", "classification", "determination", "comment"})
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        _triage(body, a)
        _apply_alert_update(ctx, a, body)
        return JSONResponse(mde_alert(ctx.tenant, a))


@api(
    "POST",
    "/api/alerts/batchUpdate",
    surface="mde",
    app=A_WRITE,
    delegated=A_WRITE_D,
    family="alerts_batch",
)
async def batch_update(ctx: Ctx) -> Response:
    """Update many alerts at once; 200 with an empty body."""
    body = await ctx.body()
    _check_fields(
        body, {"alertIds", "status", "assignedTo", "classification", "determination", "comment"}
    )
    ids = body.get("alertIds")
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'alertIds'.")
    update = {k: v for k, v in body.items() if k != "alertIds"}
    with ctx.state.lock:
        alerts = [_alert(ctx.tenant, str(i)) for i in ids]
        for a in alerts:
            _triage(update, a)
        for a in alerts:
            _apply_alert_update(ctx, a, update)
    return Response(status_code=200)


@api(
    "POST",
    "/api/alerts/CreateAlertByReference",
    surface="mde",
    app=A_WRITE,
    delegated=A_WRITE_D,
    family="create_alert",
)
async def create_by_reference(ctx: Ctx) -> Response:
    """Create an alert on top of an event."""
    body = await ctx.body()
    required = (
        "eventTime",
        "reportId",
        "machineId",
        "severity",
        "title",
        "description",
        "recommendedAction",
        "category",
    )
    _check_fields(body, set(required))
    for key in required:
        if not body.get(key):
            raise ApiError(400, "MissingRequiredParameter", f"Missing required parameter: '{key}'.")
    if body["severity"] not in ("Low", "Medium", "High"):
        raise ApiError(400, "InvalidRequestBody", f"Invalid severity '{body['severity']}'.")
    if body["category"] not in CATEGORIES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid category '{body['category']}'.")
    with ctx.state.lock:
        m = find_machine(ctx.tenant, str(body["machineId"]))
        aid = (
            "da"
            + hashlib.sha1(  # noqa: S324 - an id, not a security use
                f"{m['id']}{body['reportId']}{body['eventTime']}".encode()
            ).hexdigest()[:18]
        )
        now = _now()
        a = {
            "id": aid,
            "incidentId": None,
            "investigationId": None,
            "assignedTo": None,
            "severity": body["severity"],
            "status": "New",
            "classification": None,
            "determination": None,
            "investigationState": "Queued",
            "detectionSource": "CustomerTI",
            "category": body["category"],
            "threatFamilyName": None,
            "title": body["title"],
            "description": body["description"],
            "recommendedAction": body["recommendedAction"],
            "alertCreationTime": now,
            "firstEventTime": body["eventTime"],
            "lastEventTime": body["eventTime"],
            "lastUpdateTime": now,
            "resolvedTime": None,
            "machineId": m["id"],
            "computerDnsName": m["computerDnsName"],
            "rbacGroupName": m.get("rbacGroupName"),
            "aadTenantId": ctx.tenant.tenant_id,
            "mitreTechniques": [],
            "relatedUser": None,
            "comments": [],
            "entities": [],
        }
        ctx.tenant.data["alerts"][aid] = a
        return JSONResponse(mde_alert(ctx.tenant, a))


@api("GET", "/api/alerts/{id}/domains", surface="mde", app=("URL.Read.All",))
async def alert_domains(ctx: Ctx) -> Response:
    """Domains of the alert's URL entities."""
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        hosts = sorted(
            {
                urlsplit(e["url"]).hostname or ""
                for e in a.get("entities") or []
                if e.get("entityType") == "Url"
            }
            - {""}
        )
    return JSONResponse({"value": [{"host": h} for h in hosts]})


@api("GET", "/api/alerts/{id}/files", surface="mde", app=("File.Read.All",))
async def alert_files(ctx: Ctx) -> Response:
    """Files of the alert."""
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        files = [
            {
                "sha1": e.get("sha1"),
                "sha256": e.get("sha256"),
                "md5": None,
                "globalPrevalence": 3,
                "globalFirstObserved": a["firstEventTime"],
                "globalLastObserved": a["lastEventTime"],
                "size": 184320,
                "fileType": "PortableExecutable",
                "isPeFile": True,
                "filePublisher": None,
                "fileProductName": None,
                "signer": None,
                "issuer": None,
                "signerHash": None,
                "isValidCertificate": False,
                "determinationType": "Malware",
                "determinationValue": "Emulated",
            }
            for e in a.get("entities") or []
            if e.get("entityType") == "File"
        ]
    return JSONResponse({"value": files})


@api("GET", "/api/alerts/{id}/ips", surface="mde", app=("Ip.Read.All",))
async def alert_ips(ctx: Ctx) -> Response:
    """IP addresses of the alert."""
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        ips = [
            {"id": e["ipAddress"]} for e in a.get("entities") or [] if e.get("entityType") == "Ip"
        ]
    return JSONResponse({"value": ips})


@api(
    "GET",
    "/api/alerts/{id}/machine",
    surface="mde",
    app=("Machine.Read.All", "Machine.ReadWrite.All"),
    delegated=("Machine.Read", "Machine.ReadWrite"),
)
async def alert_machine(ctx: Ctx) -> Response:
    """The alert's machine."""
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        return JSONResponse(public(find_machine(ctx.tenant, a["machineId"])))


@api("GET", "/api/alerts/{id}/user", surface="mde", app=("User.Read.All",))
async def alert_user(ctx: Ctx) -> Response:
    """The alert's user."""
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        user = a.get("relatedUser")
        if not user:
            raise ApiError(404, "ResourceNotFound", f"No user related to alert {a['id']}")
    name = user["userName"]
    return JSONResponse(
        {
            "id": f"{user['domainName']}\\{name}",
            "accountName": name,
            "accountDomain": user["domainName"],
            "firstSeen": a["firstEventTime"],
            "lastSeen": a["lastEventTime"],
            "logonTypes": "Interactive",
            "isDomainAdmin": False,
            "isOnlyNetworkUser": False,
        }
    )


# -- Graph alerts_v2 --------------------------------------------------------------------------

G_ALERT_READ = ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All")


@api("GET", "/v1.0/security/alerts_v2", surface="graph", app=G_ALERT_READ)
async def graph_list_alerts(ctx: Ctx) -> Response:
    """List alerts (nextLink paging)."""
    top, skip = parse_top_skip(ctx.query, 2000, 50)
    pred = compile_filter(ctx.query.get("$filter"), GRAPH_ALERT_FILTERS)
    with ctx.state.lock:
        rows = [
            v
            for v in (graph_alert(ctx.tenant, a) for a in ctx.tenant.data["alerts"].values())
            if pred(v)
        ]
    rows.sort(key=lambda v: v["createdDateTime"], reverse=True)
    body: dict[str, Any] = {"value": rows[skip : skip + top]}
    if skip + top < len(rows):
        extra = {k: v for k, v in ctx.query.items() if k not in ("$top", "$skip")}
        body["@odata.nextLink"] = next_link(ctx, skip + top, top, extra)
    return JSONResponse(body)


@api("GET", "/v1.0/security/alerts_v2/{id}", surface="graph", app=G_ALERT_READ)
async def graph_get_alert(ctx: Ctx) -> Response:
    """One alert."""
    with ctx.state.lock:
        return JSONResponse(graph_alert(ctx.tenant, _alert(ctx.tenant, ctx.params["id"])))


@api(
    "PATCH", "/v1.0/security/alerts_v2/{id}", surface="graph", app=("SecurityAlert.ReadWrite.All",)
)
async def graph_update_alert(ctx: Ctx) -> Response:
    """Update an alert (Graph values)."""
    body = await ctx.body()
    _check_fields(body, {"status", "assignedTo", "classification", "determination"})
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        if "status" in body:
            if body["status"] not in GRAPH_ALERT_STATUS:
                raise ApiError(400, "BadRequest", f"Invalid status '{body['status']}'.")
            a["status"] = GRAPH_ALERT_STATUS[body["status"]]
        if "assignedTo" in body:
            a["assignedTo"] = body["assignedTo"]
        if body.get("classification"):
            a["classification"] = _upper_first(str(body["classification"]))
        if body.get("determination"):
            a["determination"] = _upper_first(str(body["determination"]))
        a["lastUpdateTime"] = _now()
        return JSONResponse(graph_alert(ctx.tenant, a))


def _graph_comment(ctx: Ctx, text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        raise ApiError(400, "BadRequest", "The comment must be a non-empty string.")
    return {"comment": text, "createdByDisplayName": ctx.caller, "createdDateTime": _now()}


@api(
    "POST",
    "/v1.0/security/alerts_v2/{id}/comments",
    surface="graph",
    app=("SecurityAlert.ReadWrite.All",),
)
async def graph_comment_alert(ctx: Ctx) -> Response:
    """Add a comment to an alert; returns all its comments."""
    body = await ctx.body()
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        a.setdefault("graphComments", []).append(_graph_comment(ctx, body.get("comment")))
        return JSONResponse(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#"
                "Collection(microsoft.graph.security.alertComment)",
                "value": list(a["graphComments"]),
            }
        )


# -- incident updates ------------------------------------------------------------------------


def _incident(tenant: Tenant, raw: str) -> dict[str, Any]:
    inc: dict[str, Any] | None = tenant.data["incidents"].get(int(raw)) if raw.isdigit() else None
    if inc is None:
        raise ApiError(404, "ResourceNotFound", f"Incident {raw} was not found")
    return inc


@api(
    "PATCH",
    "/api/incidents/{id}",
    surface="xdr",
    app=("Incident.ReadWrite.All",),
    delegated=("Incident.ReadWrite",),
    family="xdr_incidents",
)
async def update_incident(ctx: Ctx) -> Response:
    """Update an incident: status, assignedTo, classification, determination, tags, comment."""
    body = await ctx.body()
    _check_fields(
        body, {"status", "assignedTo", "classification", "determination", "tags", "comment"}
    )
    with ctx.state.lock:
        inc = _incident(ctx.tenant, ctx.params["id"])
        if "status" in body and body["status"] not in ("Active", "InProgress", "Resolved"):
            raise ApiError(400, "InvalidRequestBody", f"Invalid status '{body['status']}'.")
        _triage(body, inc)
        if "tags" in body and not (
            isinstance(body["tags"], list) and all(isinstance(t, str) for t in body["tags"])
        ):
            raise ApiError(400, "InvalidRequestBody", "tags must be a list of strings.")
        for key in ("status", "assignedTo", "classification", "determination", "tags"):
            if key in body:
                inc[key] = body[key]
        if body.get("comment"):
            inc.setdefault("comments", []).append(
                {"comment": body["comment"], "createdBy": ctx.caller, "createdTime": _now()}
            )
        touch_incident(ctx.tenant, inc)
        return JSONResponse(xdr_incident(ctx.tenant, inc))


@api(
    "PATCH",
    "/v1.0/security/incidents/{id}",
    surface="graph",
    app=("SecurityIncident.ReadWrite.All",),
)
async def graph_update_incident(ctx: Ctx) -> Response:
    """Update an incident (Graph values)."""
    body = await ctx.body()
    _check_fields(
        body,
        {"status", "assignedTo", "classification", "determination", "customTags", "description"},
    )
    with ctx.state.lock:
        inc = _incident(ctx.tenant, ctx.params["id"])
        if "status" in body:
            if body["status"] not in GRAPH_STATUS:
                raise ApiError(400, "BadRequest", f"Invalid status '{body['status']}'.")
            inc["status"] = GRAPH_STATUS[body["status"]]
        if "assignedTo" in body:
            inc["assignedTo"] = body["assignedTo"]
        if body.get("classification"):
            inc["classification"] = _upper_first(str(body["classification"]))
        if body.get("determination"):
            inc["determination"] = _upper_first(str(body["determination"]))
        if "customTags" in body:
            inc["tags"] = list(body["customTags"] or [])
        if "description" in body:
            inc["description"] = body["description"]
        touch_incident(ctx.tenant, inc)
        return JSONResponse(graph_incident(ctx.tenant, inc, False))


@api(
    "POST",
    "/v1.0/security/incidents/{id}/comments",
    surface="graph",
    app=("SecurityIncident.ReadWrite.All",),
)
async def graph_comment_incident(ctx: Ctx) -> Response:
    """Add a comment to an incident; returns all its comments."""
    body = await ctx.body()
    with ctx.state.lock:
        inc = _incident(ctx.tenant, ctx.params["id"])
        c = _graph_comment(ctx, body.get("comment"))
        inc.setdefault("comments", []).append(
            {
                "comment": c["comment"],
                "createdBy": c["createdByDisplayName"],
                "createdTime": c["createdDateTime"],
            }
        )
        touch_incident(ctx.tenant, inc)
        comments = graph_incident(ctx.tenant, inc, False)["comments"]
    return JSONResponse({"value": comments})
