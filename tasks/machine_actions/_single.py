"""One-machine machine-action tasks, and reading, waiting for and cancelling actions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from prefect_defender.api.input_types import (
    ActionComment,
    ActionId,
    Limit,
    MachineActionStatus,
    MachineId,
    Seconds,
    Sha1,
    TenantId,
)
from prefect_defender.api.models.machine_actions import (
    ActionType,
    IsolationType,
    MachineAction,
    ScanType,
    action_endpoints,
)
from prefect_defender.api.resources.action_requests import ActionRequest, action_body
from prefect_defender.api.validation import check_choice
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)

__all__ = [
    "ActionOutcome",
    "cancel_machine_action",
    "collect_investigation_package",
    "get_machine_action",
    "isolate_machine",
    "list_machine_actions",
    "offboard_machine",
    "restrict_machine",
    "run_antivirus_scan",
    "stop_and_quarantine_file",
    "unisolate_machine",
    "unrestrict_machine",
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
    tenant_id: str | None = None,
    **options: Any,
) -> ActionOutcome:
    """Request ``action`` on one machine: the body of every one-machine action task."""
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
    machine_id: MachineId,
    comment: ActionComment,
    isolation_type: IsolationType | str = IsolationType.FULL,
    tenant_id: TenantId | None = None,
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
        tenant_id=tenant_id,
        isolation_type=isolation_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.UNISOLATE))
async def unisolate_machine(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Release a machine from isolation.

    Example:
        ```python
        out = await unisolate_machine(creds, machine_id, "Cleared by IR-1234")
        ```
    """
    return await _one(credentials, machine_id, ActionType.UNISOLATE, comment, tenant_id=tenant_id)


@defender_task(endpoints=action_endpoints(ActionType.RESTRICT_CODE_EXECUTION))
async def restrict_machine(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Restrict a machine to Microsoft-signed code (Defender's "Restrict app execution").

    Example:
        ```python
        out = await restrict_machine(creds, machine_id, "Suspicious binaries")
        ```
    """
    return await _one(
        credentials, machine_id, ActionType.RESTRICT_CODE_EXECUTION, comment, tenant_id=tenant_id
    )


@defender_task(endpoints=action_endpoints(ActionType.UNRESTRICT_CODE_EXECUTION))
async def unrestrict_machine(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Lift a machine's code-execution restriction (Defender's "Remove app restriction").

    Example:
        ```python
        out = await unrestrict_machine(creds, machine_id, "Cleared")
        ```
    """
    return await _one(
        credentials, machine_id, ActionType.UNRESTRICT_CODE_EXECUTION, comment, tenant_id=tenant_id
    )


@defender_task(endpoints=action_endpoints(ActionType.RUN_ANTIVIRUS_SCAN))
async def run_antivirus_scan(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    comment: ActionComment,
    scan_type: ScanType | str = ScanType.QUICK,
    tenant_id: TenantId | None = None,
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
        tenant_id=tenant_id,
        scan_type=scan_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.COLLECT_INVESTIGATION_PACKAGE))
async def collect_investigation_package(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Collect a forensic investigation package from a machine.

    Example:
        ```python
        out = await collect_investigation_package(creds, machine_id, "Evidence for IR-7")
        ```
    """
    return await _one(
        credentials,
        machine_id,
        ActionType.COLLECT_INVESTIGATION_PACKAGE,
        comment,
        tenant_id=tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.STOP_AND_QUARANTINE_FILE))
async def stop_and_quarantine_file(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    sha1: Sha1,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Stop the processes of a file (by SHA-1) and quarantine it on a machine.

    Example:
        ```python
        out = await stop_and_quarantine_file(creds, machine_id, sha1, "Known bad")  # the SHA-1
        ```
    """
    return await _one(
        credentials,
        machine_id,
        ActionType.STOP_AND_QUARANTINE_FILE,
        comment,
        tenant_id=tenant_id,
        sha1=sha1,
    )


@defender_task(endpoints=action_endpoints(ActionType.OFFBOARD))
async def offboard_machine(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> ActionOutcome:
    """Offboard a machine from Defender for Endpoint (not supported on macOS and Linux).

    Example:
        ```python
        out = await offboard_machine(creds, machine_id, "Decommissioned")
        ```
    """
    return await _one(credentials, machine_id, ActionType.OFFBOARD, comment, tenant_id=tenant_id)


@defender_task(endpoints=("mde.actions.cancel",))
async def cancel_machine_action(
    credentials: DefenderCredentialsLike,
    action_id: ActionId,
    comment: ActionComment,
    tenant_id: TenantId | None = None,
) -> MachineAction:
    """Cancel an action that has not reached a final state.

    Example:
        ```python
        action = await cancel_machine_action(creds, pending_action_id, "Requested by mistake")
        assert action.status == "Cancelled"
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machine_actions.cancel(action_id, comment)


@defender_task(endpoints=("mde.actions.get",))
async def get_machine_action(
    credentials: DefenderCredentialsLike, action_id: ActionId, tenant_id: TenantId | None = None
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
    machine_id: MachineId | None = None,
    action_type: ActionType | str | None = None,
    status: MachineActionStatus | None = None,
    limit: Limit = 1000,
    tenant_id: TenantId | None = None,
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
    action_id: ActionId,
    timeout: Seconds = 3600.0,
    poll_interval: Seconds = 10.0,
    max_interval: Seconds = 60.0,
    tenant_id: TenantId | None = None,
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
