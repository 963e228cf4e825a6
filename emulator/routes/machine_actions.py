"""Machine actions (isolate, scan, restrict, collect, quarantine, offboard), their lifecycle,
cancel, investigation packages (signed download links that need no bearer token), and automated
investigations started from a machine. The machine extras (find by IP/tag, tags, logon users,
related alerts) are in ``machine_extras``.

Lifecycle: see :mod:`.action_lifecycle`.

Isolation state lives on the machine (``isolationState``, ``restrictionState``; not part of the
documented machine entity, kept for assertions). Isolating a machine that is already isolated is
accepted like the real API (201, a new action); knob ``isolate_when_isolated``: ``"succeed"``
(default, the machine stays isolated) or ``"stuck"`` (the new action stays Pending, as reported
in MicrosoftDocs/microsoft-365-docs#5903). Offboarding macOS/Linux answers 400
``OsPlatformNotSupported``.

The ``externalID`` of an action (documented on the MachineAction resource as "Id the customer can
submit in the request for custom correlation") is taken from an optional ``ExternalID`` body
field; the request pages do not name that field, so the client does not rely on it.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import time
import uuid
import zipfile
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.permissions import MACHINE_ACTION_PERMISSIONS
from prefect_defender.emulator.retirement import RETIRED_CODE
from prefect_defender.emulator.routes.action_lifecycle import (
    FINAL,
    advance,
    new_action,
    now_iso,
    view,
)
from prefect_defender.emulator.routes.machines import READ, READ_D, find_machine
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["download_routes"]

#: get-machineactions-collection
#: (https://learn.microsoft.com/defender-endpoint/api/get-machineactions-collection): "The
#: OData's $filter query is supported on: ... properties", as the page writes it
_PAGE_LIST = page_list("id, status, machineId, type, requestor, and creationDateTimeUtc")
#: exposed-apis-odata-samples ("Properties that support $filter"), as the page writes it; it
#: lists fewer properties than the get-* page and spells some in PascalCase: a filter on either
#: page's spelling is served (names match in any case, as both pages' examples need)
_ODATA_SAMPLES = page_list("Status, MachineId, Type, Requestor, and CreationDateTimeUtc.")
ACTION_FILTERS = _PAGE_LIST + _ODATA_SAMPLES
#: cancel-machine-action accepts any of the action permissions
ANY_ACTION = MACHINE_ACTION_PERMISSIONS
DOWNLOAD_KEY = uuid.uuid4().bytes


def sign(path: str, expires: int) -> str:
    """Signature of a download link (the SAS ``sig``)."""
    return hmac.new(DOWNLOAD_KEY, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()


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
                ctx,
                m,
                "Isolate",
                body["Comment"],
                scope=itype,
                externalID=body.get("ExternalID"),
                _outcome="Pending"
                if m.get("isolationState") == "Isolated"
                and ctx.state.config.get("isolate_when_isolated") == "stuck"
                else None,
            )
        )


def _simple(action_type: str, perm: str, path: str, extra: tuple[str, ...] = ()) -> None:
    @api("POST", path, surface="mde", app=(perm,))
    async def handler(ctx: Ctx) -> Response:
        body = await _body(ctx, ("Comment", *extra), ("ExternalID",))
        with ctx.state.lock:
            m = _machine(ctx)
            kw: dict[str, Any] = {"externalID": body.get("ExternalID")}
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
    pred = compile_filter(ctx.query.get("$filter"), ACTION_FILTERS, any_case=True)
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
        now = now_iso()
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


# -- automated investigation started from a machine ---------------------------------------
# The page (https://learn.microsoft.com/defender-endpoint/api/initiate-autoir-investigation,
# ms.date 03/01/2025) still describes a 201 with an Investigation, but Message Center MC1411577
# (1 July 2026) says that from 1 September 2026 AIR "will no longer support manual triggering"
# and that "for on-demand investigations, administrators can use full antivirus scans" (read in
# a third-party copy: m365admin.handsontek.net). No page says what the call answers now; the
# emulator answers as a retired route (emulator.retirement), after authentication.


@api(
    "POST",
    "/api/machines/{id}/startInvestigation",
    surface="mde",
    app=("Alert.ReadWrite.All",),
    delegated=("Alert.ReadWrite",),
    family="investigation_start",
)
async def start_investigation(ctx: Ctx) -> Response:
    """Retired on 1 September 2026: AIR can no longer be started on demand (MC1411577)."""
    raise ApiError(
        404,
        RETIRED_CODE,
        "Automated investigations can no longer be started manually (retired on 1 September "
        "2026). Run a full antivirus scan instead.",
    )


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """No actions at start; the collection exists so dumps work."""
    tenant.data.setdefault("machineActions", {})
