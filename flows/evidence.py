"""Evidence collection: collect investigation packages, wait, download them to a local folder
or a Prefect storage block, and record where each one went."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.blocks.core import Block

from prefect_defender.api.input_types import (
    BlockRef,
    IncidentRef,
    LocalFile,
    LocalFloat,
    LocalInt,
    MachineId,
    StorageBlockRef,
    TenantId,
)
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.validation import check_incident_id, check_machine_ids
from prefect_defender.flows.device_actions import act_and_wait, unique_machine_ids
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import outcome_rows, write_report
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_plans import plan_actions, run_key_for
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.machine_actions import store_investigation_packages
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["collect_evidence"]


@notifying
@flow(name="defender-collect-evidence", log_prints=True)
@checked_parameters
async def collect_evidence(
    credentials: BlockRef = "defender-application-credentials/soc",
    incident_id: IncidentRef | None = None,
    machine_ids: list[MachineId] | None = None,
    tenant_id: TenantId | None = None,
    destination: LocalFile = "evidence",
    storage_block: StorageBlockRef | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: LocalInt = 3600,
    poll_interval_seconds: LocalFloat = 15.0,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
) -> list[dict[str, Any]]:
    """Collect an investigation package from each device and store it.

    ``destination`` is a local folder, or a path inside ``storage_block`` (a Prefect filesystem
    block such as ``local-file-system/evidence`` or ``s3-bucket/ir``) when one is given.
    Collecting is read-only on the device, so no approval is asked; the safety rails still
    apply (it is a machine action).

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.evidence import collect_evidence

        records = asyncio.run(collect_evidence(
            credentials="defender-application-credentials/soc", incident_id=1001,
            destination="evidence/ir-1001", poll_interval_seconds=1,
        ))
        assert all(r["location"] for r in records)  # one zip per device
        ```
    """
    log = task_logger()
    safety = run_guard(safety).policy  # every write of this run passes its guard
    incident_id = check_incident_id(incident_id) if incident_id else None
    async with await TenantScope.load(credentials, tenant_id) as scope:
        plan, outcomes = await _collect(
            scope, incident_id, machine_ids, safety, wait_timeout_seconds, poll_interval_seconds
        )
        records = await _store(scope, plan, outcomes, destination, storage_block)
    tenant = scope.tenant
    log.info("%d package(s) stored", sum(1 for r in records if r["location"]))
    rows = outcome_rows(plan, outcomes)
    for row, rec in zip(rows, records, strict=True):
        row["location"] = rec["location"] or ""
    await write_report(
        "defender-collect-evidence",
        "Evidence collection",
        [
            f"Incident: {incident_id}",
            f"Tenant: {tenant}",
            f"Stored: {sum(1 for r in records if r['location'])}/{len(records)}",
        ],
        rows,
        ["machine", "outcome", "final", "action id", "location"],
    )
    return records


async def _collect(
    scope: TenantScope,
    incident_id: int | None,
    machine_ids: list[str] | None,
    safety: SafetyPolicy,
    wait_timeout_seconds: int,
    poll_interval_seconds: float,
) -> tuple[list[PlannedAction], list[ItemOutcome]]:
    """Request a package from each device (the safety rails apply) and wait for them."""
    ids = check_machine_ids(machine_ids)
    if incident_id:
        ids += (await get_incident(scope.client, incident_id)).device_ids()
    ids = unique_machine_ids(ids)
    plan = await plan_actions(scope.client, ids, [ActionType.COLLECT_INVESTIGATION_PACKAGE], safety)
    for p in plan:
        p.protected = None  # collecting evidence changes nothing on the device
    outcomes = await act_and_wait(
        scope,
        plan,
        f"prefect-defender evidence collection (incident {incident_id})",
        safety,
        run_key=run_key_for("evidence", scope.tenant, incident_id, sorted(ids)),
        allow_protected=True,
        wait_timeout_seconds=wait_timeout_seconds,
        poll_interval_seconds=poll_interval_seconds,
    )
    return plan, outcomes


async def _store(
    scope: TenantScope,
    plan: list[PlannedAction],
    outcomes: list[ItemOutcome],
    destination: str,
    storage_block: str | None,
) -> list[dict[str, Any]]:
    """Download every package that finished and record where it went (one record per plan)."""
    records: list[dict[str, Any]] = []
    names: dict[int, str] = {}
    for i, (p, o) in enumerate(zip(plan, outcomes, strict=True)):
        res = o.result if isinstance(o.result, dict) else {}
        records.append(
            {
                "machine": p.computer_dns_name,
                "machine_id": p.machine_id,
                "action_id": res.get("action_id"),
                "location": None,
                "bytes": 0,
                "status": res.get("final_status") or o.status,
                "reason": o.reason,
            }
        )
        if res.get("final_status") == "Succeeded":
            names[i] = f"{p.computer_dns_name or p.machine_id}-{res['action_id'][:8]}.zip"
    if not names:
        return records
    storage: Any = await Block.aload(storage_block) if storage_block else None
    wanted = {name: str(records[i]["action_id"]) for i, name in names.items()}
    stored = {
        o.item: o
        for o in await store_investigation_packages(scope.client, wanted, destination, storage)
    }
    for i, name in names.items():
        o = stored[name]
        if o.ok and isinstance(o.result, dict):
            records[i]["bytes"] = o.result["bytes"]
            path = o.result["path"]
            records[i]["location"] = f"{storage_block}:{path}" if storage_block else path
        else:
            code = (o.error or {}).get("code") or (o.error or {}).get("type")
            records[i]["status"] = f"download failed: {code}"
    return records
