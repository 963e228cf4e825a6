"""Machine actions as the playbooks take them: plan, request under the safety rails, wait.

Every machine action that leaves a task goes through ``fan_out_actions``
(``tasks.action_fan_out``): the bulk tasks of ``tasks.machine_actions`` call it without a guard,
the playbooks (through :func:`apply_machine_actions`) with the safety rails of ``tasks.safety``
as its ``admit`` hook. The body of each request comes from the action's row in ``ACTION_SPECS``
(``action_body``), so there is one body builder and one fan-out.
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.input_types import (
    ActionComment,
    ActionOptions,
    Concurrency,
    MachineId,
    RunKey,
    Seconds,
    TenantId,
)
from prefect_defender.api.models.machine_actions import ActionType, action_endpoints
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.resources.action_requests import action_body, action_comment, options_of
from prefect_defender.api.validation import (
    check_choice,
    check_machine_id,
    check_machine_ids,
    check_model,
)
from prefect_defender.tasks.action_fan_out import Admit, PlannedAction, fan_out_actions
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus
from prefect_defender.tasks.safety import (
    AutomationHaltedError,
    SafetyPolicy,
    WriteGuard,
    protection_reason,
)

__all__ = [
    "apply_machine_actions",
    "await_machine_actions",
    "plan_actions",
    "plan_machine_actions",
    "run_key_for",
]


def plan_machine_actions(
    machines: list[Machine],
    action: ActionType,
    policy: SafetyPolicy,
    options: dict[str, Any] | None = None,
    link: Any = None,
) -> list[PlannedAction]:
    """One planned action per machine, with protected machines flagged.

    ``options`` may hold options of several action types (a playbook's parameters); each plan
    keeps those of ``action``, validated here, before anything is sent.

    Example:
        ```python
        from prefect_defender.tasks.machines import list_machines

        machines = await list_machines(creds, limit=5)
        plan = plan_machine_actions(machines, ActionType.ISOLATE, SafetyPolicy(),
                                    {"isolation_type": "Selective"})
        assert [p.machine_id for p in plan] == [m.id for m in machines]
        ```
    """
    return _plans(machines, action, policy, *_options_and_body(action, options), link)


def _options_and_body(
    action: ActionType, options: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options of ``action`` among ``options`` and its request body, validated once: a bad
    option fails the plan, not the 40th request."""
    own = options_of(action, options)
    try:
        return own, action_body(action, **own)
    except ValidationError as exc:
        raise ValidationError(f"options: {exc.message}", field="options") from None


def _plans(
    machines: list[Machine],
    action: ActionType,
    policy: SafetyPolicy,
    own: dict[str, Any],
    body: dict[str, Any],
    link: Any = None,
    asked: dict[str, str] | None = None,
) -> list[PlannedAction]:
    """One plan per machine with its validated ``body``. ``asked``: the checked ids asked for;
    a plan carries the checked one when Defender answers with the same text."""
    asked = asked or {}
    return [
        PlannedAction(
            machine_id=asked.get(m.id, m.id),
            computer_dns_name=m.computer_dns_name,
            machine_tags=list(m.machine_tags or []),
            action=action,
            options=dict(own),
            protected=protection_reason(policy, m),
            link=link(m.id) if link else None,
            machine=m,
        ).with_body(body)
        for m in machines
    ]


@defender_task(name="plan-actions-on-machines", endpoints=("mde.machines.get",))
async def plan_actions(
    credentials: DefenderCredentialsLike,
    machine_ids: list[MachineId],
    actions: list[ActionType],
    safety: SafetyPolicy | None = None,
    options: ActionOptions | None = None,
    tenant_id: TenantId | None = None,
) -> list[PlannedAction]:
    """Read each machine once and plan ``actions`` on it (machine by machine, in that order).

    Ids are checked and de-duplicated (case-insensitively) first; each plan carries the
    machine's name, tags, protection (from ``safety``) and its portal link. A machine that does
    not exist raises Defender's ``NotFoundError``, before anything is requested.

    Example:
        ```python
        plan = await plan_actions(creds, [machine_id], [ActionType.ISOLATE],
                                  SafetyPolicy(), {"isolation_type": "Selective"})
        ```
    """
    ids = list(dict.fromkeys(check_machine_ids(machine_ids)))
    if not isinstance(actions, list | tuple) or not actions:
        raise ValidationError("actions: expected a non-empty list of action types", field="actions")
    kinds = [check_choice(a, ActionType, f"actions[{i}]") for i, a in enumerate(actions)]
    policy = safety or SafetyPolicy()  # a non-policy is refused by the argument check
    bodies = [_options_and_body(kind, options) for kind in kinds]  # checked before any call
    async with defender_client(credentials, tenant_id) as client:
        machines = [await client.machines.get(m) for m in ids]
        asked = {m: m for m in ids}  # checked, carried into the plans

        def link(mid: str) -> str:
            return client.portal_link("machine", mid)

        return [
            p
            for kind, (own, body) in zip(kinds, bodies, strict=True)
            for p in _plans(machines, kind, policy, own, body, link, asked)
        ]


def _checked_plan(plan: list[Any]) -> list[PlannedAction]:
    """Every item a :class:`PlannedAction` (a dict from a Prefect parameter is read as one) with
    a valid machine id and options, before anything is sent."""
    out: list[PlannedAction] = []
    for i, item in enumerate(plan):
        p = check_model(item, PlannedAction, f"plan[{i}]", "a planned action")
        try:
            check_machine_id(p.machine_id, "machine_id")
            p.body()  # the options of its action type, checked
        except ValidationError as exc:
            raise ValidationError(f"plan[{i}]: {exc.message}", field="plan") from None
        out.append(p)
    return out


def _guard(
    guard: WriteGuard,
    tenant_id: str,
    earlier: dict[tuple[str, str], Any],
    allow_protected: bool,
) -> Admit:
    """The safety rails as an ``admit`` hook: earlier attempts, protected machines, the kill
    switch, the caps and dry run, in that order."""
    halted = False

    def skipped(p: PlannedAction, reason: str) -> ItemOutcome:
        return ItemOutcome(item=p.machine_id, status=OutcomeStatus.SKIPPED, reason=reason)

    async def admit(p: PlannedAction) -> ItemOutcome | None:
        nonlocal halted
        done = earlier.get((p.machine_id, p.action.value))
        if done is not None:
            return ItemOutcome(
                item=p.machine_id,
                status=OutcomeStatus.SUCCEEDED,
                result={"action_id": done.id, "status": done.status, "type": done.type},
                reason="done by an earlier attempt of this run",
            )
        if p.protected and not allow_protected:
            label = p.computer_dns_name or p.machine_id
            return skipped(p, f"{label}: {p.protected}; needs explicit approval")
        if halted:
            return skipped(p, "kill switch on: automated response halted")
        try:
            refused = await guard.admit(tenant_id)
        except AutomationHaltedError as exc:
            halted = True
            return skipped(p, str(exc.message))
        if refused:
            return skipped(p, f"cap: {refused}")
        if guard.policy.dry_run:
            return ItemOutcome(
                item=p.machine_id,
                status=OutcomeStatus.DRY_RUN,
                reason=f"dry run: would request {p.action.value}",
            )
        return None

    return admit


@defender_task(name="apply-machine-actions", endpoints=action_endpoints())
async def apply_machine_actions(
    credentials: DefenderCredentialsLike,
    plan: list[PlannedAction],
    comment: ActionComment,
    guard: WriteGuard,
    tenant_id: TenantId | None = None,
    allow_protected: bool = False,
    concurrency: Concurrency = 10,
    run_key: RunKey | None = None,
) -> list[ItemOutcome]:
    """Request the planned actions under the safety rails; one outcome per planned action.

    Before every write: the kill switch, the per-run cap and the tenant's hourly cap. Protected
    machines are skipped unless ``allow_protected``. In dry-run mode nothing is sent.
    ``tenant_id`` is the tenant to act in (a partner's customer; the block's own when None).

    ``run_key`` makes a re-run idempotent: every comment carries ``[pd-run:<key>]``, and
    machines that already have an action of the planned type with that key (from an earlier,
    interrupted attempt in the last 24 hours) are reported as done instead of acted on again.

    Example:
        ```python
        policy = SafetyPolicy(max_actions_per_run=5)
        plan = await plan_actions(creds, ids, [ActionType.RUN_ANTIVIRUS_SCAN], policy)
        outcomes = await apply_machine_actions(creds, plan, "IR-7", WriteGuard(policy))
        assert len(outcomes) == len(plan)  # one outcome per planned action
        ```
    """
    plan = _checked_plan(plan)
    comment = action_comment(comment)
    if run_key:
        comment = action_comment(f"{comment} [pd-run:{run_key}]")
    async with defender_client(credentials, tenant_id) as client:
        earlier = await _earlier_attempts(client, plan, run_key) if run_key else {}
        # the caps count per tenant acted in: the client's (the block's own, or the customer's)
        admit = _guard(guard, client.tenant_id, earlier, allow_protected)
        outcomes = await fan_out_actions(
            client, plan, comment, concurrency=max(1, concurrency), admit=admit
        )
    task_logger().info(
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

    Example:
        ```python
        key = run_key_for("contain", tenant_id, 1001, [machine_id])
        assert key == run_key_for("contain", tenant_id, 1001, [machine_id])  # same day, same key
        ```
    """
    import hashlib
    import json
    from datetime import UTC, datetime

    day = datetime.now(UTC).strftime("%Y-%m-%d")
    text = json.dumps([day, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@defender_task(name="await-machine-actions", endpoints=("mde.actions.list", "mde.actions.get"))
async def await_machine_actions(
    credentials: DefenderCredentialsLike,
    outcomes: list[ItemOutcome],
    tenant_id: TenantId | None = None,
    timeout: Seconds = 1800.0,
    poll_interval: Seconds = 10.0,
) -> list[ItemOutcome]:
    """Wait for every requested action to reach a final state; record it in the outcome.

    Polls with one list call per 40 actions a round (not one call per action), so waiting for
    a bulk isolation stays well inside the rate limit. An action that does not finish in time
    is recorded with its last state (``final_status`` = ``still <status>``); nothing is dropped.

    Example:
        ```python
        plan = await plan_actions(creds, ids, [ActionType.RUN_ANTIVIRUS_SCAN])
        requested = await apply_machine_actions(creds, plan, "IR-7", WriteGuard(SafetyPolicy()))
        outcomes = await await_machine_actions(creds, requested, timeout=900)
        print([o.result["final_status"] for o in outcomes if o.ok])
        ```
    """
    ids = [
        o.result["action_id"]
        for o in outcomes
        if isinstance(o.result, dict) and o.result.get("action_id")
    ]
    if not ids:
        return outcomes
    async with defender_client(credentials, tenant_id) as client:
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
