"""Tasks for machine actions: isolate, release, restrict, scan, collect, quarantine, offboard.

Single-machine tasks return :class:`ActionOutcome` (the action, and whether it was already in
progress). Bulk tasks return one :class:`~prefect_defender.tasks.base.ItemOutcome` per machine,
in input order: ``succeeded`` (with the action), ``already_in_progress`` (with the existing
action), ``dry_run`` (nothing sent) or ``failed`` (with Defender's code and message).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.machine_actions import (
    ActionType,
    IsolationType,
    MachineAction,
    ScanType,
    action_endpoints,
)
from prefect_defender.api.resources.machine_actions import (
    ActionRequest,
    MachineActionsAPI,
    action_body,
)
from prefect_defender.api.validation import (
    check_choice,
    check_guid,
    check_items,
    check_local_path,
    check_machine_id,
)
from prefect_defender.tasks.action_plans import PlannedAction, fan_out_actions
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    ItemOutcome,
    OutcomeStatus,
    defender_client,
    defender_task,
    run_bulk,
    task_logger,
)

__all__ = [
    "ActionOutcome",
    "bulk_machine_action",
    "cancel_machine_action",
    "collect_investigation_package",
    "collect_investigation_packages",
    "download_investigation_package",
    "get_investigation_package_uri",
    "get_machine_action",
    "isolate_machine",
    "isolate_machines",
    "list_machine_actions",
    "offboard_machine",
    "restrict_code_execution",
    "restrict_code_execution_many",
    "run_antivirus_scan",
    "run_antivirus_scans",
    "stop_and_quarantine_file",
    "stop_and_quarantine_file_many",
    "store_investigation_packages",
    "unisolate_machine",
    "unisolate_machines",
    "unrestrict_code_execution",
    "unrestrict_code_execution_many",
    "wait_for_machine_action",
]


class ActionOutcome(BaseModel):
    """The action a request created, or the one already in progress."""

    action: MachineAction
    already_in_progress: bool = False
    reconciled: bool = False

    @classmethod
    def of(cls, req: ActionRequest) -> ActionOutcome:
        """From the client's :class:`ActionRequest`."""
        return cls(
            action=req.action,
            already_in_progress=req.already_in_progress,
            reconciled=req.reconciled,
        )


async def _one(
    credentials: Any,
    machine_id: str,
    action: ActionType,
    comment: str,
    tenant_id: str | None,
    **options: Any,
) -> ActionOutcome:
    body = action_body(action, **options)
    async with defender_client(credentials, tenant_id) as client:
        req = await client.machine_actions.request(machine_id, action, comment, body)
    task_logger().info(
        "%s on %s: action %s %s%s",
        action.value,
        machine_id,
        req.action.id,
        req.action.status,
        " (already in progress)"
        if req.already_in_progress
        else " (answer lost; found by its reference)"
        if req.reconciled
        else "",
    )
    return ActionOutcome.of(req)


