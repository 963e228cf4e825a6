"""The flow hook, the :func:`notifying` decorator and the reports kept per run (see the package)."""

from __future__ import annotations

import time
from typing import Any, TypeVar
from uuid import UUID

from prefect import Flow

from prefect_defender.flows.notify._delivery import Delivery, notify_outcome
from prefect_defender.flows.notify._message import Report, build_message

__all__ = [
    "notify_hook",
    "notifying",
    "record_deliveries",
    "remember_report",
]

F = TypeVar("F", bound="Flow[Any, Any]")

_REPORTS: dict[UUID, list[Report]] = {}


def _current_run() -> tuple[UUID | None, dict[str, Any]]:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return None, {}
    return ctx.flow_run.id, dict(ctx.flow_run.parameters or {})


def remember_report(
    title: str, summary: list[str], rows: list[dict[str, Any]], artifact_id: UUID | None
) -> None:
    """Keep a report for the current run's notification (only when the run asked for one).

    ``write_report`` calls this; a custom flow writing its own report can too.

    Example:
        ```python
        from prefect import flow

        @flow
        def my_playbook(notify: list[str] | None = None) -> None:
            rows = [{"indicator": "203.0.113.66", "outcome": "succeeded"}]
            remember_report("Block indicators", ["Submitted: 1/1"], rows, None)
        ```
    """
    run_id, params = _current_run()
    if run_id is not None and params.get("notify"):
        _REPORTS.setdefault(run_id, []).append(Report(title, list(summary), rows, artifact_id))


async def record_deliveries(
    deliveries: list[Delivery],
    key: str = "defender-notifications",
    description: str = "Notifications sent at the end of this playbook run",
) -> None:
    """Record where notifications went (and why one failed) in a markdown artifact of the run.

    Example:
        ```python
        from prefect import flow

        from prefect_defender.flows.notify import OutcomeMessage, notify_outcome, record_deliveries

        @flow
        async def my_playbook() -> None:
            deliveries = await notify_outcome([], OutcomeMessage(playbook="my-playbook"))
            await record_deliveries(deliveries, key="defender-approval-notifications")
        ```
    """
    from prefect.artifacts import acreate_markdown_artifact

    from prefect_defender.flows.reports import markdown_table

    rows = [
        {
            "block": d.target,
            "result": "sent" if d.delivered else "failed",
            "detail": d.error or "",
        }
        for d in deliveries
    ]
    try:
        await acreate_markdown_artifact(
            markdown="# Notifications\n\n" + markdown_table(rows, ["block", "result", "detail"]),
            key=key,
            description=description,
        )
    except Exception as exc:
        from prefect_defender.tasks.base import task_logger

        task_logger().warning("could not record the notifications: %s", type(exc).__name__)


async def notify_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook: send the run's notification (added by :func:`notifying`; never raises)."""
    from prefect_defender.tasks.base import task_logger

    reports = _REPORTS.pop(flow_run.id, [])
    params = dict(flow_run.parameters or {})
    targets = params.get("notify") or []
    if isinstance(targets, str):
        targets = [targets]
    if not targets:
        return
    log = task_logger()
    started = time.monotonic()
    try:
        message = await build_message(flow.name, flow_run, state, reports)
        deliveries = await notify_outcome(targets, message, params.get("notify_on") or "always")
    except Exception as exc:
        log.warning("notification not sent: %s", type(exc).__name__)
        return
    if not deliveries:
        log.info("no notification: notify_on=%s", params.get("notify_on"))
        return
    for d in deliveries:
        if d.delivered:
            log.info("notification sent to %s", d.target)
        else:
            log.warning("notification to %s failed: %s", d.target, d.error)
    log.debug("notifications took %.2f s", time.monotonic() - started)
    await record_deliveries(deliveries)


def notifying(flow_obj: F) -> F:
    """Decorator for a playbook flow: send its notification when the run ends.

    The flow must have ``notify`` and ``notify_on`` parameters; the hook runs on completion,
    failure and crash.

    Example:
        ```python
        from prefect import flow

        from prefect_defender.flows.notify import NotifyOn, notifying

        @notifying
        @flow(name="my-playbook")
        async def my_playbook(notify: list[str] | None = None,
                              notify_on: NotifyOn = "always") -> None: ...
        ```
    """
    fl = flow_obj
    for hooks in (fl.on_completion_hooks, fl.on_failure_hooks, fl.on_crashed_hooks):
        if notify_hook not in hooks:
            hooks.append(notify_hook)
    return flow_obj
