"""Alerts: MDE ``/api/alerts`` (list, get, update, batch update, create by reference, related
entities) and Graph ``/security/alerts_v2`` (list, get, update, comments).

Alerts are stored MDE-shaped by the core seed (the same records the incidents embed), so an
update made through one surface shows on the others. Body field names are case-sensitive, as
documented: an unknown or wrongly cased field is a 400. The triage vocabulary here is shared
with :mod:`.incident_updates`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.routes.graph_incidents import next_link
from prefect_defender.emulator.routes.machines import find_machine, public
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import Tenant
from prefect_defender.emulator.views import graph_alert

A_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
A_READ_D = ("Alert.Read", "Alert.ReadWrite")
A_WRITE = ("Alert.ReadWrite.All",)
A_WRITE_D = ("Alert.ReadWrite",)
#: get-alerts ("$filter" on these properties)
_GET_ALERTS = page_list(
    "alertCreationTime, lastUpdateTime, incidentId, investigationId, id, "
    "assignedTo, detectionSource, lastEventTime, status, severity, category"
)
#: exposed-apis-odata-samples ("Properties that support $filter"), as the page writes it; it
#: lists fewer properties than the get-* page and spells some in PascalCase: a filter on either
#: page's spelling is served (names match in any case, as both pages' examples need)
_ODATA_SAMPLES = page_list(
    "alertCreationTime, lastUpdateTime, incidentId,InvestigationId, status, severity, and category."
)
ALERT_FILTERS = _GET_ALERTS + _ODATA_SAMPLES
#: security-list-alerts_v2 (https://learn.microsoft.com/graph/api/security-list-alerts-v2),
#: "Optional query parameters", as the page writes it
GRAPH_ALERT_FILTERS = page_list(
    "assignedTo, classification, determination, createdDateTime, lastUpdateDateTime, severity, "
    "serviceSource and status."
)
GRAPH_ALERT_ENTITY = "microsoft.graph.security.alert"
MDE_MAX_TOP = 10_000
GRAPH_ALERTS_MAX_TOP = 2000
GRAPH_ALERTS_DEFAULT_PAGE = 50

#: determinations allowed per classification. Microsoft's pages spell some values two ways
#: (update-alert: ConfirmedActivity/NotMalicious; alerts.md and batch-update: ConfirmedUserActivity/
#: Clean/InsufficientData; the XDR PATCH page: CompromisedAccount/NoEnoughDataToValidate), so
#: both are accepted. The XDR page also says "determination only if classification is
#: TruePositive" while grouping determinations under all three classifications: the grouping
#: is what is enforced.
CLASSIFICATION_GROUPS: dict[str, set[str]] = {
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
GRAPH_CLASSIFICATIONS = {
    "unknown",
    "falsePositive",
    "truePositive",
    "informationalExpectedActivity",
    "unknownFutureValue",
}
#: Graph determinations: the resource page's and the update page's spellings
GRAPH_DETERMINATIONS = {
    "unknown",
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedUser",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "clean",
    "notMalicious",
    "insufficientData",
    "notEnoughDataToValidate",
    "confirmedUserActivity",
    "confirmedActivity",
    "lineOfBusinessApplication",
    "unknownFutureValue",
}
GRAPH_ALERT_STATUS = {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"}
ALERT_STATUSES = ("New", "InProgress", "Resolved")
CREATE_SEVERITIES = ("Low", "Medium", "High")
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
ALERT_COMMENT_TYPES = {
    "microsoft.graph.security.alertComment",
    "#microsoft.graph.security.alertComment",
}


def now_iso() -> str:
    """The current time as Defender writes it."""
    return iso(datetime.now(UTC))


def upper_first(v: str) -> str:
    """``truePositive`` -> ``TruePositive`` (Graph value to the stored MDE/XDR value)."""
    return v[:1].upper() + v[1:]


def check_fields(body: dict[str, Any], allowed: set[str], code: str = "InvalidRequestBody") -> None:
    """400 for a field that is not documented for the operation (names are case-sensitive)."""
    for key in body:
        if key not in allowed:
            raise ApiError(400, code, f"Request body is incorrect: unknown parameter '{key}'.")


def check_string(body: dict[str, Any], key: str, code: str = "InvalidRequestBody") -> None:
    """400 unless ``body[key]`` (when present) is a string or null."""
    if key in body and body[key] is not None and not isinstance(body[key], str):
        raise ApiError(400, code, f"'{key}' must be a string.")


def check_triage(body: dict[str, Any], target: dict[str, Any]) -> None:
    """MDE/XDR classification and determination: known values, determination in its group."""
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


def graph_value(body: dict[str, Any], key: str, allowed: set[str] | dict[str, str]) -> str | None:
    """A Graph enum value from ``body`` as camelCase; the PascalCase of the docs' own PATCH
    example (``"TruePositive"``) is accepted too. 400 ``BadRequest`` otherwise."""
    if key not in body or body[key] is None:
        return None
    raw = body[key]
    if isinstance(raw, str):
        value = raw[:1].lower() + raw[1:]
        if value in allowed:
            return value
    raise ApiError(400, "BadRequest", f"Invalid value '{raw}' for '{key}'.")


def graph_comment_text(body: dict[str, Any]) -> str:
    """The comment of a Graph ``alertComment`` body (``@odata.type`` optional but checked)."""
    check_fields(body, {"@odata.type", "comment"}, "BadRequest")
    kind = body.get("@odata.type")
    if kind is not None and kind not in ALERT_COMMENT_TYPES:
        raise ApiError(400, "BadRequest", f"Invalid @odata.type '{kind}'.")
    text = body.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "BadRequest", "The comment must be a non-empty string.")
    return text


def add_alert_comment(a: dict[str, Any], text: str, author: str) -> None:
    """Store a comment on an alert, visible to MDE (``comments``) and Graph alike."""
    when = now_iso()
    mde = a.setdefault("comments", [])
    if "graphComments" not in a:  # seeded comments, in Graph's shape
        a["graphComments"] = [
            {
                "comment": c.get("comment"),
                "createdByDisplayName": c.get("createdBy"),
                "createdDateTime": c.get("createdTime"),
            }
            for c in mde
        ]
    mde.append({"comment": text, "createdBy": author, "createdTime": when})
    a["graphComments"].append(
        {"comment": text, "createdByDisplayName": author, "createdDateTime": when}
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
    top, skip = parse_top_skip(ctx.query, MDE_MAX_TOP)
    pred = compile_filter(ctx.query.get("$filter"), ALERT_FILTERS, any_case=True)
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


UPDATE_FIELDS = {"status", "assignedTo", "classification", "determination", "comment"}


def _check_alert_update(body: dict[str, Any]) -> None:
    """Value checks shared by PATCH and batchUpdate (before anything is changed)."""
    if "status" in body and body["status"] not in ALERT_STATUSES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid status '{body['status']}'.")
    for key in ("assignedTo", "comment", "classification", "determination"):
        check_string(body, key)


def _apply_alert_update(ctx: Ctx, a: dict[str, Any], body: dict[str, Any]) -> None:
    if "status" in body:
        a["status"] = body["status"]
        a["resolvedTime"] = now_iso() if body["status"] == "Resolved" else None
    for key in ("assignedTo", "classification", "determination"):
        if key in body:
            a[key] = body[key]
    if body.get("comment"):
        add_alert_comment(a, body["comment"], ctx.caller)
    a["lastUpdateTime"] = now_iso()


@api("PATCH", "/api/alerts/{id}", surface="mde", app=A_WRITE, delegated=A_WRITE_D)
async def update_alert(ctx: Ctx) -> Response:
    """Update an alert: status, assignedTo, classification, determination, comment."""
    body = await ctx.body()
    check_fields(body, UPDATE_FIELDS)
    _check_alert_update(body)
    with ctx.state.lock:
        a = _alert(ctx.tenant, ctx.params["id"])
        check_triage(body, a)
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
    """Give every listed alert the same values; 200 with an empty body.

    All ids are checked first: one unknown id is a 404 and nothing is changed.
    """
    body = await ctx.body()
    check_fields(body, UPDATE_FIELDS | {"alertIds"})
    ids = body.get("alertIds")
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'alertIds'.")
    if not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, "InvalidRequestBody", "'alertIds' must be a list of alert ids.")
    update = {k: v for k, v in body.items() if k != "alertIds"}
    _check_alert_update(update)
    with ctx.state.lock:
        alerts = [_alert(ctx.tenant, i) for i in dict.fromkeys(ids)]
        for a in alerts:
            check_triage(update, a)
        for a in alerts:
            _apply_alert_update(ctx, a, update)
    return Response(status_code=200)


CREATE_FIELDS = (
    "eventTime",
    "reportId",
    "machineId",
    "severity",
    "title",
    "description",
    "recommendedAction",
    "category",
)


def _event_time(value: Any) -> str:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "InvalidRequestBody", f"Invalid eventTime '{value}'.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return iso(when)


@api(
    "POST",
    "/api/alerts/CreateAlertByReference",
    surface="mde",
    app=A_WRITE,
    delegated=A_WRITE_D,
    family="create_alert",
)
async def create_by_reference(ctx: Ctx) -> Response:
    """Create an alert on top of an event; every field is required.

    As documented, an open alert on the same device with the same title absorbs the new event
    (the existing alert is answered, its ``lastEventTime`` moved) instead of a duplicate.
    """
    body = await ctx.body()
    check_fields(body, set(CREATE_FIELDS))
    for key in CREATE_FIELDS:
        value = body.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ApiError(400, "MissingRequiredParameter", f"Missing required parameter: '{key}'.")
    for key in ("machineId", "title", "description", "recommendedAction"):
        check_string(body, key)
    if body["severity"] not in CREATE_SEVERITIES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid severity '{body['severity']}'.")
    if body["category"] not in CATEGORIES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid category '{body['category']}'.")
    event_time = _event_time(body["eventTime"])
    with ctx.state.lock:
        m = find_machine(ctx.tenant, str(body["machineId"]))
        store: dict[str, dict[str, Any]] = ctx.tenant.data["alerts"]
        now = now_iso()
        for existing in store.values():
            if (
                existing.get("machineId") == m["id"]
                and existing.get("title") == body["title"]
                and existing.get("status") != "Resolved"
            ):
                existing["lastEventTime"] = max(existing.get("lastEventTime") or "", event_time)
                existing["lastUpdateTime"] = now
                return JSONResponse(mde_alert(ctx.tenant, existing))
        aid = (
            "da"
            + hashlib.sha1(  # noqa: S324 - an id, not a security use
                f"{m['id']}{body['reportId']}{event_time}".encode()
            ).hexdigest()[:18]
        )
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
            "detectionSource": "CustomDetection",
            "category": body["category"],
            "threatFamilyName": None,
            "title": body["title"],
            "description": body["description"],
            "recommendedAction": body["recommendedAction"],
            "alertCreationTime": now,
            "firstEventTime": event_time,
            "lastEventTime": event_time,
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
        store[aid] = a
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
    """List alerts, newest first (``$top`` default 50, nextLink paging, ``$count``)."""
    top, skip = parse_top_skip(ctx.query, GRAPH_ALERTS_MAX_TOP, GRAPH_ALERTS_DEFAULT_PAGE)
    pred = compile_filter(ctx.query.get("$filter"), GRAPH_ALERT_FILTERS, entity=GRAPH_ALERT_ENTITY)
    with ctx.state.lock:
        rows = [
            v
            for v in (graph_alert(ctx.tenant, a) for a in ctx.tenant.data["alerts"].values())
            if pred(v)
        ]
    rows.sort(key=lambda v: v["createdDateTime"], reverse=True)
    body: dict[str, Any] = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2",
        "value": rows[skip : skip + top],
    }
    if ctx.query.get("$count") == "true":
        body["@odata.count"] = len(rows)
    if skip + top < len(rows):
        extra = {k: v for k, v in ctx.query.items() if k not in ("$top", "$skip")}
        body["@odata.nextLink"] = next_link(ctx, skip + top, top, extra)
    return JSONResponse(body)


def _graph_alert_404(tenant: Tenant, alert_id: str) -> dict[str, Any]:
    a: dict[str, Any] | None = tenant.data["alerts"].get(alert_id)
    if a is None:
        raise ApiError(404, "NotFound", f"Alert {alert_id} was not found.")
    return a


@api("GET", "/v1.0/security/alerts_v2/{id}", surface="graph", app=G_ALERT_READ)
async def graph_get_alert(ctx: Ctx) -> Response:
    """One alert."""
    with ctx.state.lock:
        return JSONResponse(graph_alert(ctx.tenant, _graph_alert_404(ctx.tenant, ctx.params["id"])))


@api(
    "PATCH", "/v1.0/security/alerts_v2/{id}", surface="graph", app=("SecurityAlert.ReadWrite.All",)
)
async def graph_update_alert(ctx: Ctx) -> Response:
    """Update an alert: status, assignedTo, classification, determination (Graph values)."""
    body = await ctx.body()
    check_fields(body, {"status", "assignedTo", "classification", "determination"}, "BadRequest")
    check_string(body, "assignedTo", "BadRequest")
    status = graph_value(body, "status", GRAPH_ALERT_STATUS)
    classification = graph_value(body, "classification", GRAPH_CLASSIFICATIONS)
    determination = graph_value(body, "determination", GRAPH_DETERMINATIONS)
    with ctx.state.lock:
        a = _graph_alert_404(ctx.tenant, ctx.params["id"])
        if status is not None:
            a["status"] = GRAPH_ALERT_STATUS[status]
            a["resolvedTime"] = now_iso() if status == "resolved" else None
        if "assignedTo" in body:
            a["assignedTo"] = body["assignedTo"]
        if classification is not None:
            a["classification"] = upper_first(classification)
        if determination is not None:
            a["determination"] = upper_first(determination)
        a["lastUpdateTime"] = now_iso()
        return JSONResponse(graph_alert(ctx.tenant, a))


@api(
    "POST",
    "/v1.0/security/alerts_v2/{id}/comments",
    surface="graph",
    app=("SecurityAlert.ReadWrite.All",),
)
async def graph_comment_alert(ctx: Ctx) -> Response:
    """Add a comment to an alert; answers every comment of the alert."""
    body = await ctx.body()
    text = graph_comment_text(body)
    with ctx.state.lock:
        a = _graph_alert_404(ctx.tenant, ctx.params["id"])
        add_alert_comment(a, text, ctx.caller)
        a["lastUpdateTime"] = now_iso()
        return JSONResponse(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/"
                f"alerts_v2('{a['id']}')/comments",
                "value": list(a["graphComments"]),
            }
        )