@defender_task(endpoints=action_endpoints(ActionType.ISOLATE))
async def isolate_machine(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    isolation_type: IsolationType | str = IsolationType.FULL,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Isolate a machine from the network (Full, Selective or UnManagedDevice).

    A duplicate request while an isolation is pending returns the existing action with
    ``already_in_progress=True`` instead of failing.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.machine_actions import isolate_machine

        @flow
        async def contain(machine_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            out = await isolate_machine(creds, machine_id, "Ransomware on host", "Selective")
            return out.action.id
        ```
    """
    return await _one(
        credentials,
        machine_id,
        ActionType.ISOLATE,
        comment,
        tenant_id,
        isolation_type=isolation_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.UNISOLATE))
async def unisolate_machine(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Release a machine from isolation.

    Example:
        ```python
        out = await unisolate_machine(creds, machine_id, "Cleared by IR-1234")
        ```
    """
    return await _one(credentials, machine_id, ActionType.UNISOLATE, comment, tenant_id)


@defender_task(endpoints=action_endpoints(ActionType.RESTRICT_CODE_EXECUTION))
async def restrict_code_execution(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Restrict a machine to Microsoft-signed code.

    Example:
        ```python
        out = await restrict_code_execution(creds, machine_id, "Suspicious binaries")
        ```
    """
    return await _one(
        credentials, machine_id, ActionType.RESTRICT_CODE_EXECUTION, comment, tenant_id
    )


@defender_task(endpoints=action_endpoints(ActionType.UNRESTRICT_CODE_EXECUTION))
async def unrestrict_code_execution(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Lift a code-execution restriction.

    Example:
        ```python
        out = await unrestrict_code_execution(creds, machine_id, "Cleared")
        ```
    """
    return await _one(
        credentials, machine_id, ActionType.UNRESTRICT_CODE_EXECUTION, comment, tenant_id
    )


@defender_task(endpoints=action_endpoints(ActionType.RUN_ANTIVIRUS_SCAN))
async def run_antivirus_scan(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    scan_type: ScanType | str = ScanType.QUICK,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Start a Microsoft Defender Antivirus scan (Quick or Full).

    Example:
        ```python
        out = await run_antivirus_scan(creds, machine_id, "Post-incident sweep", "Full")
        ```
    """
    return await _one(
        credentials,
        machine_id,
        ActionType.RUN_ANTIVIRUS_SCAN,
        comment,
        tenant_id,
        scan_type=scan_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.COLLECT_INVESTIGATION_PACKAGE))
async def collect_investigation_package(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Collect a forensic investigation package from a machine.

    Example:
        ```python
        out = await collect_investigation_package(creds, machine_id, "Evidence for IR-7")
        ```
    """
    return await _one(
        credentials, machine_id, ActionType.COLLECT_INVESTIGATION_PACKAGE, comment, tenant_id
    )


@defender_task(endpoints=action_endpoints(ActionType.STOP_AND_QUARANTINE_FILE))
async def stop_and_quarantine_file(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    sha1: str,
    comment: str,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Stop the processes of a file (by SHA-1) and quarantine it on a machine.

    Example:
        ```python
        out = await stop_and_quarantine_file(creds, machine_id, "356a19...28ab", "Known bad")
        ```
    """
    return await _one(
        credentials, machine_id, ActionType.STOP_AND_QUARANTINE_FILE, comment, tenant_id, sha1=sha1
    )


@defender_task(endpoints=action_endpoints(ActionType.OFFBOARD))
async def offboard_machine(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> ActionOutcome:
    """Offboard a machine from Defender for Endpoint (not supported on macOS and Linux).

    Example:
        ```python
        out = await offboard_machine(creds, machine_id, "Decommissioned")
        ```
    """
    return await _one(credentials, machine_id, ActionType.OFFBOARD, comment, tenant_id)


@defender_task(endpoints=("mde.actions.cancel",))
async def cancel_machine_action(
    credentials: DefenderCredentialsLike,
    action_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> MachineAction:
    """Cancel an action that has not reached a final state.

    Example:
        ```python
        action = await cancel_machine_action(creds, action_id, "Requested by mistake")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machine_actions.cancel(action_id, comment)


@defender_task(endpoints=("mde.actions.get",))
async def get_machine_action(
    credentials: DefenderCredentialsLike, action_id: str, tenant_id: str | None = None
) -> MachineAction:
    """One machine action by id.

    Example:
        ```python
        action = await get_machine_action(creds, action_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machine_actions.get(action_id)


@defender_task(endpoints=("mde.actions.list",))
async def list_machine_actions(
    credentials: DefenderCredentialsLike,
    machine_id: str | None = None,
    action_type: ActionType | str | None = None,
    status: str | None = None,
    limit: int = 1000,
    tenant_id: str | None = None,
) -> list[MachineAction]:
    """Machine actions, newest first, filtered by machine, type and status.

    Example:
        ```python
        pending = await list_machine_actions(creds, status="Pending")
        ```
    """
    kind = check_choice(action_type, ActionType, "action_type") if action_type else None
    async with defender_client(credentials, tenant_id) as client:
        return await client.machine_actions.list(
            machine_id=machine_id, action_type=kind, status=status, limit=limit
        )


@defender_task(endpoints=("mde.actions.get",))
async def wait_for_machine_action(
    credentials: DefenderCredentialsLike,
    action_id: str,
    timeout: float = 3600.0,
    poll_interval: float = 10.0,
    max_interval: float = 60.0,
    tenant_id: str | None = None,
) -> MachineAction:
    """Poll an action until Succeeded, Failed, TimeOut or Cancelled.

    Polls with growing intervals (``poll_interval`` x1.5 up to ``max_interval``) and raises
    ``ActionWaitTimeoutError`` carrying the last state when ``timeout`` passes; it never stops
    silently while the action is still pending.

    Example:
        ```python
        final = await wait_for_machine_action(creds, action_id, timeout=900)
        assert final.status == "Succeeded"
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machine_actions.wait(
            action_id, timeout=timeout, poll_interval=poll_interval, max_interval=max_interval
        )


@defender_task(endpoints=("mde.actions.package_uri",))
async def get_investigation_package_uri(
    credentials: DefenderCredentialsLike, action_id: str, tenant_id: str | None = None
) -> str:
    """The short-lived download link of a completed investigation package (404 before).

    Example:
        ```python
        url = await get_investigation_package_uri(creds, action_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machine_actions.package_uri(action_id)


@defender_task(endpoints=("mde.actions.package_uri",))
async def download_investigation_package(
    credentials: DefenderCredentialsLike,
    action_id: str,
    dest: str,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """Download a completed investigation package to ``dest`` (the link is fetched without the
    bearer token). Returns the path and size.

    Example:
        ```python
        info = await download_investigation_package(creds, action_id, "/evidence/ws-1.zip")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        size = await client.machine_actions.download_package(action_id, dest)
    return {"path": str(Path(dest).resolve()), "bytes": size}


_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


@defender_task(endpoints=("mde.actions.package_uri",))
async def store_investigation_packages(
    credentials: DefenderCredentialsLike,
    packages: dict[str, str],
    destination: str,
    storage: Any = None,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Download completed packages (file name -> action id) into a folder or a storage block.

    ``destination`` is a local folder, or a path inside ``storage`` (a Prefect filesystem block
    such as ``LocalFileSystem`` or ``S3Bucket``: anything with ``write_path``). One outcome per
    package, by file name: ``succeeded`` with ``result`` = ``{"path", "bytes"}``, or ``failed``
    with Defender's code (a link that expired, a package not ready). The links are fetched
    without the bearer token.

    Example:
        ```python
        outcomes = await store_investigation_packages(
            creds, {"ws-1-3f2a.zip": action_id}, "/srv/evidence/ir-7")
        ```
    """
    check_local_path(destination, "destination")
    if storage is not None and not callable(getattr(storage, "write_path", None)):
        raise ValidationError(
            "storage: expected a Prefect filesystem block (with write_path)", field="storage"
        )
    if not isinstance(packages, dict):
        raise ValidationError(
            "packages: expected a mapping of file name to action id", field="packages"
        )
    for name, action_id in packages.items():
        if not isinstance(name, str) or not _PACKAGE_NAME.match(name):
            raise ValidationError(
                f"packages: {str(name)[:60]!r} is not a plain file name", field="packages"
            )
        check_guid(action_id, f"packages[{name}]")
    async with defender_client(credentials, tenant_id) as client:

        async def one(name: str) -> ItemOutcome:
            action_id = packages[name]
            if storage is None:
                dest = Path(destination) / name
                size = await client.machine_actions.download_package(action_id, dest)
                where = str(dest.resolve())
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    local = Path(tmp) / name
                    size = await client.machine_actions.download_package(action_id, local)
                    where = f"{destination.rstrip('/')}/{name}"
                    await storage.write_path(where, local.read_bytes())
            result = {"path": where, "bytes": size}
            return ItemOutcome(item=name, status=OutcomeStatus.SUCCEEDED, result=result)

        return await run_bulk(list(packages), one, concurrency=2)


@defender_task(endpoints=action_endpoints())
async def bulk_machine_action(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    action: ActionType | str,
    comment: str,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
    **options: Any,
) -> list[ItemOutcome]:
    """Request one action type on many machines, in one task; one outcome per machine.

    Every id, the comment and the options are validated first, so a typo sends nothing.
    Requests fan out with the client's concurrency and rate limiter. Outcomes, in input order:
    ``succeeded`` (``result`` is the action), ``already_in_progress`` (the pending action),
    ``failed`` (Defender's code and message in ``error``) or ``dry_run`` (``result`` is the
    request that would have been sent). Repeated ids are acted on once and reported for each
    occurrence.

    Example:
        ```python
        outcomes = await bulk_machine_action(creds, ids, "RunAntiVirusScan", "Sweep",
                                             scan_type="Quick")
        failed = [o for o in outcomes if o.status == "failed"]
        ```
    """
    kind = check_choice(action, ActionType, "action")
    if kind is ActionType.LIVE_RESPONSE:
        raise ValidationError(
            "action: use the live response tasks for LiveResponse", field="action"
        )
    ids = check_items(machine_ids, check_machine_id, "machine_ids", max_items=10_000)
    body = action_body(kind, **options)
    unique = list(dict.fromkeys(ids))
    planned = {m: MachineActionsAPI.describe(m, kind, comment, body) for m in unique}
    log = task_logger()
    if dry_run:
        log.info("dry run: would request %s on %d machine(s)", kind.value, len(unique))
        return [
            ItemOutcome(
                item=m,
                status=OutcomeStatus.DRY_RUN,
                result=planned[m],
                reason=f"dry run: {kind.value} not sent",
            )
            for m in ids
        ]
    log.info("requesting %s on %d machine(s)", kind.value, len(unique))
    step = max(1, len(unique) // 10)

    def progress(done: int, total: int) -> None:
        if done == total or done % step == 0:
            log.info("%s: %d/%d machines done", kind.value, done, total)

    plan = [PlannedAction(machine_id=m, action=kind, options=options) for m in unique]
    async with defender_client(credentials, tenant_id) as client:
        outcomes = await fan_out_actions(
            client,
            plan,
            comment,
            concurrency=max(1, concurrency),
            full_result=True,
            progress=progress,
        )
    by_id = {o.item: o for o in outcomes}
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status.value] = counts.get(o.status.value, 0) + 1
    log.info("%s: %s", kind.value, ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return [by_id[m] for m in ids]


@defender_task(endpoints=action_endpoints(ActionType.ISOLATE))
async def isolate_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    comment: str,
    isolation_type: IsolationType | str = IsolationType.FULL,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Isolate many machines; one outcome per machine (see :func:`bulk_machine_action`).

    Example:
        ```python
        outcomes = await isolate_machines(creds, ids, "Worm outbreak", "Selective")
        ```
    """
    return await bulk_machine_action.fn(
        credentials,
        machine_ids,
        ActionType.ISOLATE,
        comment,
        dry_run,
        concurrency,
        tenant_id,
        isolation_type=isolation_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.UNISOLATE))
async def unisolate_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    comment: str,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Release many machines from isolation; one outcome per machine.

    Example:
        ```python
        outcomes = await unisolate_machines(creds, ids, "Outbreak contained")
        ```
    """
    return await bulk_machine_action.fn(
        credentials, machine_ids, ActionType.UNISOLATE, comment, dry_run, concurrency, tenant_id
    )


@defender_task(endpoints=action_endpoints(ActionType.RUN_ANTIVIRUS_SCAN))
async def run_antivirus_scans(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    comment: str,
    scan_type: ScanType | str = ScanType.QUICK,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Scan many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await run_antivirus_scans(creds, ids, "Sweep", "Full")
        ```
    """
    return await bulk_machine_action.fn(
        credentials,
        machine_ids,
        ActionType.RUN_ANTIVIRUS_SCAN,
        comment,
        dry_run,
        concurrency,
        tenant_id,
        scan_type=scan_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.RESTRICT_CODE_EXECUTION))
async def restrict_code_execution_many(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    comment: str,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Restrict code execution on many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await restrict_code_execution_many(creds, ids, "Outbreak", dry_run=True)
        ```
    """
    return await bulk_machine_action.fn(
        credentials,
        machine_ids,
        ActionType.RESTRICT_CODE_EXECUTION,
        comment,
        dry_run,
        concurrency,
        tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.UNRESTRICT_CODE_EXECUTION))
async def unrestrict_code_execution_many(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    comment: str,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Lift code-execution restrictions on many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await unrestrict_code_execution_many(creds, ids, "Outbreak over")
        ```
    """
    return await bulk_machine_action.fn(
        credentials,
        machine_ids,
        ActionType.UNRESTRICT_CODE_EXECUTION,
        comment,
        dry_run,
        concurrency,
        tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.COLLECT_INVESTIGATION_PACKAGE))
async def collect_investigation_packages(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    comment: str,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Collect investigation packages from many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await collect_investigation_packages(creds, ids, "Evidence for IR-7")
        ```
    """
    return await bulk_machine_action.fn(
        credentials,
        machine_ids,
        ActionType.COLLECT_INVESTIGATION_PACKAGE,
        comment,
        dry_run,
        concurrency,
        tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.STOP_AND_QUARANTINE_FILE))
async def stop_and_quarantine_file_many(
    credentials: DefenderCredentialsLike,
    machine_ids: list[str],
    sha1: str,
    comment: str,
    dry_run: bool = False,
    concurrency: int = 10,
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Stop and quarantine one file (by SHA-1) on many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await stop_and_quarantine_file_many(creds, ids, sha1, "Known bad")
        ```
    """
    return await bulk_machine_action.fn(
        credentials,
        machine_ids,
        ActionType.STOP_AND_QUARANTINE_FILE,
        comment,
        dry_run,
        concurrency,
        tenant_id,
        sha1=sha1,
    )
