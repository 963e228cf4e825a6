"""The admin API under ``/_emulator``: counters, knobs, revocation, consent, seeding, dumps.

It has no authentication: the emulator listens on 127.0.0.1 only and holds no real data.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.routes.bound import StateHandler, bound_routes
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState
from prefect_defender.emulator.views import touch_incident

__all__ = ["routes"]


async def _json(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw else {}


def routes(state: EmulatorState) -> list[Route]:
    """The admin routes bound to ``state``."""
    table: list[tuple[str, StateHandler, list[str] | None]] = [
        ("/_emulator/stats", stats, None),
        ("/_emulator/stats/reset", reset, ["POST"]),
        ("/_emulator/config", config, ["GET", "PATCH"]),
        ("/_emulator/tokens/revoke", revoke_tokens, ["POST"]),
        ("/_emulator/users/{username}/revoke", revoke_user, ["POST"]),
        ("/_emulator/tenants/{tid}/consent", consent, ["POST", "DELETE"]),
        ("/_emulator/tenants/{tid}/incidents", incidents, ["POST"]),
        ("/_emulator/tenants/{tid}/state/{collection}", dump, None),
        ("/_emulator/devicelogin", devicelogin, ["POST"]),
    ]
    return bound_routes(state, table)


async def stats(state: EmulatorState, request: Request) -> Response:
    """Request counters."""
    return JSONResponse(state.stats_dict())


async def reset(state: EmulatorState, request: Request) -> Response:
    """Zero the request counters."""
    state.reset_stats()
    return JSONResponse({"ok": True})


async def config(state: EmulatorState, request: Request) -> Response:
    """The knobs (GET), or change some of them (PATCH an object)."""
    if request.method == "PATCH":
        patch = await _json(request)
        if not isinstance(patch, dict):
            return JSONResponse({"error": "expected an object"}, status_code=400)
        try:
            return JSONResponse(state.patch_config(patch))
        except ValueError as exc:  # a knob with a checked value (retired_surfaces)
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(state.config)


async def revoke_tokens(state: EmulatorState, request: Request) -> Response:
    """Revoke every token issued so far."""
    # every token issued up to now (iat has one-second resolution, so this second too)
    state.tokens_revoked_before = time.time()
    state.verified_tokens.clear()
    return JSONResponse({"revoked_before": state.tokens_revoked_before})


async def revoke_user(state: EmulatorState, request: Request) -> Response:
    """Revoke one user's refresh tokens."""
    user = state.users.get(request.path_params["username"].lower())
    if user is None:
        return JSONResponse({"error": "unknown user"}, status_code=404)
    user.revoked_before = time.time() + 1
    return JSONResponse({"ok": True})


async def consent(state: EmulatorState, request: Request) -> Response:
    """Consent an app in a tenant (POST) or withdraw it (DELETE)."""
    tenant = state.tenant(request.path_params["tid"])
    body = await _json(request)
    app = state.app_by_client_id(str(body.get("client_id", "")))
    if tenant is None or app is None:
        return JSONResponse({"error": "unknown tenant or app"}, status_code=404)
    with state.lock:
        if request.method == "DELETE":
            app.consented_tenants.discard(tenant.tenant_id)
        else:
            app.consented_tenants.add(tenant.tenant_id)
    return JSONResponse({"consented_tenants": sorted(app.consented_tenants)})


async def incidents(state: EmulatorState, request: Request) -> Response:
    """Plant or update incidents (and their alerts) in a tenant."""
    tenant = state.tenant(request.path_params["tid"])
    if tenant is None:
        return JSONResponse({"error": "unknown tenant"}, status_code=404)
    body = await _json(request)
    items = body.get("incidents", []) if isinstance(body, dict) else body
    out = []
    with state.lock:
        for item in items:
            alerts = item.pop("alerts", None) or []
            iid = item.get("incidentId")
            store = tenant.data["incidents"]
            if iid is None or int(iid) not in store:
                iid = int(iid) if iid is not None else tenant.next_id("incident", 2000)
                store[iid] = _new_incident(tenant.tenant_id, iid)
            inc = store[int(iid)]
            explicit = item.pop("lastUpdateTime", None)
            item.pop("incidentId", None)
            inc.update(item)
            touch_incident(tenant, inc, explicit)
            for a in alerts:
                tenant.data["alerts"][a["id"]] = _planted_alert(a, inc)
            out.append(inc)
    return JSONResponse({"incidents": out})


async def dump(state: EmulatorState, request: Request) -> Response:
    """A tenant's stored collection."""
    tenant = state.tenant(request.path_params["tid"])
    if tenant is None:
        return JSONResponse({"error": "unknown tenant"}, status_code=404)
    with state.lock:
        data = tenant.data.get(request.path_params["collection"], {})
        return JSONResponse({"value": list(data.values()) if isinstance(data, dict) else data})


async def devicelogin(state: EmulatorState, request: Request) -> Response:
    """Approve every pending device code as ``username``."""
    body = await _json(request)
    username = str(body.get("username", "")).lower()
    with state.lock:
        for entry in state.device_codes.values():
            entry["approved_user"] = username
    return JSONResponse({"ok": True})


def _new_incident(tenant_id: str, iid: int) -> dict[str, Any]:
    """A new active, medium-severity incident as the admin API plants it."""
    now = iso_now()
    return {
        "incidentId": iid,
        "incidentUri": f"https://security.microsoft.com/incidents/{iid}?tid={tenant_id}",
        "redirectIncidentId": None,
        "incidentName": f"Incident {iid}",
        "createdTime": now,
        "lastUpdateTime": now,
        "assignedTo": None,
        "classification": "Unknown",
        "determination": "NotAvailable",
        "status": "Active",
        "severity": "Medium",
        "tags": [],
        "comments": [],
        "detectionSource": "EDR",
        "description": "",
    }


def _planted_alert(alert: dict[str, Any], inc: dict[str, Any]) -> dict[str, Any]:
    """An alert given with a planted incident, its missing fields taken from the incident."""
    a = dict(alert)
    a.setdefault("incidentId", inc["incidentId"])
    a.setdefault("alertCreationTime", inc["createdTime"])
    a.setdefault("lastUpdateTime", inc["lastUpdateTime"])
    a.setdefault("status", "New")
    a.setdefault("title", inc["incidentName"])
    a.setdefault("entities", [])
    return a


def iso_now() -> str:
    """Now, in Defender's timestamp format."""
    from datetime import UTC, datetime

    return iso(datetime.now(UTC))
