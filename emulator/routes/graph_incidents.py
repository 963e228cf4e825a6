"""Graph security incidents: ``GET /v1.0/security/incidents[/{id}]`` with nextLink paging.

The emulator's reading of "List incidents"
(https://learn.microsoft.com/graph/api/security-list-incidents): the method "supports the
following OData query parameters: ``$count``, ``$filter``, ``$skip``, ``$top``, ``$expand``";
``$filter`` on the properties of the sentence quoted below; ``@odata.nextLink`` for paging; "the
most recent incidents are displayed at the top of the list". The page names no ``$orderby``: the
emulator ignores it and keeps the page's order. Its ``$expand`` example is ``$expand=alerts``,
the incident's one relationship (https://learn.microsoft.com/graph/api/resources/security-incident),
so any other expansion is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import ODataError, compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.views import graph_incident, graph_incident_views

#: security-list-incidents, "Optional query parameters", as the page writes it
FILTERS = page_list(
    "assignedTo, classification, createdDateTime, determination, lastUpdateDateTime, severity, "
    "and status."
)
#: the type Graph names when a $filter property is not on the list
ENTITY = "microsoft.graph.security.incident"
#: pages of 50 when no ``$top`` is given (what the service answers; the page names no default)
DEFAULT_PAGE = 50
#: the page documents no ``$top`` maximum; the service is reported to serve at most 1,000 per
#: page (elastic/integrations#20234) and the emulator refuses more, so a client asking for more
#: finds out here rather than by silently short pages
MAX_TOP = 1000


def next_link(ctx: Ctx, skip: int, top: int, extra: dict[str, Any]) -> str:
    """An absolute ``@odata.nextLink`` on the request's host (or the ``next_link_host`` knob)."""
    host = ctx.state.config.get("next_link_host") or ctx.request.url.hostname
    port = ctx.request.url.port
    netloc = f"{host}:{port}" if port else str(host)
    query = urlencode({**extra, "$top": top, "$skip": skip})
    return f"https://{netloc}{ctx.request.url.path}?{query}"


def graph_page(
    ctx: Ctx,
    context: str,
    rows: list[dict[str, Any]],
    skip: int,
    top: int,
    page: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """One page of a Graph list: ``rows[skip:skip + top]`` (or ``page``, the same rows as
    served), ``@odata.count`` when ``$count=true`` and an ``@odata.nextLink`` while rows remain."""
    body: dict[str, Any] = {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
        "value": rows[skip : skip + top] if page is None else page,
    }
    if ctx.query.get("$count") == "true":
        body["@odata.count"] = len(rows)
    if skip + top < len(rows):
        extra = {k: v for k, v in ctx.query.items() if k not in ("$top", "$skip")}
        body["@odata.nextLink"] = next_link(ctx, skip + top, top, extra)
    return JSONResponse(body)


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
    top, skip = parse_top_skip(ctx.query, MAX_TOP, DEFAULT_PAGE)
    expand = expand_alerts(ctx)
    graph_filter = ctx.query.get("$filter")
    pred = compile_filter(graph_filter, FILTERS, entity=ENTITY)
    with ctx.state.lock:
        rows = [v for v in graph_incident_views(ctx.tenant) if pred(v)]
        page = rows[skip : skip + top]
        if expand:
            page = [
                graph_incident(ctx.tenant, ctx.tenant.data["incidents"][int(v["id"])], True)
                for v in page
            ]
    return graph_page(ctx, "security/incidents", rows, skip, top, page)


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
