"""Machine extras: find by tag, find by IP, add/remove tags (one machine or up to 500), logon
users, related alerts.

Seed (per customer tenant): every machine gets an IP history (its current address since its last
contact, plus an earlier DHCP lease a few days back) for ``findbyip``, and its logon users
(``logonUsers`` collection, keyed by machine id: the users of the alerts on that machine, a local
administrator, and on domain controllers a domain admin). Tags live on the machines themselves.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import collection
from prefect_defender.emulator.routes.machines import READ, READ_D, find_machine, public
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["seed"]

WRITE = ("Machine.ReadWrite.All",)
WRITE_D = ("Machine.ReadWrite",)
MAX_TAG_LENGTH = 200
MAX_TAG_MACHINES = 500
FINDBYIP_WINDOW = timedelta(minutes=15)
FINDBYIP_MAX_AGE = timedelta(days=30)


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _body(ctx: Ctx, required: tuple[str, ...]) -> dict[str, Any]:
    """The JSON body with exactly the documented (case-sensitive) parameters."""
    body = await ctx.body()
    for key in body:
        if key not in required:
            raise ApiError(
                400, "InvalidRequestBody", f"Request body is incorrect: unknown parameter '{key}'."
            )
    for key in required:
        if key not in body or body[key] in (None, "", []):
            raise ApiError(400, "MissingRequiredParameter", f"Missing required parameter: '{key}'.")
    return body


def _tag_args(body: dict[str, Any]) -> tuple[str, str]:
    value, action = body["Value"], body["Action"]
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TAG_LENGTH:
        raise ApiError(400, "InvalidInput", f"Tag value must be 1 to {MAX_TAG_LENGTH} characters.")
    if action not in ("Add", "Remove"):
        raise ApiError(400, "InvalidRequestBody", "Action must be 'Add' or 'Remove'.")
    return value, action


def _apply_tag(machine: dict[str, Any], value: str, action: str) -> None:
    tags = list(machine.get("machineTags") or [])
    if action == "Add" and value not in tags:
        tags.append(value)
    elif action == "Remove":
        tags = [t for t in tags if t != value]
    machine["machineTags"] = tags


@api("GET", "/api/machines/findbytag", surface="mde", app=READ, delegated=READ_D)
async def find_by_tag(ctx: Ctx) -> Response:
    """Machines carrying a tag (exact, or prefix with ``useStartsWithFilter=true``)."""
    tag = ctx.query.get("tag")
    if not tag:
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'tag'.")
    flag = (ctx.query.get("useStartsWithFilter") or "false").lower()
    if flag not in ("true", "false"):
        raise ApiError(400, "InvalidInput", "useStartsWithFilter must be true or false.")
    low = tag.lower()
    with ctx.state.lock:
        rows = [
            public(m)
            for m in ctx.tenant.data["machines"].values()
            if any(
                t.lower().startswith(low) if flag == "true" else t.lower() == low
                for t in m.get("machineTags") or []
            )
        ]
    return collection(ctx, "Machines", rows)


@api(
    "GET",
    "/api/machines/findbyip(ip='{ip}',timestamp={ts})",
    surface="mde",
    app=READ,
    delegated=READ_D,
)
async def find_by_ip(ctx: Ctx) -> Response:
    """Machines that had the IP within 15 minutes of the timestamp (at most 30 days back)."""
    import ipaddress

    ip, ts = ctx.params["ip"], ctx.params["ts"]
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ApiError(400, "InvalidIpAddress", f"Invalid IP address '{ip}'.") from None
    try:
        when = _parse_time(ts)
    except ValueError:
        raise ApiError(400, "InvalidInput", f"Invalid timestamp '{ts}'.") from None
    if when < datetime.now(UTC) - FINDBYIP_MAX_AGE:
        raise ApiError(400, "InvalidInput", "The timestamp must be within the last 30 days.")
    rows = []
    with ctx.state.lock:
        for m in ctx.tenant.data["machines"].values():
            for lease in m.get("_ipHistory") or []:
                if lease["ip"] != ip:
                    continue
                start = _parse_time(lease.get("from") or lease["time"])
                end = _parse_time(lease["time"])
                if start - FINDBYIP_WINDOW <= when <= end + FINDBYIP_WINDOW:
                    rows.append(public(m))
                    break
    return collection(ctx, "Machines", rows)


@api("POST", "/api/machines/{id}/tags", surface="mde", app=WRITE, delegated=WRITE_D)
async def tag_machine(ctx: Ctx) -> Response:
    """Add or remove one tag; 200 with the updated machine."""
    value, action = _tag_args(await _body(ctx, ("Value", "Action")))
    with ctx.state.lock:
        m = find_machine(ctx.tenant, ctx.params["id"])
        _apply_tag(m, value, action)
        return JSONResponse(public(m))


@api(
    "POST",
    "/api/machines/AddOrRemoveTagForMultipleMachines",
    surface="mde",
    app=WRITE,
    delegated=WRITE_D,
)
async def tag_many(ctx: Ctx) -> Response:
    """Add or remove one tag on up to 500 machines; 200 with the updated machines."""
    body = await _body(ctx, ("Value", "Action", "MachineIds"))
    value, action = _tag_args(body)
    ids = body["MachineIds"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "InvalidRequestBody", "MachineIds must be a list of machine ids.")
    if len(ids) > MAX_TAG_MACHINES:
        raise ApiError(
            400,
            "MaximumBatchSizeExceeded",
            f"Maximum batch size exceeded. Received: {len(ids)}, allowed: {MAX_TAG_MACHINES}.",
        )
    with ctx.state.lock:
        updated = []
        for mid in dict.fromkeys(i.lower() for i in ids):
            m = ctx.tenant.data["machines"].get(mid)
            if m is not None:
                _apply_tag(m, value, action)
                updated.append(public(m))
    return collection(ctx, "Machines", updated)


@api(
    "GET",
    "/api/machines/{id}/logonusers",
    surface="mde",
    app=("User.Read.All",),
    delegated=("User.Read.All",),
)
async def logon_users(ctx: Ctx) -> Response:
    """Users that logged on to the machine (seeded per machine)."""
    with ctx.state.lock:
        m = find_machine(ctx.tenant, ctx.params["id"])
        rows = [dict(u) for u in ctx.tenant.data["logonUsers"].get(m["id"], [])]
    return collection(ctx, "Users", rows)


@api(
    "GET",
    "/api/machines/{id}/alerts",
    surface="mde",
    app=("Alert.Read.All", "Alert.ReadWrite.All"),
    delegated=("Alert.Read", "Alert.ReadWrite"),
)
async def machine_alerts(ctx: Ctx) -> Response:
    """Alerts on the machine (from the seeded alerts), newest first."""
    with ctx.state.lock:
        m = find_machine(ctx.tenant, ctx.params["id"])
        rows = [
            {k: v for k, v in a.items() if not k.startswith("_") and k != "graphComments"}
            for a in ctx.tenant.data["alerts"].values()
            if a.get("machineId") == m["id"]
        ]
    rows.sort(key=lambda a: str(a.get("alertCreationTime") or ""), reverse=True)
    return collection(ctx, "Alerts", rows)


def _user(
    tenant: Tenant, name: str, m: dict[str, Any], *, admin: bool, domain: str, kind: str
) -> dict[str, Any]:
    digest = hashlib.sha256(f"{tenant.tenant_id}/{domain}/{name}".encode()).digest()
    rid = int.from_bytes(digest[:3], "big")
    return {
        "id": f"{domain}\\{name}" if domain else name,
        "accountName": name,
        "accountDomain": domain,
        "accountSid": f"S-1-5-21-{int.from_bytes(digest[3:7], 'big')}-{rid}-{1000 + rid % 9000}",
        "firstSeen": m["firstSeen"],
        "lastSeen": m["lastSeen"],
        "logonTypes": kind,
        "isDomainAdmin": admin,
        "isOnlyNetworkUser": kind == "Network",
    }


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """IP history and logon users for every machine of a customer tenant."""
    rng = random.Random(f"{state.config.get('seed', 1)}/{tenant.name}/machine-extras")
    domain = tenant.name.upper()
    by_machine: dict[str, set[str]] = {}
    for a in tenant.data["alerts"].values():
        user = (a.get("relatedUser") or {}).get("userName")
        if a.get("machineId") and user:
            by_machine.setdefault(a["machineId"], set()).add(str(user))
    users: dict[str, list[dict[str, Any]]] = {}
    for m in tenant.data["machines"].values():
        last = _parse_time(m["lastSeen"])
        current = {
            "ip": m["lastIpAddress"],
            "from": iso(last - timedelta(hours=36)),
            "time": m["lastSeen"],
        }
        older_end = last - timedelta(days=rng.randint(3, 10))
        older = {
            "ip": f"10.{rng.randint(21, 30)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "from": iso(older_end - timedelta(hours=12)),
            "time": iso(older_end),
        }
        m["_ipHistory"] = [older, current]
        rows = [
            _user(tenant, n, m, admin=False, domain=domain, kind="Interactive")
            for n in sorted(by_machine.get(m["id"], ()))
        ]
        if "-dc" in m["computerDnsName"]:
            rows.append(
                _user(tenant, "da-admin", m, admin=True, domain=domain, kind="RemoteInteractive")
            )
        rows.append(_user(tenant, "svc-backup", m, admin=False, domain=domain, kind="Network"))
        rows.append(_user(tenant, "localadmin", m, admin=False, domain="", kind="Interactive"))
        users[m["id"]] = rows
    tenant.data["logonUsers"] = users
