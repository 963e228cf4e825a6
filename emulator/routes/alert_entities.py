"""An MDE alert's related entities: ``/api/alerts/{id}/domains|files|ips|machine|user``."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.routes.alerts import find_alert
from prefect_defender.emulator.routes.machines import find_machine, public
from prefect_defender.emulator.views import mde_file


@api("GET", "/api/alerts/{id}/domains", surface="mde", app=("URL.Read.All",))
async def alert_domains(ctx: Ctx) -> Response:
    """Domains of the alert's URL entities."""
    with ctx.state.lock:
        a = find_alert(ctx.tenant, ctx.params["id"])
        hosts = sorted(
            {
                urlsplit(e["url"]).hostname or ""
                for e in a.get("entities") or []
                if e.get("entityType") == "Url"
            }
            - {""}
        )
    return JSONResponse({"value": [{"host": h} for h in hosts]})


@api("GET", "/api/alerts/{id}/files", surface="mde", app=("File.Read.All",))
async def alert_files(ctx: Ctx) -> Response:
    """Files of the alert."""
    with ctx.state.lock:
        a = find_alert(ctx.tenant, ctx.params["id"])
        files = [
            mde_file(
                e.get("sha1"),
                e.get("sha256"),
                None,
                prevalence=3,
                first_seen=a["firstEventTime"],
                last_seen=a["lastEventTime"],
                determination=("Malware", "Emulated"),
            )
            for e in a.get("entities") or []
            if e.get("entityType") == "File"
        ]
    return JSONResponse({"value": files})


@api("GET", "/api/alerts/{id}/ips", surface="mde", app=("Ip.Read.All",))
async def alert_ips(ctx: Ctx) -> Response:
    """IP addresses of the alert."""
    with ctx.state.lock:
        a = find_alert(ctx.tenant, ctx.params["id"])
        ips = [
            {"id": e["ipAddress"]} for e in a.get("entities") or [] if e.get("entityType") == "Ip"
        ]
    return JSONResponse({"value": ips})


@api(
    "GET",
    "/api/alerts/{id}/machine",
    surface="mde",
    app=("Machine.Read.All", "Machine.ReadWrite.All"),
    delegated=("Machine.Read", "Machine.ReadWrite"),
)
async def alert_machine(ctx: Ctx) -> Response:
    """The alert's machine."""
    with ctx.state.lock:
        a = find_alert(ctx.tenant, ctx.params["id"])
        return JSONResponse(public(find_machine(ctx.tenant, a["machineId"])))


@api("GET", "/api/alerts/{id}/user", surface="mde", app=("User.Read.All",))
async def alert_user(ctx: Ctx) -> Response:
    """The alert's user."""
    with ctx.state.lock:
        a = find_alert(ctx.tenant, ctx.params["id"])
        user = a.get("relatedUser")
        if not user:
            raise ApiError(404, "ResourceNotFound", f"No user related to alert {a['id']}")
    name = user["userName"]
    return JSONResponse(
        {
            "id": f"{user['domainName']}\\{name}",
            "accountName": name,
            "accountDomain": user["domainName"],
            "firstSeen": a["firstEventTime"],
            "lastSeen": a["lastEventTime"],
            "logonTypes": "Interactive",
            "isDomainAdmin": False,
            "isOnlyNetworkUser": False,
        }
    )
