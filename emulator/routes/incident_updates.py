"""Incident writes: XDR ``PATCH /api/incidents/{id}``, Graph ``PATCH /security/incidents/{id}``
and ``POST /security/incidents/{id}/comments``.

The GET routes are in :mod:`.incidents` and :mod:`.graph_incidents`; both surfaces read the same
stored incident, so a change made through one shows on the other. Every change goes through
``touch_incident`` (new ``lastUpdateTime``). Body field names are case-sensitive: an unknown or
wrongly cased field is a 400, and nothing is changed by a rejected request.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.routes.triage import (
    check_fields,
    check_string,
    check_triage,
    graph_comment_text,
    graph_comments,
    graph_triage,
    now_iso,
    upper_first,
)
from prefect_defender.emulator.state import Tenant
from prefect_defender.emulator.views import graph_incident, touch_incident, xdr_incident

XDR_FIELDS = {"status", "assignedTo", "classification", "determination", "tags", "comment"}
#: the PATCH page lists Redirected with the three usual values
XDR_STATUSES = ("Active", "InProgress", "Resolved", "Redirected")
GRAPH_FIELDS = {"status", "assignedTo", "classification", "determination", "customTags"}
#: settable Graph statuses: the PATCH page lists active, resolved, redirected; the resource page
#: adds inProgress (accepted). awaitingAction is set by Microsoft only.
GRAPH_STATUS = {
    "active": "Active",
    "inProgress": "InProgress",
    "resolved": "Resolved",
    "redirected": "Redirected",
}


def _incident(tenant: Tenant, raw: str, code: str) -> dict[str, Any]:
    inc: dict[str, Any] | None = tenant.data["incidents"].get(int(raw)) if raw.isdigit() else None
    if inc is None:
        raise ApiError(404, code, f"Incident {raw} was not found")
    return inc


def _string_list(body: dict[str, Any], key: str, code: str) -> None:
    value = body.get(key)
    if key in body and not (isinstance(value, list) and all(isinstance(t, str) for t in value)):
        raise ApiError(400, code, f"'{key}' must be a list of strings.")


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
    check_fields(body, XDR_FIELDS)
    if "status" in body and body["status"] not in XDR_STATUSES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid status '{body['status']}'.")
    for key in ("assignedTo", "classification", "determination", "comment"):
        check_string(body, key)
    _string_list(body, "tags", "InvalidRequestBody")
    with ctx.state.lock:
        inc = _incident(ctx.tenant, ctx.params["id"], "ResourceNotFound")
        check_triage(body, inc)
        for key in ("status", "assignedTo", "classification", "determination", "tags"):
            if key in body:
                inc[key] = body[key]
        if body.get("comment"):
            inc.setdefault("comments", []).append(
                {"comment": body["comment"], "createdBy": ctx.caller, "createdTime": now_iso()}
            )
        touch_incident(ctx.tenant, inc)
        return JSONResponse(xdr_incident(ctx.tenant, inc))


@api(
    "PATCH",
    "/v1.0/security/incidents/{id}",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["incidents.update"],
)
async def graph_update_incident(ctx: Ctx) -> Response:
    """Update an incident: status, assignedTo, classification, determination, customTags."""
    body = await ctx.body()
    check_fields(body, GRAPH_FIELDS, "BadRequest")
    check_string(body, "assignedTo", "BadRequest")
    _string_list(body, "customTags", "BadRequest")
    status, classification, determination = graph_triage(body, GRAPH_STATUS)
    with ctx.state.lock:
        inc = _incident(ctx.tenant, ctx.params["id"], "NotFound")
        if status is not None:
            inc["status"] = GRAPH_STATUS[status]
        if "assignedTo" in body:
            inc["assignedTo"] = body["assignedTo"]
        if classification is not None:
            inc["classification"] = upper_first(classification)
        if determination is not None:
            # stored XDR-style: Graph's "unknown" is XDR's NotAvailable
            inc["determination"] = (
                "NotAvailable" if determination == "unknown" else upper_first(determination)
            )
        if "customTags" in body:
            inc["tags"] = list(body["customTags"])
        touch_incident(ctx.tenant, inc)
        return JSONResponse(graph_incident(ctx.tenant, inc, False))


@api(
    "POST",
    "/v1.0/security/incidents/{id}/comments",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["incidents.comment"],
)
async def graph_comment_incident(ctx: Ctx) -> Response:
    """Add a comment to an incident; answers every comment of the incident."""
    body = await ctx.body()
    text = graph_comment_text(body)
    with ctx.state.lock:
        inc = _incident(ctx.tenant, ctx.params["id"], "NotFound")
        inc.setdefault("comments", []).append(
            {"comment": text, "createdBy": ctx.caller, "createdTime": now_iso()}
        )
        touch_incident(ctx.tenant, inc)
        comments = graph_incident(ctx.tenant, inc, False)["comments"]
    return graph_comments("incidents", inc["incidentId"], comments)
