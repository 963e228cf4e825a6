"""Live response sessions (run script, get file, put file), their result links, and the live
response library (list, upload, delete)."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.routes.action_lifecycle import advance, new_action, view
from prefect_defender.emulator.routes.machine_actions import sign
from prefect_defender.emulator.routes.machines import find_machine
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

LIB = ("Library.Manage",)
PARAM_KEYS = {"PutFile": {"FileName"}, "RunScript": {"ScriptName", "Args"}, "GetFile": {"Path"}}
MAX_LIBRARY_FILE = 20 * 1024 * 1024


def _commands(ctx: Ctx, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "InvalidRequestBody", "Commands must be a non-empty list.")
    out: list[dict[str, Any]] = []
    library = ctx.tenant.data["libraryFiles"]
    for i, cmd in enumerate(raw):
        if not isinstance(cmd, dict) or cmd.get("type") not in PARAM_KEYS:
            raise ApiError(
                400,
                "InvalidRequestBody",
                f"Command {i}: type must be PutFile, RunScript or GetFile.",
            )
        params = {
            p.get("key"): p.get("value") for p in cmd.get("params") or [] if isinstance(p, dict)
        }
        allowed = PARAM_KEYS[cmd["type"]]
        unknown = sorted(str(k) for k in set(params) - allowed)
        if unknown:
            raise ApiError(
                400, "InvalidRequestBody", f"Command {i}: unknown parameter(s) {unknown}."
            )
        need = {"PutFile": "FileName", "RunScript": "ScriptName", "GetFile": "Path"}[cmd["type"]]
        if not params.get(need):
            raise ApiError(400, "MissingRequiredParameter", f"Command {i}: '{need}' is required.")
        if need in ("FileName", "ScriptName") and params[need] not in library:
            raise ApiError(
                400,
                "BadRequest",
                f"Command {i}: '{params[need]}' is not in the live response library.",
            )
        out.append(
            {
                "index": i,
                "startTime": None,
                "endTime": None,
                "commandStatus": "Created",
                "errors": [],
                "command": {"type": cmd["type"], "params": cmd.get("params") or []},
            }
        )
    return out


@api(
    "POST",
    "/api/machines/{id}/runliveresponse",
    surface="mde",
    app=("Machine.LiveResponse",),
    family="live_response",
)
async def run_live_response(ctx: Ctx) -> Response:
    """Start a live response session (one per machine at a time)."""
    body = await ctx.body()
    for key in body:
        if key not in ("Commands", "Comment"):
            raise ApiError(
                400, "InvalidRequestBody", f"Request body is incorrect: unknown parameter '{key}'."
            )
    if not body.get("Comment"):
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'Comment'.")
    with ctx.state.lock:
        commands = _commands(ctx, body.get("Commands"))
        m = find_machine(ctx.tenant, ctx.params["id"])
        action = new_action(ctx, m, "LiveResponse", body["Comment"], commands=commands)
        return JSONResponse(view(action), status_code=201)


@api(
    "GET",
    "/api/machineactions/{id}/GetLiveResponseResultDownloadLink(index={index})",
    surface="mde",
    app=("Machine.Read.All", "Machine.ReadWrite.All", "Machine.LiveResponse"),
    delegated=("Machine.LiveResponse",),
)
async def result_link(ctx: Ctx) -> Response:
    """A 30-minute download link for one command's result."""
    raw_index = ctx.params["index"]
    with ctx.state.lock:
        a = ctx.tenant.data["machineActions"].get(ctx.params["id"])
        if a is None or a["type"] != "LiveResponse":
            raise ApiError(
                404, "ResourceNotFound", f"Live response action {ctx.params['id']} was not found"
            )
        advance(ctx.state, ctx.tenant, a)
        if not raw_index.isdigit() or int(raw_index) >= len(a["commands"]):
            raise ApiError(400, "InvalidInput", f"Invalid command index {raw_index}.")
        if a["status"] != "Succeeded":
            raise ApiError(404, "ResourceNotFound", "The result is not available yet.")
        cmd = a["commands"][int(raw_index)]["command"]
    params = {p["key"]: p["value"] for p in cmd["params"]}
    path = f"/_downloads/liveresponse/{a['id']}-{raw_index}"
    if cmd["type"] == "RunScript":
        content = json.dumps(
            {
                "script_name": params["ScriptName"],
                "exit_code": 0,
                "script_output": f"ran {params['ScriptName']} {params.get('Args', '')}".strip(),
                "script_errors": "",
            }
        ).encode()
    elif cmd["type"] == "GetFile":
        content = f"contents of {params['Path']} on {a['computerDnsName']}\n".encode()
    else:
        content = json.dumps({"put": params["FileName"]}).encode()
    ctx.state.downloads[path] = content
    expires = int(time.time()) + 1800
    host = ctx.request.headers.get("host")
    return JSONResponse({"value": f"https://{host}{path}?se={expires}&sig={sign(path, expires)}"})


@api("GET", "/api/libraryfiles", surface="mde", app=LIB)
async def list_library(ctx: Ctx) -> Response:
    """Files in the live response library."""
    with ctx.state.lock:
        rows = [
            {k: v for k, v in f.items() if k != "_content"}
            for f in ctx.tenant.data["libraryFiles"].values()
        ]
    return JSONResponse({"value": rows})


@api("POST", "/api/libraryfiles", surface="mde", app=LIB)
async def upload_library(ctx: Ctx) -> Response:
    """Upload a file (multipart: File, Description, ParametersDescription, OverrideIfExists)."""
    form = await ctx.request.form()
    upload = form.get("File")
    if upload is None or isinstance(upload, str):
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'File'.")
    content = await upload.read()
    if len(content) > MAX_LIBRARY_FILE:
        raise ApiError(400, "BadRequest", "The file is larger than 20 MB.")
    name = str(upload.filename or "")
    override = str(form.get("OverrideIfExists", "false")).lower() == "true"
    with ctx.state.lock:
        lib = ctx.tenant.data["libraryFiles"]
        if name in lib and not override:
            raise ApiError(400, "BadRequest", f"File '{name}' already exists in the library.")
        desc = str(form.get("ParametersDescription") or "")
        lib[name] = {
            "fileName": name,
            "sha256": hashlib.sha256(content).hexdigest(),
            "description": str(form.get("Description") or ""),
            "creationTime": iso(datetime.now(UTC)),
            "lastUpdatedTime": iso(datetime.now(UTC)),
            "createdBy": ctx.caller,
            "hasParameters": bool(desc),
            "parametersDescription": desc or None,
            "_content": content,
        }
        return JSONResponse({k: v for k, v in lib[name].items() if k != "_content"})


@api("DELETE", "/api/libraryfiles/{name}", surface="mde", app=LIB)
async def delete_library(ctx: Ctx) -> Response:
    """Delete a library file (204)."""
    with ctx.state.lock:
        if ctx.tenant.data["libraryFiles"].pop(ctx.params["name"], None) is None:
            raise ApiError(404, "ResourceNotFound", f"File {ctx.params['name']} was not found")
    return Response(status_code=204)


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """One script in the library, as most tenants have."""
    tenant.data["libraryFiles"]["collect_triage.ps1"] = {
        "fileName": "collect_triage.ps1",
        "sha256": "0" * 64,
        "description": "Collects triage data",
        "creationTime": iso(datetime.now(UTC)),
        "lastUpdatedTime": iso(datetime.now(UTC)),
        "createdBy": "soc@contoso.example",
        "hasParameters": True,
        "parametersDescription": "-Days <n>",
        "_content": b"Write-Host 1",
    }
