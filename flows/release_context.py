"""What the operator sees before a release: what each row undoes, and why it is there.

The release playbook (``flows/release.py``) undoes a containment: it lifts isolation and code
restriction, deletes the indicators a playbook added for the incident and, when asked,
re-enables accounts and dismisses risk confirmed by mistake. :func:`release_context` lays that
out as the same :class:`~prefect_defender.flows.decision_context.DecisionContext` the
containment playbooks use (one block per device, account and indicator, a switch per row):
per device what is in force now (isolated since when, by whom, with which comment: read from
its machine actions), per account what is undone (disabled now, risk confirmed compromised),
per indicator what it blocks and who added it when.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.flows.approval_form import FormRow
from prefect_defender.flows.decision_context import DecisionContext
from prefect_defender.flows.decision_facts import (
    account_facts,
    account_form_rows,
    context_for,
    device_facts,
    device_form_rows,
    incident_facts,
    indicator_facts,
    indicator_form_rows,
)
from prefect_defender.flows.release_targets import ReleaseTargets
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_history import containment_state, machine_action_history
from prefect_defender.tasks.identities import AccountSummary
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope

__all__ = ["release_context"]

#: devices whose action history is read for the form (the rest say so)
MAX_HISTORY = 50
_WORDS = {
    ActionType.UNISOLATE: "release from isolation",
    ActionType.UNRESTRICT_CODE_EXECUTION: "remove the app restriction",
}


def _per_machine(plan: Sequence[PlannedAction]) -> list[PlannedAction]:
    """The first planned action of each machine (a device's row stands for all of its)."""
    seen: dict[str, PlannedAction] = {}
    for p in plan:
        seen.setdefault(p.machine_id.lower(), p)
    return list(seen.values())


async def _states(scope: TenantScope, plan: Sequence[PlannedAction]) -> dict[str, str]:
    """``{machine id: what is in force now}`` from each machine's actions (the first
    :data:`MAX_HISTORY` devices)."""
    ids = list(dict.fromkeys(p.machine_id for p in plan))
    read = ids[:MAX_HISTORY]
    history: list[ItemOutcome] = await machine_action_history(scope.client, read) if read else []
    kinds = list(dict.fromkeys(p.action for p in plan))
    out = {mid: f"history not read (more than {MAX_HISTORY} devices)" for mid in ids[MAX_HISTORY:]}
    for o in history:
        if not o.ok:
            out[o.item] = f"history not readable ({(o.error or {}).get('code') or o.reason})"
            continue
        states = [containment_state(o.result or [], k) for k in kinds]
        out[o.item] = "; ".join(s for s in states if s)
    return out


def _account_why(targets: ReleaseTargets) -> Any:
    def why(info: AccountSummary) -> str:
        said = []
        if info.user in targets.to_enable:
            said.append("disabled now")
        if info.object_id in targets.to_dismiss:
            said.append(f"risk confirmed compromised (level {info.risk_level or 'unknown'})")
        return "; ".join(said)

    return why


def _account_actions(targets: ReleaseTargets, info: AccountSummary) -> list[str]:
    return (["enable"] if info.user in targets.to_enable else []) + (
        ["dismiss risk"] if info.object_id in targets.to_dismiss else []
    )


async def release_context(
    scope: TenantScope, targets: ReleaseTargets, safety: SafetyPolicy, reason: str
) -> tuple[DecisionContext, list[FormRow]]:
    """The release's :class:`DecisionContext` and its form rows (one per device, account and
    indicator).

    Example:
        ```python
        from prefect_defender.flows.release_targets import ReleaseAsk, read_targets
        from prefect_defender.tasks.safety import SafetyPolicy
        from prefect_defender.tasks.scope import TenantScope

        safety, ask = SafetyPolicy(), ReleaseAsk()
        async with await TenantScope.load(credentials) as scope:
            targets = await read_targets(scope, incident_id, [], [], ask, safety)
            context, rows = await release_context(scope, targets, safety, ask.why())
        print(context.markdown())  # ask_containment(context, ..., rows=rows) asks with it
        ```
    """
    states = await _states(scope, targets.plan) if targets.plan else {}
    machines = _per_machine(targets.plan)
    kinds = {
        p.machine_id: [q.action for q in targets.plan if q.machine_id == p.machine_id]
        for p in machines
    }
    devices = device_facts(
        machines,
        lambda p: " and ".join(_WORDS.get(k, k.value) for k in kinds[p.machine_id]),
        lambda p: states.get(p.machine_id),
    )
    accounts = account_facts(
        targets.accounts, [], {}, safety, lambda oid: scope.link("user", oid), _account_why(targets)
    )
    for facts, info in zip(accounts, targets.accounts, strict=True):
        facts.actions = _account_actions(targets, info)
    indicators = indicator_facts(targets.indicators, "delete")
    incident = targets.incident
    link = scope.link("incident", incident.incident_id) if incident else None
    context = context_for(
        "defender-release",
        scope,
        safety,
        action="release",
        incident=incident_facts(incident, link, scored=False) if incident else None,
        reason=reason,
        devices=devices,
        accounts=accounts,
        indicators=indicators,
        writes=targets.writes(),
        instructions=INSTRUCTIONS,
    )
    rows = device_form_rows(devices)
    rows += account_form_rows(accounts, [i.user for i in targets.accounts])
    rows += indicator_form_rows(indicators)
    return context, rows


INSTRUCTIONS = (
    "Switch **approve** on to release the rows switched on below; switch a row off to keep it "
    "contained. No answer by the deadline means *nothing is released*."
)
