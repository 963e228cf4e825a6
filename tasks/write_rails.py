"""The safety rails at the transport: every write of a Prefect process passes the run's guard.

Importing any task installs :func:`check_rails` as the transport's write check
(``api.write_gate``), so every request that changes something in a tenant, whichever playbook,
task, agent tool or resource method sends it, first passes:

1. the kill switch (``defender_automation_halted``, and the run policy's own variable);
2. the dry run of the run's policy (nothing is sent);
3. the caps: the slot a playbook's :meth:`~prefect_defender.tasks.safety.WriteGuard.admit` took
   for the action, or one slot of its own (per run and per tenant per hour).

The run's guard is found by the flow run id: a playbook sets its policy with :func:`run_guard`
(``run_guard(safety)``); a flow run that never did gets the default :class:`SafetyPolicy`, so a
playbook written tomorrow that forgets the rails still has them. Outside any flow run (a script
calling a task directly) only the kill switch holds, read from the configured Prefect server
(``PREFECT_API_URL``; a script with no server configured has no switch to read).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from prefect.context import FlowRunContext, TaskRunContext
from prefect.settings import PREFECT_API_URL

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.write_gate import install_write_check
from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard, ensure_not_halted

__all__ = ["check_rails", "current_guard", "run_guard"]

#: guards of the flow runs of this process, newest last (bounded: a long-lived worker serves many)
_GUARDS: OrderedDict[Any, WriteGuard] = OrderedDict()
_MAX_RUNS = 1024


def _flow_run_id() -> Any:
    """The id of the current flow run (in the flow or one of its tasks), or ``None``."""
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        return flow_ctx.flow_run.id
    task_ctx = TaskRunContext.get()
    if task_ctx is not None:
        return task_ctx.task_run.flow_run_id
    return None


def _keep(run_id: Any, guard: WriteGuard) -> WriteGuard:
    _GUARDS[run_id] = guard
    _GUARDS.move_to_end(run_id)
    while len(_GUARDS) > _MAX_RUNS:
        _GUARDS.popitem(last=False)
    return guard


def run_guard(policy: SafetyPolicy | None = None) -> WriteGuard:
    """The :class:`WriteGuard` of the current flow run, under ``policy`` when given.

    The first call of a run makes the guard; later calls return it (a new ``policy`` replaces
    the old one and keeps the writes counted so far). Outside a flow run: a guard of its own.

    Example:
        ```python
        from prefect import flow

        from prefect_defender.tasks.safety import SafetyPolicy

        @flow
        async def my_playbook(tenant_id: str) -> str | None:
            guard = run_guard(SafetyPolicy(max_actions_per_run=5))  # at the top of a playbook
            return await guard.admit(tenant_id)  # None: admitted; else why not
        ```
    """
    run_id = _flow_run_id()
    existing = _GUARDS.get(run_id) if run_id is not None else None
    if existing is not None and (policy is None or existing.policy == policy):
        return existing
    guard = WriteGuard(policy or SafetyPolicy())
    if existing is not None:
        guard.used = existing.used
    return _keep(run_id, guard) if run_id is not None else guard


def current_guard() -> WriteGuard | None:
    """The guard of the current flow run (the default one if the playbook set none), or
    ``None`` outside a flow run."""
    return run_guard() if _flow_run_id() is not None else None


async def check_rails(ep: Endpoint, tenant_id: str) -> None:
    """The transport's write check (``api.write_gate``): refuse ``ep`` in ``tenant_id`` under
    the kill switch, the dry run or a cap by raising a ``WriteRefusedError``."""
    guard = current_guard()
    if guard is None:
        if PREFECT_API_URL.value():  # a Prefect server holds the switch; a bare script has none
            await ensure_not_halted()
        return
    await guard.admit_request(ep, tenant_id)


install_write_check(check_rails)
