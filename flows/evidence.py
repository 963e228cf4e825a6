"""Evidence collection: collect investigation packages, wait, download them to a local folder
or a Prefect storage block, and record where each one went."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.blocks.core import Block

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.common import check_machine_ids, load_credentials, own_tenant
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import outcome_rows, write_report
from prefect_defender.tasks.action_plans import (
    apply_machine_actions,
    await_machine_actions,
    plan_machine_actions,
    run_key_for,
)
from prefect_defender.tasks.base import defender_client, task_logger
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard

__all__ = ["collect_evidence"]


@notifying
@flow(name="defender-collect-evidence", log_prints=True)
async def collect_evidence(
    credentials: str = "defender-application-credentials/soc",
    incident_id: int | str | None = None,
    machine_ids: list[str] | None = None,
    tenant_id: str | None = None,
    destination: str = "evidence",
    storage_block: str | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: int = 3600,
    poll_interval_seconds: float = 15.0,
    notify: list[str] | None = None,
    notify_on: NotifyOn = "always",
) -> list[dict[str, Any]]:
    """Collect an investigation package from each device and store it.

    ``destination`` is a local folder, or a path inside ``storage_block`` (a Prefect filesystem
    block such as ``local-file-system/evidence`` or ``s3-bucket/ir``) when one is given.
    Collecting is read-only on the device, so no approval is asked; the safety rails still
    apply (it is a machine action).

    Example:
        ```python
        from prefect_defender.flows.evidence import collect_evidence

        collect_evidence(credentials="defender-application-credentials/soc", incident_id=1001,
                         destination="/srv/evidence/ir-1001")
        ```
    """
    log = task_logger()
    safety = safety or SafetyPolicy()
    incident_id = check_incident_id(incident_id) if incident_id else None
    creds = await load_credentials(credentials)
    tenant = own_tenant(creds, tenant_id)
    ids = check_machine_ids(machine_ids)
    if incident_id:
        ids += (await get_incident(creds, incident_id, tenant_id)).device_ids()
    ids = list(dict.fromkeys(i.lower() for i in ids))
    async with defender_client(creds, tenant_id) as client:
        machines = [await client.machines.get(m) for m in ids]
        plan = plan_machine_actions(
            machines,
            ActionType.COLLECT_INVESTIGATION_PACKAGE,
            safety,
            None,
            lambda mid: client.portal_link("machine", mid),
        )
    for p in plan:
        p.protected = None  # collecting evidence changes nothing on the device
    outcomes = await apply_machine_actions(
        creds,
        plan,
        f"prefect-defender evidence collection (incident {incident_id})",
        WriteGuard(safety),
        tenant_id,
        True,
        run_key=run_key_for("evidence", tenant, incident_id, sorted(ids)),
    )
    if not safety.dry_run:
        outcomes = await await_machine_actions(
            creds, outcomes, tenant_id, wait_timeout_seconds, poll_interval_seconds
        )
    storage: Any = await Block.aload(storage_block) if storage_block else None
    records = []
    async with defender_client(creds, tenant_id) as client:
        for p, o in zip(plan, outcomes, strict=True):
            res = o.result if isinstance(o.result, dict) else {}
            rec: dict[str, Any] = {
                "machine": p.computer_dns_name,
                "machine_id": p.machine_id,
                "action_id": res.get("action_id"),
                "location": None,
                "bytes": 0,
                "status": res.get("final_status") or o.status,
            }
            if res.get("final_status") == "Succeeded":
                name = f"{p.computer_dns_name or p.machine_id}-{res['action_id'][:8]}.zip"
                try:
                    if storage is None:
                        dest = Path(destination) / name
                        rec["bytes"] = await client.machine_actions.download_package(
                            res["action_id"], dest
                        )
                        rec["location"] = str(dest.resolve())
                    else:
                        with tempfile.TemporaryDirectory() as tmp:
                            local = Path(tmp) / name
                            rec["bytes"] = await client.machine_actions.download_package(
                                res["action_id"], local
                            )
                            target = f"{destination.rstrip('/')}/{name}"
                            await storage.write_path(target, local.read_bytes())
                        rec["location"] = f"{storage_block}:{target}"
                except DefenderError as exc:
                    rec["status"] = f"download failed: {exc.code}"
            records.append(rec)
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
