"""Machine actions (isolate, scan, restrict, collect, quarantine, offboard), their lifecycle,
cancel, investigation packages, plus the machine extras (find by IP/tag, tags, logon users,
related alerts) and automated investigations started from a machine.

Lifecycle: an action is ``Pending`` for ``action_pending_seconds``, ``InProgress`` for
``action_running_seconds`` (documented seconds, divided by ``time_scale``), then ends
``Succeeded``, or ``Failed``/``TimeOut`` by the knobs ``action_failure_rate`` /
``action_timeout_rate`` / per-machine ``action_outcomes`` (``{"<machine id>": "Failed" |
"TimeOut" | "Pending"}``; ``Pending`` never progresses). A second request of the same type for a
machine whose action is still Pending or InProgress answers 400 "Action is already in progress".
"""

from __future__ import annotations

import hashlib
import hmac
import io
import random
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, parse_top_skip
from prefect_defender.emulator.routes.machines import READ, READ_D, find_machine, public
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["advance", "download_routes", "new_action"]

FINAL = {"Succeeded", "Failed", "TimeOut", "Cancelled"}
ACTION_FILTERS = ("id", "status", "machineId", "type", "requestor", "creationDateTimeUtc")
ANY_ACTION = (
    "Machine.Isolate",
    "Machine.RestrictExecution",
    "Machine.Scan",
    "Machine.CollectForensics",
    "Machine.StopAndQuarantine",
    "Machine.Offboard",
    "Machine.LiveResponse",
)
DOWNLOAD_KEY = uuid.uuid4().bytes


def _now_iso() -> str:
    return iso(datetime.now(UTC))


