"""Machine actions on many machines in one task: one outcome per machine, in input order.

:func:`request_machine_actions` takes any action type; the named tasks (``isolate_machines``,
``run_antivirus_scans`` ...) are that task for one action type, with the action's own options as
typed parameters. Each of them passes its arguments on to :func:`request_machine_actions`, so a
named task's parameters are exactly those of :func:`request_machine_actions` plus its action's
options. Names: ``verb_object`` as the one-machine task's (``tasks.machine_actions``), the object
in the plural (one per machine).

Outcomes: ``succeeded`` (with the action), ``already_in_progress`` (with the existing action),
``dry_run`` (nothing sent) or ``failed`` (with Defender's code and message).
"""

from __future__ import annotations

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    ActionComment,
    ActionOption,
    Concurrency,
    MachineId,
    OpenChoice,
    Sha1,
    TenantId,
)
from prefect_defender.api.models.machine_actions import (
    ActionType,
    IsolationType,
    ScanType,
    action_endpoints,
)
from prefect_defender.api.resources.action_requests import action_body
from prefect_defender.api.resources.machine_actions import MachineActionsAPI
from prefect_defender.api.validation import check_choice, check_items, check_machine_id
from prefect_defender.tasks.action_fan_out import PlannedAction, fan_out_actions
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus

__all__ = [
    "collect_investigation_packages",
    "isolate_machines",
    "request_machine_actions",
    "restrict_machines",
    "run_antivirus_scans",
    "stop_and_quarantine_files",
    "unisolate_machines",
    "unrestrict_machines",
]


@defender_task(endpoints=action_endpoints())
async def request_machine_actions(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    action: OpenChoice[ActionType],
    comment: ActionComment,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
    **options: ActionOption,
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
        outcomes = await request_machine_actions(creds, ids, "RunAntiVirusScan", "Sweep",
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
    machine_ids: list[MachineId],
    comment: ActionComment,
    isolation_type: IsolationType | str = IsolationType.FULL,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Isolate many machines; one outcome per machine (see :func:`request_machine_actions`).

    Example:
        ```python
        outcomes = await isolate_machines(creds, ids, "Worm outbreak", "Selective")
        ```
    """
    return await request_machine_actions.fn(
        credentials,
        machine_ids,
        ActionType.ISOLATE,
        comment,
        dry_run=dry_run,
        concurrency=concurrency,
        tenant_id=tenant_id,
        isolation_type=isolation_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.UNISOLATE))
async def unisolate_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    comment: ActionComment,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Release many machines from isolation; one outcome per machine.

    Example:
        ```python
        outcomes = await unisolate_machines(creds, ids, "Outbreak contained")
        ```
    """
    return await request_machine_actions.fn(
        credentials,
        machine_ids,
        ActionType.UNISOLATE,
        comment,
        dry_run=dry_run,
        concurrency=concurrency,
        tenant_id=tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.RUN_ANTIVIRUS_SCAN))
async def run_antivirus_scans(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    comment: ActionComment,
    scan_type: ScanType | str = ScanType.QUICK,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Scan many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await run_antivirus_scans(creds, ids, "Sweep", "Full")
        ```
    """
    return await request_machine_actions.fn(
        credentials,
        machine_ids,
        ActionType.RUN_ANTIVIRUS_SCAN,
        comment,
        dry_run=dry_run,
        concurrency=concurrency,
        tenant_id=tenant_id,
        scan_type=scan_type,
    )


@defender_task(endpoints=action_endpoints(ActionType.RESTRICT_CODE_EXECUTION))
async def restrict_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    comment: ActionComment,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Restrict code execution on many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await restrict_machines(creds, ids, "Outbreak", dry_run=True)
        ```
    """
    return await request_machine_actions.fn(
        credentials,
        machine_ids,
        ActionType.RESTRICT_CODE_EXECUTION,
        comment,
        dry_run=dry_run,
        concurrency=concurrency,
        tenant_id=tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.UNRESTRICT_CODE_EXECUTION))
async def unrestrict_machines(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    comment: ActionComment,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Lift code-execution restrictions on many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await unrestrict_machines(creds, ids, "Outbreak over")
        ```
    """
    return await request_machine_actions.fn(
        credentials,
        machine_ids,
        ActionType.UNRESTRICT_CODE_EXECUTION,
        comment,
        dry_run=dry_run,
        concurrency=concurrency,
        tenant_id=tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.COLLECT_INVESTIGATION_PACKAGE))
async def collect_investigation_packages(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    comment: ActionComment,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Collect investigation packages from many machines; one outcome per machine.

    Example:
        ```python
        outcomes = await collect_investigation_packages(creds, ids, "Evidence for IR-7")
        ```
    """
    return await request_machine_actions.fn(
        credentials,
        machine_ids,
        ActionType.COLLECT_INVESTIGATION_PACKAGE,
        comment,
        dry_run=dry_run,
        concurrency=concurrency,
        tenant_id=tenant_id,
    )


@defender_task(endpoints=action_endpoints(ActionType.STOP_AND_QUARANTINE_FILE))
async def stop_and_quarantine_files(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    sha1: Sha1,
    comment: ActionComment,
    dry_run: bool = False,
    concurrency: Concurrency = 10,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Stop and quarantine one file (by SHA-1) on many machines: its copy on each machine is
    quarantined; one outcome per machine.

    Example:
        ```python
        outcomes = await stop_and_quarantine_files(creds, ids, sha1, "Known bad")
        ```
    """
    return await request_machine_actions.fn(
        credentials,
        machine_ids,
        ActionType.STOP_AND_QUARANTINE_FILE,
        comment,
        dry_run=dry_run,
        concurrency=concurrency,
        tenant_id=tenant_id,
        sha1=sha1,
    )
