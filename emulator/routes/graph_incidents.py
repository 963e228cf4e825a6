"""Graph security incidents: ``GET /v1.0/security/incidents[/{id}]`` with nextLink paging.

The emulator's reading of "List incidents"
(https://learn.microsoft.com/graph/api/security-list-incidents): the method "supports the
following OData query parameters: ``$count``, ``$filter``, ``$skip``, ``$top``, ``$expand``";
``$filter`` on the properties of the sentence quoted below; ``@odata.nextLink`` for paging; "the
most recent incidents are displayed at the top of the list". The page names no ``$orderby``: the
emulator ignores it and keeps the page's order. Its ``$expand`` example is ``$expand=alerts``,
the incident's one relationship (https://learn.microsoft.com/graph/api/resources/security-incident),
so any other expansion is refused. Paging and its limits: :mod:`.graph_paging`.

Test knobs shared with the XDR list (both read the same stored incidents):
``incidents_order="oldest_first"`` lists oldest first, ``concurrent_incident_update`` changes an
incident while a client pages (see :func:`.incidents.concurrent_update`), and
``graph_expand_alerts_error`` answers a list asking ``$expand=alerts`` with HTTP 500, as large
tenants saw it (elastic/integrations#18144: "``$expand=alerts`` and ``$filter`` triggers
persistent HTTP 500 InternalServerError responses ... Removing ``$expand=alerts`` from the query
causes incidents to return normally"); getting one incident with its alerts still works.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import ODataError, compile_filter, page_list
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.routes.graph_paging import graph_page, graph_top_skip
from prefect_defender.emulator.routes.incidents import concurrent_update
from prefect_defender.emulator.views import graph_incident, graph_incident_views

#: security-list-incidents, "Optional query parameters", as the page writes it
FILTERS = page_list(
    "assignedTo, classification, createdDateTime, determination, lastUpdateDateTime, severity, "
    "and status."
)
#: the type Graph names when a $filter property is not on the list
ENTITY = "microsoft.graph.security.incident"


def expand_alerts(ctx: Ctx) -> bool:
    """Whether ``$expand=alerts`` was asked (any other expansion is an ODataError)."""
    value = ctx.query.get("$expand")
    if value is None:
        return False
    if value != "alerts":
        raise ODataError(f"Could not find a property named '{value}' for $expand.")
    return True


@api(
    "GET", "/v1.0/security/incidents", surface="graph", page=GRAPH_SECURITY_PAGES["incidents.list"]
)
async def list_incidents(ctx: Ctx) -> Response:
    """List incidents; pages of ``$top`` (default 50) linked by ``@odata.nextLink``."""
    top, skip = graph_top_skip(ctx)
    expand = expand_alerts(ctx)
    if expand and ctx.state.config.get("graph_expand_alerts_error"):
        raise ApiError(500, "InternalServerError", "An internal server error occurred.")
    graph_filter = ctx.query.get("$filter")
    pred = compile_filter(graph_filter, FILTERS, entity=ENTITY)
    with ctx.state.lock:
        rows = _rows(ctx, graph_filter, pred)
        if skip and concurrent_update(ctx, rows, skip, "id"):
            rows = _rows(ctx, graph_filter, pred)
        page = rows[skip : skip + top]
        if expand:
            page = [
                graph_incident(ctx.tenant, ctx.tenant.data["incidents"][int(v["id"])], True)
                for v in page
            ]
    return graph_page(ctx, "security/incidents", rows, skip, top, page)


def _rows(ctx: Ctx, graph_filter: str | None, pred: Any) -> list[dict[str, Any]]:
    """The Graph views matching ``pred``, newest update first (or oldest first by the knob).

    The last few answers are kept until an incident changes: the pages of one list repeat its
    ``$filter``, and filtering tens of thousands of incidents on every page is the slow part.
    """
    order = ctx.state.config.get("incidents_order")
    writes = ctx.tenant.counters["incident_writes"]
    key = (graph_filter, order, len(ctx.tenant.data["incidents"]), writes)
    cache: dict[Any, list[dict[str, Any]]] = ctx.tenant.data["_cache"].setdefault(
        "graph_incident_lists", {}
    )
    rows = cache.get(key)
    if rows is None:
        rows = [v for v in graph_incident_views(ctx.tenant) if pred(v)]
        if order == "oldest_first":
            rows.reverse()
        if len(cache) >= 8:
            cache.pop(next(iter(cache)))
        cache[key] = rows
    return rows


@api(
    "GET",
    "/v1.0/security/incidents/{id}",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["incidents.get"],
)
async def get_incident(ctx: Ctx) -> Response:
    """One incident."""
    raw = ctx.params["id"]
    with ctx.state.lock:
        inc = ctx.tenant.data["incidents"].get(int(raw)) if raw.isdigit() else None
        if inc is None:
            raise ApiError(404, "NotFound", f"Incident {raw} was not found.")
        return JSONResponse(graph_incident(ctx.tenant, inc, expand_alerts(ctx)))
