"""Defender XDR incidents: ``GET /api/incidents`` and ``GET /api/incidents/{id}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.views import touch_incident, xdr_incident

READ = ("Incident.Read.All", "Incident.ReadWrite.All")
READ_D = ("Incident.Read", "Incident.ReadWrite")
#: api-list-incidents (https://learn.microsoft.com/defender-xdr/api-list-incidents): "``$filter``
#: on the lastUpdateTime, createdTime, status, and assignedTo properties" ("this endpoint doesn't
#: support server-side filtering by severity"), "``$top``, with a maximum value of 100"
FILTERS = page_list("lastUpdateTime, createdTime, status, and assignedTo")
MAX_TOP = 100


def _incident_id(ctx: Ctx) -> int:
    raw = ctx.params["id"]
    if not raw.isdigit():
        raise ApiError(400, "InvalidInput", f"Incident id '{raw}' is not valid.")
    return int(raw)


def concurrent_update(
    ctx: Ctx, rows: list[dict[str, Any]], skip: int, key: str = "incidentId"
) -> bool:
    """The ``concurrent_incident_update`` knob: an analyst changes an incident while a client
    pages, once per knob setting. ``{"offset": -1}`` changes the last incident the previous page
    served, ``{"offset": 0}`` the first one this page would serve; the list order shifts under
    ``$skip`` exactly as it does on the real service. ``rows`` are XDR records or Graph views
    (``key`` names their id)."""
    knob = ctx.state.config.get("concurrent_incident_update")
    if not knob or knob.get("done"):
        return False
    index = skip + int(knob.get("offset", 0))
    if not 0 <= index < len(rows):
        return False
    knob["done"] = True
    stored = ctx.tenant.data["incidents"][int(rows[index][key])]
    touch_incident(ctx.tenant, stored)
    return True


@api("GET", "/api/incidents", surface="xdr", app=READ, delegated=READ_D, family="xdr_incidents")
async def list_incidents(ctx: Ctx) -> Response:
    """List incidents, paged with ``$top`` (max 100) and ``$skip``."""
    top, skip = parse_top_skip(ctx.query, MAX_TOP)
    pred = compile_filter(ctx.query.get("$filter"), FILTERS)
    oldest_first = ctx.state.config.get("incidents_order") == "oldest_first"
    with ctx.state.lock:
        rows = [i for i in ctx.tenant.data["incidents"].values() if pred(i)]
        rows.sort(key=lambda i: (i["lastUpdateTime"], i["incidentId"]), reverse=not oldest_first)
        if skip and concurrent_update(ctx, rows, skip):
            rows.sort(
                key=lambda i: (i["lastUpdateTime"], i["incidentId"]), reverse=not oldest_first
            )
        page = [xdr_incident(ctx.tenant, i) for i in rows[skip : skip + top]]
    body = {"@odata.context": f"{ctx.request.base_url}api/$metadata#Incidents", "value": page}
    return JSONResponse(body)


@api(
    "GET", "/api/incidents/{id}", surface="xdr", app=READ, delegated=READ_D, family="xdr_incidents"
)
async def get_incident(ctx: Ctx) -> Response:
    """One incident."""
    iid = _incident_id(ctx)
    with ctx.state.lock:
        inc = ctx.tenant.data["incidents"].get(iid)
        if inc is None:
            raise ApiError(404, "ResourceNotFound", f"Incident {iid} was not found")
        return JSONResponse(xdr_incident(ctx.tenant, inc))
