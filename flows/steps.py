"""Steps shared by the writing playbooks: plan, apply machine actions under the safety rails,
wait for their final states, and report."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect.artifacts import acreate_markdown_artifact
from pydantic import BaseModel, Field

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.models.machines import Machine
from prefect_defender.flows.common import markdown_table
from prefect_defender.flows.notify import remember_report
from prefect_defender.flows.safety import (
    AutomationHaltedError,
    SafetyPolicy,
    WriteGuard,
    protection_reason,
)
from prefect_defender.tasks.base import (
    ItemOutcome,
    OutcomeStatus,
    defender_client,
    defender_task,
    task_logger,
)

__all__ = [
    "PlannedAction",
    "apply_machine_actions",
    "await_machine_actions",
    "outcome_rows",
    "plan_machine_actions",
    "write_report",
]

_ACTION_ENDPOINTS = (
    *(t.endpoint for t in ActionType if t is not ActionType.LIVE_RESPONSE),
    "mde.actions.list",
)


class PlannedAction(BaseModel):
    """One proposed action on one machine."""

    machine_id: str
    computer_dns_name: str | None = None
    action: ActionType
    options: dict[str, Any] = Field(default_factory=dict)
    protected: str | None = Field(default=None, description="Why the machine is protected.")
    link: str | None = None


def plan_machine_actions(
    machines: list[Machine],
    action: ActionType,
    policy: SafetyPolicy,
    options: dict[str, Any] | None = None,
    link: Any = None,
) -> list[PlannedAction]:
    """One planned action per machine, with protected machines flagged."""
    return [
        PlannedAction(
            machine_id=m.id,
            computer_dns_name=m.computer_dns_name,
            action=action,
            options=dict(options or {}),
            protected=protection_reason(policy, m),
            link=link(m.id) if link else None,
        )
        for m in machines
    ]


def _body(p: PlannedAction) -> dict[str, Any]:
    if p.action is ActionType.ISOLATE:
        return {"IsolationType": p.options.get("isolation_type", "Full")}
    if p.action is ActionType.RUN_ANTIVIRUS_SCAN:
        return {"ScanType": p.options.get("scan_type", "Quick")}
    if p.action is ActionType.STOP_AND_QUARANTINE_FILE:
        return {"Sha1": p.options["sha1"]}
    return {}


@defender_task(name="apply-machine-actions", endpoints=_ACTION_ENDPOINTS)
async def apply_machine_actions(
    credentials: Any,
    plan: list[PlannedAction],
    comment: str,
    guard: WriteGuard,
    tenant_id: str,
    client_tenant: str | None = None,
    allow_protected: bool = False,
    concurrency: int = 10,
    run_key: str | None = None,
) -> list[ItemOutcome]:
    """Request the planned actions under the safety rails; one outcome per planned action.

    Before every write: the kill switch, the per-run cap and the tenant's hourly cap. Protected
    machines are skipped unless ``allow_protected``. In dry-run mode nothing is sent.

    ``run_key`` makes a re-run idempotent: every comment carries ``[pd-run:<key>]``, and
    machines that already have an action of the planned type with that key (from an earlier,
    interrupted attempt in the last 24 hours) are reported as done instead of acted on again.

    Example:
        ```python
        outcomes = await apply_machine_actions(creds, plan, "IR-7", WriteGuard(policy), tid)
        ```
    """
    log = task_logger()
    sem = asyncio.Semaphore(max(1, concurrency))
    halted = False
    if run_key:
        comment = f"{comment} [pd-run:{run_key}]"
    async with defender_client(credentials, client_tenant) as client:
        earlier = await _earlier_attempts(client, plan, run_key) if run_key else {}

        async def one(p: PlannedAction) -> ItemOutcome:
            nonlocal halted
            label = p.computer_dns_name or p.machine_id
            done = earlier.get((p.machine_id, p.action.value))
            if done is not None:
                return ItemOutcome(
                    item=p.machine_id,
                    status=OutcomeStatus.SUCCEEDED,
                    result={"action_id": done.id, "status": done.status, "type": done.type},
                    reason="done by an earlier attempt of this run",
                )
            if p.protected and not allow_protected:
                return ItemOutcome(
                    item=p.machine_id,
                    status=OutcomeStatus.SKIPPED,
                    reason=f"{label}: {p.protected}; needs explicit approval",
                )
            async with sem:
                if halted:
                    return ItemOutcome(
                        item=p.machine_id,
                        status=OutcomeStatus.SKIPPED,
                        reason="kill switch on: automated response halted",
                    )
                try:
                    refused = await guard.admit(tenant_id)
                except AutomationHaltedError as exc:
                    halted = True
                    return ItemOutcome(
                        item=p.machine_id, status=OutcomeStatus.SKIPPED, reason=str(exc.message)
                    )
                if refused:
                    return ItemOutcome(
                        item=p.machine_id, status=OutcomeStatus.SKIPPED, reason=f"cap: {refused}"
                    )
                if guard.policy.dry_run:
                    return ItemOutcome(
                        item=p.machine_id,
                        status=OutcomeStatus.DRY_RUN,
                        reason=f"dry run: would request {p.action.value}",
                    )
                try:
                    req = await client.machine_actions.request(
                        p.machine_id, p.action, comment, _body(p)
                    )
                except DefenderError as exc:
                    return ItemOutcome(
                        item=p.machine_id,
                        status=OutcomeStatus.FAILED,
                        error=exc.to_dict(),
                        reason=str(exc),
                    )
            status = (
                OutcomeStatus.ALREADY_IN_PROGRESS
                if req.already_in_progress
                else OutcomeStatus.SUCCEEDED
            )
            return ItemOutcome(
                item=p.machine_id,
                status=status,
                result={
                    "action_id": req.action.id,
                    "status": req.action.status,
                    "type": req.action.type,
                },
            )

        outcomes = list(await asyncio.gather(*(one(p) for p in plan)))
    log.info(
        "%d planned, %d requested, %d skipped, %d failed",
        len(plan),
        sum(o.status in ("succeeded", "already_in_progress") for o in outcomes),
        sum(o.status == "skipped" for o in outcomes),
        sum(o.status == "failed" for o in outcomes),
    )
    return outcomes


async def _earlier_attempts(
    client: Any, plan: list[PlannedAction], run_key: str
) -> dict[tuple[str, str], Any]:
    """Actions of the planned types carrying ``[pd-run:<run_key>]``, by (machine, type)."""
    from datetime import UTC, datetime, timedelta

    from prefect_defender.api.odata import ODataFilter

    f = ODataFilter({"type", "creationDateTimeUtc"})
    since = datetime.now(UTC) - timedelta(hours=24)
    marker = f"[pd-run:{run_key}]"
    wanted = {p.machine_id for p in plan}
    found: dict[tuple[str, str], Any] = {}
    for kind in {p.action.value for p in plan}:
        expr = f.and_(f.eq("type", kind), f.ge("creationDateTimeUtc", since))
        async for a in client.machine_actions.iterate(odata_filter=expr):
            if a.machine_id in wanted and marker in (a.requestor_comment or ""):
                found.setdefault((a.machine_id, kind), a)
    return found


def run_key_for(*parts: Any) -> str:
    """A stable key for one logical playbook run: same inputs on the same (UTC) day, same key.

    A re-run after a crash therefore finds the actions of the interrupted attempt. To act on
    the same machines again the same day, pass an explicit ``run_key`` to the playbook.
    """
    import hashlib
    import json
    from datetime import UTC, datetime

    day = datetime.now(UTC).strftime("%Y-%m-%d")
    text = json.dumps([day, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@defender_task(name="await-machine-actions", endpoints=("mde.actions.list", "mde.actions.get"))
async def await_machine_actions(
    credentials: Any,
    outcomes: list[ItemOutcome],
    client_tenant: str | None = None,
    timeout: float = 1800.0,
    poll_interval: float = 10.0,
) -> list[ItemOutcome]:
    """Wait for every requested action to reach a final state; record it in the outcome.

    Polls with one list call per 40 actions a round (not one call per action), so waiting for
    a bulk isolation stays well inside the rate limit. An action that does not finish in time
    is recorded with its last state (``final_status`` = ``still <status>``); nothing is dropped.

    Example:
        ```python
        outcomes = await await_machine_actions(creds, outcomes, timeout=900)
        ```
    """
    ids = [
        o.result["action_id"]
        for o in outcomes
        if isinstance(o.result, dict) and o.result.get("action_id")
    ]
    if not ids:
        return outcomes
    async with defender_client(credentials, client_tenant) as client:
        try:
            final = await client.machine_actions.wait_many(
                ids,
                timeout=timeout,
                poll_interval=poll_interval,
                max_interval=max(poll_interval, 60.0),
            )
            error = None
        except DefenderError as exc:
            final, error = {}, f"unknown ({exc.code})"

    def settle(o: ItemOutcome) -> ItemOutcome:
        if not isinstance(o.result, dict) or not o.result.get("action_id"):
            return o
        action = final.get(o.result["action_id"])
        if action is None:
            state = error or "unknown"
        elif action.is_final:
            state = str(action.status)
        else:
            state = f"still {action.status}"
        ok = state == "Succeeded"
        return o.model_copy(
            update={
                "result": {**o.result, "final_status": state},
                "status": o.status if ok else OutcomeStatus.FAILED,
                "reason": o.reason if ok else f"action ended {state}",
            }
        )

    return [settle(o) for o in outcomes]


def outcome_rows(plan: list[PlannedAction], outcomes: list[ItemOutcome]) -> list[dict[str, Any]]:
    """Report rows joining the plan and the outcomes."""
    rows = []
    for p, o in zip(plan, outcomes, strict=True):
        res = o.result if isinstance(o.result, dict) else {}
        rows.append(
            {
                "machine": f"[{p.computer_dns_name or p.machine_id}]({p.link})"
                if p.link
                else (p.computer_dns_name or p.machine_id),
                "action": p.action.value,
                "outcome": o.status.value if hasattr(o.status, "value") else o.status,
                "final": res.get("final_status") or res.get("status") or "",
                "action id": res.get("action_id", ""),
                "note": o.reason or "",
            }
        )
    return rows


async def write_report(
    key: str, title: str, summary: list[str], rows: list[dict[str, Any]], columns: list[str]
) -> str:
    """A markdown artifact: a title, summary lines and a table; returns the markdown.

    The report is also kept for the run's notification (see ``flows/notify.py``).

    Example:
        ```python
        await write_report("defender-x", "X", ["Done: 2/2"], rows, ["machine", "outcome"])
        ```
    """
    md = f"# {title}\n\n" + "\n".join(f"- {line}" for line in summary)
    if rows:
        md += "\n\n" + markdown_table(rows, columns)
    artifact_id = await acreate_markdown_artifact(markdown=md, key=key, description=title)
    remember_report(title, summary, rows, artifact_id)  # for the run's notification, if any
    return md
