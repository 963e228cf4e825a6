"""Paging always ends, with :class:`PagingError` saying how far it got, over real sockets.

A hostile HTTPS API host (``hostile_server``) serves the XDR incident list (``$top``/``$skip``)
and the Graph incident list (``@odata.nextLink``) the ways that made the client page for ever:
a list that ignores ``$skip``, a nextLink that repeats, pages beyond the service's own count,
endless distinct pages, endless empty pages. Each test also counts the requests the host saw,
so "it stopped" is checked where the traffic would have arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from prefect_defender.api.errors import DeadlineExceededError, PagingError
from prefect_defender.api.page_guard import PagingLimits
from prefect_defender.blocks import DefenderApplicationCredentials
from tests.security.hostile_server import Hostile, hostile_server

GUARD = 30.0
XDR = "/api/incidents"
GRAPH = "/v1.0/security/incidents"


def xdr_incident(n: int) -> dict[str, Any]:
    stamp = "2026-01-01T00:00:00Z"
    return {
        "incidentId": n,
        "incidentName": f"incident {n}",
        "createdTime": stamp,
        "lastUpdateTime": stamp,
        "status": "Active",
        "severity": "High",
        "alerts": [],
    }


def graph_incident(n: int) -> dict[str, Any]:
    return {"id": str(n), "displayName": f"incident {n}", "status": "active"}


@pytest.fixture
def serve(emulator_keys: Path, fresh: Any) -> Iterator[Any]:
    """``serve({path: handler})`` starts a hostile API host for the test."""
    opened: list[Any] = []

    def start(routes: dict[str, Any]) -> Hostile:
        cm = hostile_server(emulator_keys, [Route(p, h) for p, h in routes.items()])
        opened.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(opened):
        cm.__exit__(None, None, None)


def _creds(conn: dict[str, Any], host: Hostile) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(
        conn, xdr_base_url=host.url, graph_base_url=f"{host.url}/v1.0", rate_limits_enabled=False
    )


async def _list(
    conn: dict[str, Any], host: Hostile, what: str, paging: PagingLimits | None = None
) -> list[Any]:
    async with _creds(conn, host).get_client() as client:
        if paging is not None:
            client.transport.paging_limits = paging
        api = client.xdr_incidents if what == "xdr" else client.graph_incidents
        return await asyncio.wait_for(api.list(), GUARD)


async def test_an_xdr_list_that_ignores_skip_stops_at_the_repeated_page(
    conn: dict[str, Any], serve: Any
) -> None:
    """Every $skip gets the first 100 incidents again: two requests, then PagingError with
    the 100 incidents read (the poller sent 5,700 requests in 15 s against such a list)."""
    host = serve({XDR: lambda _r: JSONResponse({"value": [xdr_incident(i) for i in range(100)]})})
    with pytest.raises(PagingError) as info:
        await _list(conn, host, "xdr")
    err = info.value
    assert err.code == "RepeatedPage" and "ignores $skip" in str(err)
    assert (err.pages_read, err.items_read) == (2, 100)
    assert [i.incident_id for i in err.partial] == list(range(100))
    assert host.count(XDR) == 2


def _graph_pages(total: int | None, link: str = "next?n={n}", size: int = 2) -> Any:
    """Graph pages of ``size`` new incidents each, for ever; ``link`` names the next page
    (``{n}``: a counter), ``total`` is the ``@odata.count`` given."""
    counter = itertools.count()

    def page(request: Request) -> JSONResponse:
        n = next(counter)
        body: dict[str, Any] = {
            "value": [graph_incident(n * size + i) for i in range(size)],
            "@odata.nextLink": f"https://{request.headers['host']}{GRAPH}?" + link.format(n=n),
        }
        if total is not None:
            body["@odata.count"] = total
        return JSONResponse(body)

    return page


async def test_a_repeated_next_link_stops_the_listing(conn: dict[str, Any], serve: Any) -> None:
    """New items on every page, but the same nextLink each time (11,000 requests in 15 s
    before): the link is not followed twice."""
    host = serve({GRAPH: _graph_pages(None, link="$skiptoken=same")})
    with pytest.raises(PagingError) as info:
        await _list(conn, host, "graph")
    # Graph lists are read in time windows (api.window_paging), which judges repeats itself
    assert info.value.code in ("RepeatedNextLink", "RepeatedPage")
    assert len(info.value.partial) == info.value.items_read == 4
    assert host.count(GRAPH) == 2


async def test_more_pages_than_the_count_implies_stops_the_listing(
    conn: dict[str, Any], serve: Any
) -> None:
    """@odata.count says 4; new pages keep coming: stopped one page of slack later."""
    host = serve({GRAPH: _graph_pages(4)})
    with pytest.raises(PagingError) as info:
        await _list(conn, host, "graph")
    assert info.value.code == "MorePagesThanCounted"
    assert host.count(GRAPH) <= 4


async def test_endless_distinct_pages_stop_at_the_page_bound(
    conn: dict[str, Any], serve: Any
) -> None:
    host = serve({GRAPH: _graph_pages(None)})
    with pytest.raises(PagingError) as info:
        await _list(conn, host, "graph", PagingLimits(max_pages=7))
    assert info.value.code == "TooManyPages" and info.value.pages_read == 7
    assert host.count(GRAPH) == 7


async def test_endless_empty_pages_stop(conn: dict[str, Any], serve: Any) -> None:
    host = serve({GRAPH: _graph_pages(None, size=0)})
    with pytest.raises(PagingError) as info:
        await _list(conn, host, "graph", PagingLimits(max_empty_pages=3))
    assert info.value.code == "EmptyPages" and info.value.items_read == 0
    assert host.count(GRAPH) == 4


async def test_the_listing_deadline_covers_every_page(conn: dict[str, Any], serve: Any) -> None:
    """Each page takes at least 0.3 s; the listing may spend 1 s fetching: DeadlineExceededError
    on the page that would pass it (at most the fourth), however many pages are left."""

    pages = _graph_pages(None)

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(0.3)
        return pages(request)  # type: ignore[no-any-return]

    host = serve({GRAPH: slow})
    with pytest.raises(DeadlineExceededError):
        await _list(conn, host, "graph", PagingLimits(deadline=1.0))
    assert 1 <= host.count(GRAPH) <= 4


async def test_an_honest_listing_is_read_whole(conn: dict[str, Any], serve: Any) -> None:
    """The checks do not stop a listing that ends: 250 incidents over three $skip pages."""

    def page(request: Request) -> JSONResponse:
        skip = int(request.query_params["$skip"])
        top = int(request.query_params["$top"])
        return JSONResponse({"value": [xdr_incident(i) for i in range(skip, min(skip + top, 250))]})

    host = serve({XDR: page})
    got = await _list(conn, host, "xdr")
    assert [i.incident_id for i in got] == list(range(250))
    assert host.count(XDR) == 3


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _graph_ignoring_skip(request: Request) -> JSONResponse:
    """The same 100 incidents whatever the $skip, with a nextLink to the next $skip."""
    skip = int(request.query_params.get("$skip", "0")) + 100
    stamp = "2026-01-01T00:00:00Z"
    items = [
        {**graph_incident(i), "createdDateTime": stamp, "lastUpdateDateTime": stamp}
        for i in range(100)
    ]
    link = f"https://{request.headers['host']}{GRAPH}?$top=100&$skip={skip}"
    return JSONResponse({"value": items, "@odata.nextLink": link})


@pytest.mark.parametrize("surface", ["xdr", "graph"])
def test_the_poller_stops_at_a_list_that_ignores_skip_and_says_why(
    conn: dict[str, Any], serve: Any, prefect_harness: None, surface: str
) -> None:
    """One poll of a tenant whose incident list ignores $skip (XDR's $skip, or Graph pages
    whose nextLink repeats the page): two requests, the tenant counted as stopped (-1), the
    log says why, and its checkpoint is not advanced."""
    import uuid

    from prefect.variables import Variable

    from prefect_defender.flows.poller import incident_poller

    if surface == "xdr":
        path = XDR
        host = serve(
            {XDR: lambda _r: JSONResponse({"value": [xdr_incident(i) for i in range(100)]})}
        )
    else:
        path = GRAPH
        host = serve({GRAPH: _graph_ignoring_skip})
    _creds(conn, host).save("paging-poller", overwrite=True)
    variable = f"cp_{uuid.uuid4().hex[:8]}"
    lines = _Lines()
    run_logs = logging.getLogger("prefect.flow_runs")  # the run logger (it does not propagate)
    run_logs.addHandler(lines)
    try:
        counts = asyncio.run(
            incident_poller(
                credentials="defender-application-credentials/paging-poller",
                checkpoint_variable=variable,
                surface=surface,  # type: ignore[arg-type]
            )
        )
    finally:
        run_logs.removeHandler(lines)
    said = "\n".join(lines.lines)
    tenant = conn["apps"]["soc"]["tenant_id"]
    assert counts == {tenant: -1}
    assert host.count(path) == 2
    assert "RepeatedPage" in said and "100 event(s) from what was read" in said
    assert tenant not in (Variable.get(variable, default={}) or {})
