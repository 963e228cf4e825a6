"""Defender for Endpoint machines: ``GET /api/machines`` and ``GET /api/machines/{id}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.state import Tenant

READ = ("Machine.Read.All", "Machine.ReadWrite.All")
READ_D = ("Machine.Read", "Machine.ReadWrite")
#: get-machines ("$filter" on these properties)
_PAGE_LIST = page_list(
    "computerDnsName, id, version, deviceValue, aadDeviceId, machineTags, "
    "lastSeen, exposureLevel, onboardingStatus, lastIpAddress, healthStatus, "
    "osPlatform, riskScore, rbacGroupId"
)
#: exposed-apis-odata-samples ("Properties that support $filter"), as the page writes it; it
#: lists fewer properties than the get-* page and spells some in PascalCase: a filter on either
#: page's spelling is served (names match in any case, as both pages' examples need)
_ODATA_SAMPLES = page_list(
    "ComputerDnsName, LastSeen, exposureLevel, HealthStatus, OsPlatform, onboardingStatus, "
    "RiskScore, and RbacGroupId."
)
FILTERS = _PAGE_LIST + _ODATA_SAMPLES
MAX_TOP = 10_000


def public(machine: dict[str, Any]) -> dict[str, Any]:
    """A stored machine without the emulator's private fields."""
    return {k: v for k, v in machine.items() if not k.startswith("_")}


def find_machine(tenant: Tenant, key: str) -> dict[str, Any]:
    """A machine by id or computer DNS name (case-insensitive); 404 otherwise."""
    machines: dict[str, dict[str, Any]] = tenant.data["machines"]
    m = machines.get(key.lower())
    if m is None:
        low = key.lower()
        m = next(
            (
                x
                for x in machines.values()
                if x["computerDnsName"].lower() == low or x["computerDnsName"].split(".")[0] == low
            ),
            None,
        )
    if m is None:
        raise ApiError(404, "ResourceNotFound", f"Machine {key} was not found")
    return m


@api("GET", "/api/machines", surface="mde", app=READ, delegated=READ_D)
async def list_machines(ctx: Ctx) -> Response:
    """List machines, paged with ``$top`` (max 10,000) and ``$skip``."""
    top, skip = parse_top_skip(ctx.query, MAX_TOP)
    pred = compile_filter(ctx.query.get("$filter"), FILTERS, any_case=True)
    with ctx.state.lock:
        rows = [public(m) for m in ctx.tenant.data["machines"].values() if pred(m)]
    body = {
        "@odata.context": f"{ctx.request.base_url}api/$metadata#Machines",
        "value": rows[skip : skip + top],
    }
    return JSONResponse(body)


@api("GET", "/api/machines/{id}", surface="mde", app=READ, delegated=READ_D)
async def get_machine(ctx: Ctx) -> Response:
    """One machine by id or computer name."""
    with ctx.state.lock:
        return JSONResponse(public(find_machine(ctx.tenant, ctx.params["id"])))