def sign(path: str, expires: int) -> str:
    """Signature of a download link (the SAS ``sig``)."""
    return hmac.new(DOWNLOAD_KEY, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()


def _outcome(state: EmulatorState, machine_id: str) -> str:
    per = (state.config.get("action_outcomes") or {}).get(machine_id)
    if per:
        return str(per)
    roll = random.random()
    fail = float(state.config.get("action_failure_rate") or 0.0)
    tout = float(state.config.get("action_timeout_rate") or 0.0)
    stuck = float(state.config.get("action_stuck_rate") or 0.0)
    if roll < fail:
        return "Failed"
    if roll < fail + tout:
        return "TimeOut"
    if roll < fail + tout + stuck:
        return "Pending"
    return "Succeeded"


def new_action(
    ctx: Ctx, machine: dict[str, Any], action_type: str, comment: str, **extra: Any
) -> dict[str, Any]:
    """Create and store a Pending action (raises 400 if one of this type is in progress)."""
    tenant, state = ctx.tenant, ctx.state
    actions = tenant.data["machineActions"]
    for a in actions.values():
        if a["machineId"] == machine["id"] and a["type"] == action_type:
            advance(state, tenant, a)
            if a["status"] in ("Pending", "InProgress"):
                raise ApiError(
                    400,
                    "ActiveRequestAlreadyExists" if action_type == "LiveResponse" else "BadRequest",
                    "Action is already in progress"
                    if action_type != "LiveResponse"
                    else "An active live response request already exists for this machine.",
                )
    now = _now_iso()
    aid = str(uuid.uuid4())
    action: dict[str, Any] = {
        "id": aid,
        "type": action_type,
        "title": None,
        "requestor": ctx.caller,
        "requestorComment": comment,
        "status": "Pending",
        "machineId": machine["id"],
        "computerDnsName": machine["computerDnsName"],
        "creationDateTimeUtc": now,
        "lastUpdateDateTimeUtc": now,
        "cancellationRequestor": None,
        "cancellationComment": None,
        "cancellationDateTimeUtc": None,
        "errorHResult": 0,
        "scope": extra.pop("scope", None),
        "externalId": extra.pop("externalId", None),
        "requestSource": "PublicApi",
        "relatedFileInfo": extra.pop("relatedFileInfo", None),
        "commands": extra.pop("commands", []),
        "troubleshootInfo": None,
        "_created": time.monotonic(),
        "_outcome": _outcome(state, machine["id"]),
    }
    action.update(extra)
    actions[aid] = action
    return action


def advance(state: EmulatorState, tenant: Tenant, action: dict[str, Any]) -> None:
    """Move an action along its lifecycle according to the clock."""
    if action["status"] in FINAL:
        return
    elapsed = time.monotonic() - action["_created"]
    pending = state.scaled(float(state.config.get("action_pending_seconds", 30)))
    running = state.scaled(float(state.config.get("action_running_seconds", 60)))
    outcome = action["_outcome"]
    if outcome == "Pending" or elapsed < pending:
        return
    if elapsed < pending + running:
        if action["status"] != "InProgress":
            action["status"] = "InProgress"
            action["lastUpdateDateTimeUtc"] = _now_iso()
        return
    action["status"] = outcome
    action["lastUpdateDateTimeUtc"] = _now_iso()
    for cmd in action.get("commands") or []:
        cmd["commandStatus"] = "Completed" if outcome == "Succeeded" else "Failed"
    if outcome != "Succeeded":
        action["errorHResult"] = -2147467259
        return
    machine = tenant.data["machines"].get(action["machineId"])
    if machine is not None:
        kind = action["type"]
        if kind == "Isolate":
            machine["isolationState"] = "Isolated"
        elif kind == "Unisolate":
            machine["isolationState"] = "NotIsolated"
        elif kind == "RestrictCodeExecution":
            machine["restrictionState"] = "Restricted"
        elif kind == "UnrestrictCodeExecution":
            machine["restrictionState"] = "NotRestricted"
        elif kind == "Offboard":
            machine["onboardingStatus"] = "Offboarded"


def view(action: dict[str, Any]) -> dict[str, Any]:
    """The public JSON of an action."""
    return {k: v for k, v in action.items() if not k.startswith("_")}


async def _body(
    ctx: Ctx, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    body = await ctx.body()
    allowed = set(required) | set(optional)
    for key in body:
        if key not in allowed:
            raise ApiError(
                400, "InvalidRequestBody", f"Request body is incorrect: unknown parameter '{key}'."
            )
    for key in required:
        if key not in body or body[key] in (None, ""):
            raise ApiError(400, "MissingRequiredParameter", f"Missing required parameter: '{key}'.")
    return body


def _machine(ctx: Ctx) -> dict[str, Any]:
    return find_machine(ctx.tenant, ctx.params["id"])


def _created(action: dict[str, Any]) -> Response:
    return JSONResponse(view(action), status_code=201)


@api("POST", "/api/machines/{id}/isolate", surface="mde", app=("Machine.Isolate",))
async def isolate(ctx: Ctx) -> Response:
    """Isolate a machine (IsolationType Full, Selective or UnManagedDevice)."""
    body = await _body(ctx, ("Comment",), ("IsolationType", "ExternalID"))
    itype = body.get("IsolationType", "Full")
    if itype not in ("Full", "Selective", "UnManagedDevice"):
        raise ApiError(400, "InvalidRequestBody", f"Invalid IsolationType '{itype}'.")
    with ctx.state.lock:
        m = _machine(ctx)
        if itype == "Selective" and m["osPlatform"] in ("Linux", "macOS"):
            raise ApiError(
                400,
                "OsPlatformNotSupported",
                "Selective isolation is not supported on this OS platform.",
            )
        return _created(
            new_action(
                ctx, m, "Isolate", body["Comment"], scope=itype, externalId=body.get("ExternalID")
            )
        )


def _simple(action_type: str, perm: str, path: str, extra: tuple[str, ...] = ()) -> None:
    @api("POST", path, surface="mde", app=(perm,))
    async def handler(ctx: Ctx) -> Response:
        body = await _body(ctx, ("Comment", *extra), ("ExternalID",))
        with ctx.state.lock:
            m = _machine(ctx)
            kw: dict[str, Any] = {"externalId": body.get("ExternalID")}
            if action_type == "RunAntiVirusScan":
                if body["ScanType"] not in ("Quick", "Full"):
                    raise ApiError(
                        400, "InvalidRequestBody", f"Invalid ScanType '{body['ScanType']}'."
                    )
                kw["scope"] = body["ScanType"]
            if action_type == "StopAndQuarantineFile":
                sha1 = str(body["Sha1"])
                if len(sha1) != 40 or any(c not in "0123456789abcdefABCDEF" for c in sha1):
                    raise ApiError(400, "InvalidHashValue", f"Invalid SHA1 value '{sha1}'.")
                kw["relatedFileInfo"] = {
                    "fileIdentifier": sha1.lower(),
                    "fileIdentifierType": "Sha1",
                }
            if action_type == "Offboard" and m["osPlatform"] in ("Linux", "macOS"):
                raise ApiError(
                    400,
                    "OsPlatformNotSupported",
                    "Offboarding is not supported on macOS or Linux devices.",
                )
            return _created(new_action(ctx, m, action_type, body["Comment"], **kw))

    handler.__name__ = f"post_{action_type}"


_simple("Unisolate", "Machine.Isolate", "/api/machines/{id}/unisolate")
_simple(
    "RestrictCodeExecution", "Machine.RestrictExecution", "/api/machines/{id}/restrictCodeExecution"
)
_simple(
    "UnrestrictCodeExecution",
    "Machine.RestrictExecution",
    "/api/machines/{id}/unrestrictCodeExecution",
)
_simple("RunAntiVirusScan", "Machine.Scan", "/api/machines/{id}/runAntiVirusScan", ("ScanType",))
_simple(
    "CollectInvestigationPackage",
    "Machine.CollectForensics",
    "/api/machines/{id}/collectInvestigationPackage",
)
_simple(
    "StopAndQuarantineFile",
    "Machine.StopAndQuarantine",
    "/api/machines/{id}/StopAndQuarantineFile",
    ("Sha1",),
)
_simple("Offboard", "Machine.Offboard", "/api/machines/{id}/offboard")


@api("GET", "/api/machineactions", surface="mde", app=READ, delegated=READ_D)
async def list_actions(ctx: Ctx) -> Response:
    """List machine actions, newest first."""
    top, skip = parse_top_skip(ctx.query, 10_000)
    pred = compile_filter(ctx.query.get("$filter"), ACTION_FILTERS)
    with ctx.state.lock:
        rows = []
        for a in ctx.tenant.data["machineActions"].values():
            advance(ctx.state, ctx.tenant, a)
            if pred(a):
                rows.append(view(a))
    rows.sort(key=lambda a: a["creationDateTimeUtc"], reverse=True)
    return JSONResponse(
        {
            "@odata.context": f"{ctx.request.base_url}api/$metadata#MachineActions",
            "value": rows[skip : skip + top],
        }
    )


def _action(ctx: Ctx) -> dict[str, Any]:
    a: dict[str, Any] | None = ctx.tenant.data["machineActions"].get(ctx.params["id"])
    if a is None:
        raise ApiError(404, "ResourceNotFound", f"Machine action {ctx.params['id']} was not found")
    advance(ctx.state, ctx.tenant, a)
    return a


@api("GET", "/api/machineactions/{id}", surface="mde", app=READ, delegated=READ_D)
async def get_action(ctx: Ctx) -> Response:
    """One machine action."""
    with ctx.state.lock:
        return JSONResponse(view(_action(ctx)))


@api("POST", "/api/machineactions/{id}/cancel", surface="mde", app=ANY_ACTION)
async def cancel(ctx: Ctx) -> Response:
    """Cancel an action that has not reached a final state."""
    body = await _body(ctx, ("Comment",))
    with ctx.state.lock:
        a = _action(ctx)
        if a["status"] in FINAL:
            raise ApiError(
                400, "BadRequest", f"Action {a['id']} is already in a final state ({a['status']})."
            )
        now = _now_iso()
        a.update(
            status="Cancelled",
            lastUpdateDateTimeUtc=now,
            cancellationRequestor=ctx.caller,
            cancellationComment=body["Comment"],
            cancellationDateTimeUtc=now,
        )
        return JSONResponse(view(a))


@api(
    "GET",
    "/api/machineactions/{id}/getPackageUri",
    surface="mde",
    app=(*READ, "Machine.CollectForensics"),
    delegated=("Machine.CollectForensics",),
    family="package_uri",
)
async def package_uri(ctx: Ctx) -> Response:
    """A short-lived download link for a completed investigation package."""
    with ctx.state.lock:
        a = _action(ctx)
        if a["type"] != "CollectInvestigationPackage" or a["status"] != "Succeeded":
            raise ApiError(
                404, "ResourceNotFound", f"Investigation package for action {a['id']} was not found"
            )
    expires = int(time.time()) + 3600
    path = f"/_downloads/packages/{a['id']}.zip"
    host = ctx.request.headers.get("host")
    return JSONResponse(
        {
            "@odata.context": f"{ctx.request.base_url}api/$metadata#Edm.String",
            "value": f"https://{host}{path}?se={expires}&sig={sign(path, expires)}",
        }
    )


def download_routes(state: EmulatorState) -> list[Route]:
    """Unauthenticated, signed download links (like Azure SAS URLs)."""

    async def package(request: Request) -> Response:
        path = request.url.path
        state.download_stats[(path.rsplit("/", 1)[0], "authorization" in request.headers)] += 1
        try:
            expires = int(request.query_params.get("se", "0"))
        except ValueError:
            expires = 0
        if expires < time.time() or not hmac.compare_digest(
            request.query_params.get("sig", ""), sign(path, expires)
        ):
            return Response("AuthenticationFailed: signature invalid or expired", status_code=403)
        content = state.downloads.get(path)
        if content is None:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr("Processes.csv", "Name,PID\nexplorer.exe,4120\n")
                zf.writestr("NetworkConnections.txt", "TCP 10.1.2.3:49712 203.0.113.66:443\n")
            content = buf.getvalue()
        return Response(content, media_type="application/octet-stream")

    return [
        Route("/_downloads/packages/{name}", package),
        Route("/_downloads/liveresponse/{name}", package),
    ]


# -- machine extras -------------------------------------------------------------------------


@api("GET", "/api/machines/findbytag", surface="mde", app=READ, delegated=READ_D)
async def find_by_tag(ctx: Ctx) -> Response:
    """Machines carrying a tag (exact, or prefix with ``useStartsWithFilter=true``)."""
    tag = ctx.query.get("tag")
    if not tag:
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'tag'.")
    prefix = (ctx.query.get("useStartsWithFilter") or "false").lower() == "true"
    low = tag.lower()
    with ctx.state.lock:
        rows = [
            public(m)
            for m in ctx.tenant.data["machines"].values()
            if any(
                t.lower().startswith(low) if prefix else t.lower() == low
                for t in m.get("machineTags") or []
            )
        ]
    return JSONResponse({"value": rows})


@api(
    "GET",
    "/api/machines/findbyip(ip='{ip}',timestamp={ts})",
    surface="mde",
    app=READ,
    delegated=READ_D,
)
async def find_by_ip(ctx: Ctx) -> Response:
    """Machines that had the IP within 15 minutes of the timestamp (at most 30 days back)."""
    ip, ts = ctx.params["ip"], ctx.params["ts"]
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "InvalidInput", f"Invalid timestamp '{ts}'.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when < datetime.now(UTC) - timedelta(days=30):
        raise ApiError(400, "InvalidInput", "The timestamp must be within the last 30 days.")
    window = timedelta(minutes=15)
    rows = []
    with ctx.state.lock:
        for m in ctx.tenant.data["machines"].values():
            for h in m.get("_ipHistory") or []:
                seen = datetime.fromisoformat(h["time"].replace("Z", "")[:26]).replace(tzinfo=UTC)
                if h["ip"] == ip and abs(seen - when) <= window:
                    rows.append(public(m))
                    break
    return JSONResponse({"value": rows})


@api(
    "POST",
    "/api/machines/{id}/tags",
    surface="mde",
    app=("Machine.ReadWrite.All",),
    delegated=("Machine.ReadWrite",),
)
async def tag_machine(ctx: Ctx) -> Response:
    """Add or remove one tag."""
    body = await _body(ctx, ("Value", "Action"))
    if body["Action"] not in ("Add", "Remove"):
        raise ApiError(400, "InvalidRequestBody", "Action must be 'Add' or 'Remove'.")
    with ctx.state.lock:
        m = _machine(ctx)
        _apply_tag(m, str(body["Value"]), body["Action"])
        return JSONResponse(public(m))


def _apply_tag(m: dict[str, Any], value: str, action: str) -> None:
    tags = list(m.get("machineTags") or [])
    if action == "Add" and value not in tags:
        tags.append(value)
    if action == "Remove":
        tags = [t for t in tags if t != value]
    m["machineTags"] = tags


@api(
    "POST",
    "/api/machines/AddOrRemoveTagForMultipleMachines",
    surface="mde",
    app=("Machine.ReadWrite.All",),
    delegated=("Machine.ReadWrite",),
)
async def tag_many(ctx: Ctx) -> Response:
    """Add or remove one tag on up to 500 machines."""
    body = await _body(ctx, ("Value", "Action", "MachineIds"))
    ids = body["MachineIds"]
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "InvalidRequestBody", "MachineIds must be a non-empty list.")
    if len(ids) > 500:
        raise ApiError(400, "MaximumBatchSizeExceeded", "At most 500 machines per request.")
    if body["Action"] not in ("Add", "Remove"):
        raise ApiError(400, "InvalidRequestBody", "Action must be 'Add' or 'Remove'.")
    with ctx.state.lock:
        found = []
        for mid in ids:
            m = ctx.tenant.data["machines"].get(str(mid).lower())
            if m is not None:
                _apply_tag(m, str(body["Value"]), body["Action"])
                found.append(public(m))
    return JSONResponse({"value": found})


@api(
    "GET",
    "/api/machines/{id}/logonusers",
    surface="mde",
    app=("User.Read.All",),
    delegated=("User.Read.All",),
)
async def logon_users(ctx: Ctx) -> Response:
    """Users that logged on to the machine (from the alerts' users)."""
    with ctx.state.lock:
        m = _machine(ctx)
        names = sorted(
            {
                a.get("relatedUser", {}).get("userName")
                for a in ctx.tenant.data["alerts"].values()
                if a.get("machineId") == m["id"]
            }
            - {None}
        )
        names = names or ["localadmin"]
    rows = [
        {
            "id": n,
            "accountName": n,
            "accountDomain": ctx.tenant.name.upper(),
            "accountSid": f"S-1-5-21-{int(hashlib.md5(n.encode()).hexdigest()[:8], 16)}",  # noqa: S324
            "firstSeen": m["firstSeen"],
            "lastSeen": m["lastSeen"],
            "logonTypes": "Interactive",
            "isDomainAdmin": False,
            "isOnlyNetworkUser": False,
        }
        for n in names
    ]
    return JSONResponse({"value": rows})


@api(
    "GET",
    "/api/machines/{id}/alerts",
    surface="mde",
    app=("Alert.Read.All", "Alert.ReadWrite.All"),
    delegated=("Alert.Read", "Alert.ReadWrite"),
)
async def machine_alerts(ctx: Ctx) -> Response:
    """Alerts on the machine."""
    with ctx.state.lock:
        m = _machine(ctx)
        rows = [
            {k: v for k, v in a.items() if k not in ("entities", "graphComments")}
            for a in ctx.tenant.data["alerts"].values()
            if a.get("machineId") == m["id"]
        ]
    return JSONResponse({"value": rows})


@api(
    "POST",
    "/api/machines/{id}/startInvestigation",
    surface="mde",
    app=("Alert.ReadWrite.All",),
    delegated=("Alert.ReadWrite",),
    family="investigation_start",
)
async def start_investigation(ctx: Ctx) -> Response:
    """Start an automated investigation on the machine."""
    body = await _body(ctx, ("Comment",))
    with ctx.state.lock:
        m = _machine(ctx)
        inv_id = ctx.tenant.next_id("investigation", 5000)
        inv = {
            "id": str(inv_id),
            "startTime": _now_iso(),
            "endTime": None,
            "state": "Running",
            "cancelledBy": None,
            "statusDetails": body["Comment"],
            "machineId": m["id"],
            "computerDnsName": m["computerDnsName"],
            "triggeringAlertId": None,
        }
        ctx.tenant.data["investigations"][str(inv_id)] = inv
    return JSONResponse(inv, status_code=201)


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """No actions at start; the collection exists so dumps work."""
    tenant.data.setdefault("machineActions", {})
