"""What has been done to machines: their latest isolation and code-restriction actions.

A release undoes a containment; the operator approving it should see, per device, what it
undoes: isolated since when, by whom and why (the isolating action's requestor and comment), or
that the device is not isolated now. :func:`machine_action_history` reads each machine's actions
once (``GET /api/machineactions`` filtered by ``machineId`` and by the containing and releasing
action types, which the list filters on:
https://learn.microsoft.com/en-us/defender-endpoint/api/get-machineactions-collection; the page
documents no order, so the actions are sorted here) and :func:`containment_state` says it in
one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from prefect_defender.api.input_types import Concurrency, MachineId, TenantId
from prefect_defender.api.models.machine_actions import ActionType, MachineAction
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, run_bulk

__all__ = ["containment_state", "machine_action_history", "requestor_name"]

#: containing and releasing actions read per machine (a machine is rarely isolated so often)
PER_MACHINE = 500
#: (the containing action, the releasing action, how it reads) per release action
_PAIRS = {
    ActionType.UNISOLATE: ("Isolate", "Unisolate", "isolated", "isolation"),
    ActionType.UNRESTRICT_CODE_EXECUTION: (
        "RestrictCodeExecution",
        "UnrestrictCodeExecution",
        "app execution restricted",
        "app restriction",
    ),
}
_PENDING = {"pending", "inprogress"}
#: the idempotency reference a playbook appends to its comments (``api/resources/action_requests``)
_REF = re.compile(r"\s*\[ref:[0-9a-f]+\]$")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@defender_task(endpoints=("mde.actions.list",))
async def machine_action_history(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    tenant_id: TenantId | None = None,
    concurrency: Concurrency = 5,
) -> list[ItemOutcome]:
    """Each machine's isolation and app-restriction actions and their releases, newest first.

    One task for all the machines, one outcome per machine (``result``: the list of
    :class:`MachineAction`; ``failed`` with Defender's error when it could not be read).

    Example:
        ```python
        history = await machine_action_history(creds, [machine_id])
        print(containment_state(history[0].result, ActionType.UNISOLATE))
        ```
    """
    kinds = [kind for pair in _PAIRS.values() for kind in pair[:2]]
    async with defender_client(credentials, tenant_id) as client:

        async def read(machine_id: str) -> ItemOutcome:
            actions = await client.machine_actions.list(
                machine_id=machine_id, action_types=kinds, limit=PER_MACHINE
            )
            newest = sorted(actions, key=_when, reverse=True)
            return ItemOutcome(item=machine_id, status=OutcomeStatus.SUCCEEDED, result=newest)

        return await run_bulk(list(dict.fromkeys(machine_ids)), read, concurrency=concurrency)


def _when(action: MachineAction) -> float:
    at = action.creation_date_time_utc
    return at.timestamp() if at else 0.0


def containment_state(actions: Sequence[MachineAction], release: ActionType) -> str:
    """What ``release`` would undo on a machine whose actions (newest first) are ``actions``:
    ``isolated (Full) since 2026-12-07 18:22 UTC by alice: "<comment>"``, ``not isolated now
    (released ...)`` or ``no isolation on record``.

    Examples:
        >>> containment_state([], ActionType.UNISOLATE)
        'no isolation on record'
    """
    if release not in _PAIRS:
        return ""
    on, off, state, noun = _PAIRS[release]
    for a in actions:
        status = (a.status or "").lower()
        if a.type not in (on, off) or status not in (_PENDING | {"succeeded"}):
            continue
        by = f" by {requestor_name(a.requestor)}" if a.requestor else ""
        comment = _REF.sub("", " ".join((a.requestor_comment or "").split()))[:200]
        said = f': "{comment}"' if comment else ""
        when = _utc(a)
        if a.type == off:
            verb = "release requested" if status in _PENDING else "released"
            return f"not {state} now ({verb} {when}{by})"
        if status in _PENDING:
            return f"{noun} requested {when}{by}, not done yet ({a.status}){said}"
        kind = f" ({a.scope})" if a.scope and release is ActionType.UNISOLATE else ""
        return f"{state}{kind} since {when}{by}{said}"
    return f"no {noun} on record"


def requestor_name(requestor: str) -> str:
    """Who requested an action or created an indicator, for an operator: a user's name as
    given; an application (Defender records its client id) as ``an application``: its id says
    nothing at 3 a.m., and a playbook's comment names the playbook and who approved it.

    Examples:
        >>> requestor_name("cfef2ff2-cfb6-5447-8606-a2fe5d83b4e7")
        'an application'
    """
    return "an application" if _GUID.fullmatch(requestor.strip()) else requestor


def _utc(action: MachineAction) -> str:
    at = action.creation_date_time_utc
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "at an unknown time"
