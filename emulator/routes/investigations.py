"""Automated investigations: ``GET /api/investigations`` and ``GET /api/investigations/{id}``.

One investigation per seeded alert (the alert's ``investigationId`` points at it), in states
that follow the alert: resolved alerts ended ``Benign`` or ``SuccessfullyRemediated``, open
ones are ``Running``, ``PendingApproval`` or ``Queued`` (the demo incident's are ``Running``).
``POST /api/machines/{id}/startInvestigation`` is served by the machine actions module and
adds to the same collection. The get page accepts the investigation id or the id of the alert
that triggered it.
"""

from __future__ import annotations

import random

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.state import EmulatorState, Tenant

A_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
A_READ_D = ("Alert.Read", "Alert.ReadWrite")
#: get-investigation-collection
#: (https://learn.microsoft.com/defender-endpoint/api/get-investigation-collection): "The OData's
#: $filter query is supported on: startTime, id, state, machineId, and triggeringAlertId", page
#: size at most 10,000 (the page writes ``$stop`` for ``$top``)
FILTERS = page_list("startTime, id, state, machineId, and triggeringAlertId")
MAX_TOP = 10_000


@api("GET", "/api/investigations", surface="mde", app=A_READ, delegated=A_READ_D)
async def list_investigations(ctx: Ctx) -> Response:
    """Investigations, newest first (``$filter`` on the documented properties, ``$top`` 10,000)."""
    top, skip = parse_top_skip(ctx.query, MAX_TOP)
    pred = compile_filter(ctx.query.get("$filter"), FILTERS)
    with ctx.state.lock:
        rows = [dict(i) for i in ctx.tenant.data["investigations"].values() if pred(i)]
    rows.sort(key=lambda i: (str(i.get("startTime")), i["id"]), reverse=True)
    return JSONResponse(
        {
            "@odata.context": f"{ctx.request.base_url}api/$metadata#Investigations",
            "value": rows[skip : skip + top],
        }
    )


@api("GET", "/api/investigations/{id}", surface="mde", app=A_READ, delegated=A_READ_D)
async def get_investigation(ctx: Ctx) -> Response:
    """One investigation, by its id or by its triggering alert's id."""
    key = ctx.params["id"]
    with ctx.state.lock:
        store = ctx.tenant.data["investigations"]
        inv = store.get(key) or next(
            (i for i in store.values() if i.get("triggeringAlertId") == key), None
        )
    if inv is None:
        raise ApiError(404, "ResourceNotFound", f"Investigation {key} was not found")
    return JSONResponse(
        {"@odata.context": f"{ctx.request.base_url}api/$metadata#Investigations/$entity", **inv}
    )


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """One investigation per seeded alert; ids from 4000, new ones from 5001."""
    rng = random.Random(f"{state.config.get('seed', 1)}/investigations/{tenant.name}")
    store = tenant.data["investigations"]
    for k, a in enumerate(tenant.data["alerts"].values()):
        inv_id = str(4000 + k)
        a["investigationId"] = int(inv_id)
        resolved = a.get("status") == "Resolved"
        if resolved:
            inv_state = rng.choice(["Benign", "SuccessfullyRemediated"])
        elif a.get("incidentId") == 1001:
            inv_state = "Running"
        else:
            inv_state = rng.choice(["Running", "Running", "PendingApproval", "Queued"])
        store[inv_id] = {
            "id": inv_id,
            "startTime": a["alertCreationTime"],
            "endTime": a.get("lastUpdateTime") if resolved else None,
            "state": inv_state,
            "cancelledBy": None,
            "statusDetails": None,
            "machineId": a.get("machineId"),
            "computerDnsName": a.get("computerDnsName"),
            "triggeringAlertId": a["id"],
        }
    tenant.counters["investigation"] = max(tenant.counters.get("investigation", 0), 5000)
