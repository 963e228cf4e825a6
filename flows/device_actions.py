"""The playbooks' machine actions: run a plan under the safety rails, then wait for the results.

Contain-device, hunt-and-respond, release and evidence collection all act the same way: one
machine action per planned device through :class:`WriteGuard` (kill switch, caps, protected
assets, dry run), then, unless it is a dry run, a wait for each action's final state.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect_defender.api.validation import CheckedMachineId, check_machine_id
from prefect_defender.flows.approval import left_out_outcome
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_plans import apply_machine_actions, await_machine_actions
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["act_and_wait", "unique_machine_ids"]


async def act_and_wait(
    scope: TenantScope,
    plan: list[PlannedAction],
    comment: str,
    safety: SafetyPolicy,
    *,
    run_key: str,
    allow_protected: bool = False,
    wait_timeout_seconds: float = 1800.0,
    poll_interval_seconds: float = 10.0,
    chosen: Callable[[str], bool] | None = None,
) -> list[ItemOutcome]:
    """Request ``plan``'s actions (``comment`` on each) in the run's tenant (``scope``) and,
    unless ``safety.dry_run``, wait for their final states; one outcome per planned action, in
    order.

    ``run_key`` makes a re-run of the same logical run after a crash act once per machine.
    With ``chosen`` (the operator's answer, ``ContainmentDecision.chosen``), only the machines
    it accepts are acted on; the others end ``skipped: left out by the operator``.

    Example:
        ```python
        from prefect import flow

        from prefect_defender.api.models.machine_actions import ActionType
        from prefect_defender.tasks.action_plans import plan_actions, run_key_for
        from prefect_defender.tasks.safety import SafetyPolicy
        from prefect_defender.tasks.scope import TenantScope

        @flow
        async def scan(credentials: str, ids: list[str]) -> int:
            safety = SafetyPolicy()
            async with await TenantScope.load(credentials) as scope:
                plan = await plan_actions(scope.client, ids, [ActionType.RUN_ANTIVIRUS_SCAN])
                key = run_key_for("scan", scope.tenant, ids)
                outcomes = await act_and_wait(
                    scope, plan, "prefect-defender hunt", safety, run_key=key,
                    poll_interval_seconds=1,
                )
            return sum(o.ok for o in outcomes)
        ```
    """
    keep = chosen or (lambda _: True)
    acting = [p for p in plan if keep(p.machine_id)]
    outcomes: list[ItemOutcome] = (
        await apply_machine_actions(
            scope.client,
            acting,
            comment,
            run_guard(safety),
            allow_protected=allow_protected,
            run_key=run_key,
        )
        if acting
        else []
    )
    if outcomes and not safety.dry_run:
        outcomes = await await_machine_actions(
            scope.client,
            outcomes,
            timeout=wait_timeout_seconds,
            poll_interval=poll_interval_seconds,
        )
    done = iter(outcomes)
    return [next(done) if keep(p.machine_id) else left_out_outcome(p.machine_id) for p in plan]


def unique_machine_ids(ids: list[str]) -> list[str]:
    """``ids`` in lower case, in order, without duplicates (Defender's ids ignore case). An id
    checked on entry (a ``CheckedMachineId``) stays checked, also when a plain copy of it (from
    the incident) came first."""
    unique: dict[str, str] = {}
    for i in ids:
        low = check_machine_id(i) if type(i) is CheckedMachineId else i.lower()
        if low not in unique or type(low) is CheckedMachineId:
            unique[low] = low
    return list(unique.values())
