"""Tasks for live response: run a script, get a file, put a file, results, library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    ActionComment,
    ActionId,
    ExistingFile,
    Index,
    LibraryFileName,
    LiveCommands,
    LiveResponseText,
    LocalPath,
    MachineId,
    TenantId,
    Text,
)
from prefect_defender.api.models.live_response import (
    LibraryFile,
    LiveCommand,
    ScriptResult,
    check_library_name,
)
from prefect_defender.api.resources.live_response import MAX_LIBRARY_BYTES, LiveResponseAPI
from prefect_defender.api.validation import check_comment
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.machine_actions import ActionOutcome

__all__ = [
    "delete_library_file",
    "download_live_response_result",
    "get_file",
    "get_live_response_script_result",
    "list_library_files",
    "put_file",
    "run_live_response",
    "run_script",
    "upload_library_file",
]

_EP = ("mde.live_response.run", "mde.actions.list")


@defender_task(endpoints=_EP)
async def run_live_response(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    commands: LiveCommands,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Start a live response session with several commands (10 sessions per minute).

    ``commands`` are ``{"type": "RunScript"|"GetFile"|"PutFile", "params": {...}}`` with keys
    ``ScriptName``/``Args``, ``Path`` or ``FileName`` (case-sensitive, checked before anything
    is sent). A session already running on the machine (400 ``ActiveRequestAlreadyExists``) is
    returned with ``already_in_progress=True``. Follow it with ``wait_for_machine_action`` and
    fetch results with ``get_live_response_script_result``/``download_live_response_result``.

    Example:
        ```python
        out = await run_live_response(creds, machine_id, [
            {"type": "RunScript",
             "params": {"ScriptName": "collect_triage.ps1", "Args": "-Days 2"}},
            {"type": "GetFile", "params": {"Path": "C:\\\\Windows\\\\Temp\\\\triage.zip"}},
        ], "IR-7 triage")
        ```
    """
    LiveResponseAPI.commands_body(commands)  # validate before connecting
    cmds: list[LiveCommand | dict[str, Any]] = list(commands)
    async with defender_client(credentials, tenant_id) as client:
        req = await client.live_response.run(machine_id, cmds, comment)
    task_logger().info(
        "live response on %s: session %s %s%s",
        machine_id,
        req.action.id,
        req.action.status,
        " (a session was already running)" if req.already_in_progress else "",
    )
    return ActionOutcome.of(req)


@defender_task(endpoints=_EP)
async def run_script(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    script_name: LibraryFileName,
    comment: ActionComment,
    args: LiveResponseText | None = None,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Run a library script on a machine.

    Example:
        ```python
        out = await run_script(creds, machine_id, "collect_triage.ps1", "triage", "-Days 2")
        ```
    """
    check_library_name(script_name, "script_name")
    if args is not None:
        check_comment(args, "args", 2000)
    params = {"ScriptName": script_name, **({"Args": args} if args else {})}
    return await run_live_response.fn(
        credentials, machine_id, [{"type": "RunScript", "params": params}], comment, tenant_id
    )


@defender_task(endpoints=_EP)
async def get_file(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    path: LiveResponseText,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Collect a file from a machine.

    Example:
        ```python
        out = await get_file(creds, machine_id, "C:\\\\Users\\\\jdoe\\\\Downloads\\\\x.exe", "IR-7")
        ```
    """
    if not check_comment(path, "path", 2000):
        raise ValidationError("path: the file to collect is required", field="path")
    return await run_live_response.fn(
        credentials,
        machine_id,
        [{"type": "GetFile", "params": {"Path": path}}],
        comment,
        tenant_id,
    )


@defender_task(endpoints=_EP)
async def put_file(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    file_name: LibraryFileName,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Put a library file on a machine.

    Example:
        ```python
        out = await put_file(creds, machine_id, "collect_triage.ps1", "IR-7")  # from the library
        ```
    """
    check_library_name(file_name, "file_name")
    return await run_live_response.fn(
        credentials,
        machine_id,
        [{"type": "PutFile", "params": {"FileName": file_name}}],
        comment,
        tenant_id,
    )


@defender_task(endpoints=("mde.live_response.result_link",))
async def download_live_response_result(
    credentials: DefenderCredentialsLike,
    action_id: ActionId,
    dest: LocalPath,
    index: Index = 0,
    tenant_id: TenantId | None = None,
) -> dict[str, Any]:
    """Download one command's result (fetched without the bearer token).

    Example:
        ```python
        info = await download_live_response_result(creds, action_id, "/evidence/out.json")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        size = await client.live_response.download_result(action_id, index, dest)
    return {"path": str(Path(dest).resolve()), "bytes": size}


@defender_task(endpoints=("mde.live_response.result_link",))
async def get_live_response_script_result(
    credentials: DefenderCredentialsLike,
    action_id: ActionId,
    index: Index = 0,
    tenant_id: TenantId | None = None,
) -> ScriptResult:
    """The transcript of a ``RunScript`` command: exit code, output and errors.

    The result link is fetched without the bearer token.

    Example:
        ```python
        from prefect_defender.tasks.machine_actions import wait_for_machine_action

        out = await run_script(creds, machine_id, "collect_triage.ps1", "triage")
        await wait_for_machine_action(creds, out.action.id, timeout=900)
        result = await get_live_response_script_result(creds, out.action.id)
        print(result.exit_code, result.script_output)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.live_response.script_result(action_id, index)


@defender_task(endpoints=("mde.library.list",))
async def list_library_files(
    credentials: DefenderCredentialsLike, tenant_id: TenantId | None = None
) -> list[LibraryFile]:
    """Files in the live response library.

    Example:
        ```python
        files = await list_library_files(creds)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.live_response.list_library()


@defender_task(endpoints=("mde.library.upload",))
async def upload_library_file(
    credentials: DefenderCredentialsLike,
    path: ExistingFile,
    description: Text = "",
    parameters_description: Text | None = None,
    override: bool = False,
    tenant_id: TenantId | None = None,
) -> LibraryFile:
    """Upload a local file (at most 20 MB) to the live response library.

    Example:
        ```python
        from pathlib import Path

        Path("collect.ps1").write_text("Get-Process")
        await upload_library_file(creds, "collect.ps1", "Collects triage data")
        ```
    """
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"path: {path!r} is not a file", field="path")
    if p.stat().st_size > MAX_LIBRARY_BYTES:
        raise ValidationError(
            f"path: {p.name} is {p.stat().st_size} bytes; the library takes at most 20 MB",
            field="path",
        )
    async with defender_client(credentials, tenant_id) as client:
        return await client.live_response.upload_library(
            p.name,
            p.read_bytes(),
            description=description,
            parameters_description=parameters_description,
            override=override,
        )


@defender_task(endpoints=("mde.library.delete",))
async def delete_library_file(
    credentials: DefenderCredentialsLike,
    file_name: LibraryFileName,
    tenant_id: TenantId | None = None,
) -> None:
    """Delete a file from the live response library.

    Example:
        ```python
        from pathlib import Path

        Path("old.ps1").write_text("Get-Service")
        await upload_library_file(creds, "old.ps1", "An old script")
        await delete_library_file(creds, "old.ps1")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        await client.live_response.delete_library(file_name)
