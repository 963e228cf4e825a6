"""MDE alerts: ``/api/alerts`` (list, get, update, batch update, create by reference).

Alerts are stored MDE-shaped by the core seed (the same records the incidents embed), so an
update made through one surface shows on the others: Graph's view is :mod:`.graph_alerts`, the
related entities :mod:`.alert_entities`, the triage vocabulary :mod:`.triage`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import collection, compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.routes.machines import find_machine
from prefect_defender.emulator.routes.triage import (
    check_fields,
    check_string,
    check_triage,
    now_iso,
)
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import Tenant

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
MDE_MAX_TOP = 10_000
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


def find_alert(tenant: Tenant, alert_id: str) -> dict[str, Any]:
    """An alert by id; 404 ``ResourceNotFound`` otherwise."""
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
    return collection(ctx, "Alerts", page)


@api("GET", "/api/alerts/{id}", surface="mde", app=A_READ, delegated=A_READ_D)
async def get_alert(ctx: Ctx) -> Response:
    """One alert."""
    with ctx.state.lock:
        return JSONResponse(mde_alert(ctx.tenant, find_alert(ctx.tenant, ctx.params["id"]), True))


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
        a = find_alert(ctx.tenant, ctx.params["id"])
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
        alerts = [find_alert(ctx.tenant, i) for i in dict.fromkeys(ids)]
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
    event_time = _check_create(body)
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
        a = _referenced_alert(ctx.tenant, m, body, event_time, now)
        store[a["id"]] = a
        return JSONResponse(mde_alert(ctx.tenant, a))


def _check_create(body: dict[str, Any]) -> str:
    """Every create-by-reference field present and valid; the event time as Defender writes it."""
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
    return _event_time(body["eventTime"])


def _referenced_alert(
    tenant: Tenant, m: dict[str, Any], body: dict[str, Any], event_time: str, now: str
) -> dict[str, Any]:
    """A new custom-detection alert on machine ``m`` for the referenced event."""
    aid = (
        "da"
        + hashlib.sha1(  # noqa: S324 - an id, not a security use
            f"{m['id']}{body['reportId']}{event_time}".encode()
        ).hexdigest()[:18]
    )
    return {
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
        "aadTenantId": tenant.tenant_id,
        "mitreTechniques": [],
        "relatedUser": None,
        "comments": [],
        "entities": [],
    }
