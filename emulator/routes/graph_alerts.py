"""Graph alerts: ``/v1.0/security/alerts_v2`` (list, get, update, comments).

The alerts are the MDE-shaped records of :mod:`.alerts` seen through Graph's view, so an update
made here shows on the other surfaces.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, page_list
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.routes.alerts import add_alert_comment
from prefect_defender.emulator.routes.graph_paging import graph_page, graph_top_skip
from prefect_defender.emulator.routes.triage import (
    check_fields,
    check_string,
    graph_comment_text,
    graph_comments,
    graph_triage,
    now_iso,
    upper_first,
)
from prefect_defender.emulator.state import Tenant
from prefect_defender.emulator.views import graph_alert

#: security-list-alerts_v2 (https://learn.microsoft.com/graph/api/security-list-alerts-v2),
#: "Optional query parameters", as the page writes it
GRAPH_ALERT_FILTERS = page_list(
    "assignedTo, classification, determination, createdDateTime, lastUpdateDateTime, severity, "
    "serviceSource and status."
)
GRAPH_ALERT_ENTITY = "microsoft.graph.security.alert"
GRAPH_ALERT_STATUS = {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"}


@api("GET", "/v1.0/security/alerts_v2", surface="graph", page=GRAPH_SECURITY_PAGES["alerts.list"])
async def graph_list_alerts(ctx: Ctx) -> Response:
    """List alerts, newest first (``$top`` default 50, at most 1,000 and ``$top + $skip`` at
    most 6,000: :mod:`.graph_paging`; nextLink paging, ``$count``)."""
    top, skip = graph_top_skip(ctx)
    pred = compile_filter(ctx.query.get("$filter"), GRAPH_ALERT_FILTERS, entity=GRAPH_ALERT_ENTITY)
    with ctx.state.lock:
        rows = [
            v
            for v in (graph_alert(ctx.tenant, a) for a in ctx.tenant.data["alerts"].values())
            if pred(v)
        ]
    rows.sort(key=lambda v: v["createdDateTime"], reverse=True)
    return graph_page(ctx, "security/alerts_v2", rows, skip, top)


def _graph_alert_404(tenant: Tenant, alert_id: str) -> dict[str, Any]:
    a: dict[str, Any] | None = tenant.data["alerts"].get(alert_id)
    if a is None:
        raise ApiError(404, "NotFound", f"Alert {alert_id} was not found.")
    return a


@api(
    "GET",
    "/v1.0/security/alerts_v2/{id}",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["alerts.get"],
)
async def graph_get_alert(ctx: Ctx) -> Response:
    """One alert."""
    with ctx.state.lock:
        return JSONResponse(graph_alert(ctx.tenant, _graph_alert_404(ctx.tenant, ctx.params["id"])))


@api(
    "PATCH",
    "/v1.0/security/alerts_v2/{id}",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["alerts.update"],
)
async def graph_update_alert(ctx: Ctx) -> Response:
    """Update an alert: status, assignedTo, classification, determination (Graph values)."""
    body = await ctx.body()
    check_fields(body, {"status", "assignedTo", "classification", "determination"}, "BadRequest")
    check_string(body, "assignedTo", "BadRequest")
    status, classification, determination = graph_triage(body, GRAPH_ALERT_STATUS)
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
    page=GRAPH_SECURITY_PAGES["alerts.comment"],
)
async def graph_comment_alert(ctx: Ctx) -> Response:
    """Add a comment to an alert; answers every comment of the alert."""
    body = await ctx.body()
    text = graph_comment_text(body)
    with ctx.state.lock:
        a = _graph_alert_404(ctx.tenant, ctx.params["id"])
        add_alert_comment(a, text, ctx.caller)
        a["lastUpdateTime"] = now_iso()
        return graph_comments("alerts_v2", a["id"], list(a["graphComments"]))
