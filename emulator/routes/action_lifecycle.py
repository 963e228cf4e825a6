"""The lifecycle of a machine action, shared by the machine action and live response routes.

Lifecycle: an action is ``Pending`` for ``action_pending_seconds``, ``InProgress`` for
``action_running_seconds`` (documented seconds, divided by ``time_scale``), then ends
``Succeeded``, or ``Failed``/``TimeOut`` by the knobs ``action_failure_rate`` /
``action_timeout_rate`` / ``action_stuck_rate`` (stays Pending) / per-machine
``action_outcomes`` (``{"<machine id>" or "<machine id>/<type>": "Succeeded" | "Failed" |
"TimeOut" | "Pending"}``; ``Pending`` never progresses). A second request of the same type for a
machine whose action is still Pending or InProgress answers 400 "Action is already in progress"
(live response: ``ActiveRequestAlreadyExists``).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from prefect_defender.emulator.guard import ApiError, Ctx
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["FINAL", "advance", "new_action", "now_iso", "view"]

FINAL = {"Succeeded", "Failed", "TimeOut", "Cancelled"}
#: what a succeeded action does to its machine: (field, value)
MACHINE_EFFECTS = {
    "Isolate": ("isolationState", "Isolated"),
    "Unisolate": ("isolationState", "NotIsolated"),
    "RestrictCodeExecution": ("restrictionState", "Restricted"),
    "UnrestrictCodeExecution": ("restrictionState", "NotRestricted"),
    "Offboard": ("onboardingStatus", "Offboarded"),
}


def now_iso() -> str:
    """The current time as Defender writes it."""
    return iso(datetime.now(UTC))


def _outcome(state: EmulatorState, machine_id: str, action_type: str) -> str:
    overrides = state.config.get("action_outcomes") or {}
    per = overrides.get(f"{machine_id}/{action_type}") or overrides.get(machine_id)
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
    now = now_iso()
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
        "externalID": extra.pop("externalID", None),
        "requestSource": "PublicApi",
        "relatedFileInfo": extra.pop("relatedFileInfo", None),
        "commands": extra.pop("commands", []),
        "troubleshootInfo": None,
        "_created": time.monotonic(),
        "_outcome": extra.pop("_outcome", None) or _outcome(state, machine["id"], action_type),
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
            action["lastUpdateDateTimeUtc"] = now_iso()
        return
    action["status"] = outcome
    action["lastUpdateDateTimeUtc"] = now_iso()
    for cmd in action.get("commands") or []:
        cmd["commandStatus"] = "Completed" if outcome == "Succeeded" else "Failed"
        cmd["startTime"] = cmd["startTime"] or action["lastUpdateDateTimeUtc"]
        cmd["endTime"] = action["lastUpdateDateTimeUtc"]
    if outcome != "Succeeded":
        action["errorHResult"] = -2147467259
        return
    machine = tenant.data["machines"].get(action["machineId"])
    effect = MACHINE_EFFECTS.get(action["type"])
    if machine is not None and effect is not None:
        machine[effect[0]] = effect[1]


def view(action: dict[str, Any]) -> dict[str, Any]:
    """The public JSON of an action."""
    return {k: v for k, v in action.items() if not k.startswith("_")}
