"""The triage result on the approval form, when triage runs beside the containment.

The poller's ``defender.incident.created`` event starts triage and the containment at the same
time, so the containment often reads the incident before triage has commented on it. Triage
therefore also emits its result as the Prefect event ``defender.incident.triaged`` on the
incident's resource (``defender.incident.<tenant>.<id>``, the poller's), with the incident
version it scored. Before it asks, a playbook whose incident carries no triage comment reads
that event; when none is there yet but a triage run of this incident is under way (or has just
ended: events are stored a few seconds late), it waits for it a few seconds at most
(``ApprovalPolicy.triage_wait_seconds``). While the form waits for its answer,
:class:`TriageWatch` keeps looking (every few seconds, for at most :data:`FOLLOW_SECONDS`) and,
when the result arrives, rewrites the form's description, so an operator who opens the dialog
then sees the triage score. The approval notice is never held back longer than the short wait,
and not at all when no triage runs. Reading runs and events is best effort: without them the
form says "not triaged yet".

Example:
    ```python
    from prefect_defender.flows.decision_context import DecisionContext, IncidentFacts

    context = DecisionContext(
        playbook="defender-contain-device",
        incident=IncidentFacts(1001, "Ransomware", "High", "Active", triaged=False),
        tenant_id=tenant_id,
    )
    watch = TriageWatch(context)
    await watch.settle(3)  # before the pause: the result, or a few seconds' wait for it
    watch.follow(None)  # during the pause (the paused run's id): rewrites its form
    await watch.stop()  # the operator answered
    print(context.incident.score)  # the triage result, when triage reported one
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.events import emit_event

from prefect_defender.flows.decision_context import DecisionContext, utc
from prefect_defender.tasks.base import task_logger

__all__ = ["TRIAGED_EVENT", "TriageWatch", "emit_triaged", "triage_of", "triage_running"]

TRIAGED_EVENT = "defender.incident.triaged"
#: how long the form is followed for a late triage result
FOLLOW_SECONDS = 900.0
#: how often the events are read while waiting (before the pause: twice as often)
POLL_SECONDS = 4.0
#: the triage flow whose runs are looked for
TRIAGE_FLOW = "defender-triage-incident"
#: a triage run that ended this recently may not have its event stored yet
JUST_ENDED_SECONDS = 20.0


def _resource(tenant_id: str, incident_id: int | str) -> str:
    return f"defender.incident.{tenant_id}.{incident_id}"


def emit_triaged(
    tenant_id: str,
    incident: Any,
    points: int,
    hits: list[str],
    escalated: bool,
    dry_run: bool,
) -> None:
    """Triage's result as a Prefect event on the incident's resource (the poller's).

    Example:
        ```python
        emit_triaged(tenant_id, incident, 85, ["high severity (+40)"], True, False)
        ```
    """
    version = incident.last_update_time
    emit_event(
        event=TRIAGED_EVENT,
        resource={
            "prefect.resource.id": _resource(tenant_id, incident.incident_id),
            "prefect.resource.name": incident.incident_name or str(incident.incident_id),
            "defender.tenant.id": tenant_id,
            "defender.incident.id": str(incident.incident_id),
        },
        payload={
            "score": points,
            "matched": hits,
            "escalated": escalated,
            "dry_run": dry_run,
            "last_update_time": version.isoformat() if version else None,
        },
    )


def _said(payload: dict[str, Any], version: datetime | None) -> str:
    """``triage score 85: high severity (+40), ...`` (and when an older version was scored)."""
    matched = ", ".join(payload.get("matched") or []) or "no rule matched"
    text = f"triage score {payload.get('score')}: {matched}"
    scored = payload.get("last_update_time")
    try:
        at = datetime.fromisoformat(str(scored)) if scored else None
    except ValueError:
        at = None
    if at is not None and version is not None and at < version - timedelta(seconds=1):
        text += f" (scored on the incident as of {utc(at)}; it changed since)"
    return text


async def triage_of(tenant_id: str, incident_id: int | str, version: datetime | None) -> str | None:
    """The newest triage result of the incident from the Prefect server's events, scored on
    ``version`` or within a day before it; ``None`` when there is none (or no events API).

    Example:
        ```python
        said = await triage_of(tenant_id, 1001, incident.last_update_time)
        print(said or "not triaged yet")
        ```
    """
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    since = (version or datetime.now(UTC)) - timedelta(days=1)
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(name=[TRIAGED_EVENT]),
        resource=EventResourceFilter(id=[_resource(tenant_id, incident_id)]),
    )
    try:
        async with get_client() as client:
            page = await client.read_events(filter=event_filter, limit=5)
    except Exception as exc:  # best effort: the form says "not triaged yet"
        task_logger().debug("could not read the triage events: %s", type(exc).__name__)
        return None
    events = sorted(page.events, key=lambda e: e.occurred)
    return _said(dict(events[-1].payload), version) if events else None


async def triage_running(tenant_id: str, incident_id: int | str) -> bool:
    """True when a triage run of the incident (among the newest 50 triage runs of the last 10
    minutes) has not ended, or ended a few seconds ago; best effort (``False`` when the runs
    cannot be read).

    Example:
        ```python
        if await triage_running(tenant_id, 1001):
            print("triage is under way: its result is worth a few seconds' wait")
        ```
    """
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    now = datetime.now(UTC)
    try:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[TRIAGE_FLOW])),
                flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(
                        after_=now - timedelta(minutes=10)
                    )
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=50,
            )
    except Exception as exc:  # best effort: no wait
        task_logger().debug("could not read the triage runs: %s", type(exc).__name__)
        return False
    just = now - timedelta(seconds=JUST_ENDED_SECONDS)
    for run in runs:
        params = run.parameters or {}
        tenant = str(params.get("tenant_id") or "")
        if str(params.get("incident_id")) != str(incident_id) or tenant not in ("", tenant_id):
            continue
        ended = run.end_time is not None or bool(run.state and run.state.is_final())
        if not ended or (run.end_time is not None and run.end_time >= just):
            return True
    return False


class TriageWatch:
    """Waits for, and follows, the triage result of a decision's incident (see the module)."""

    def __init__(self, context: DecisionContext | None) -> None:
        incident = context.incident if context else None
        self.context = context
        self.wanted = bool(context and incident and not incident.triaged and context.tenant_id)
        self._task: asyncio.Task[None] | None = None

    async def _look(self) -> bool:
        """Read the events once; on a result, put it on the context and return True."""
        ctx = self.context
        if not self.wanted or ctx is None or ctx.incident is None or ctx.tenant_id is None:
            return False
        said = await triage_of(ctx.tenant_id, ctx.incident.incident_id, ctx.incident.updated)
        if said is None:
            return False
        ctx.incident.score, ctx.incident.triaged = said, True
        self.wanted = False
        return True

    async def settle(self, seconds: float) -> bool:
        """Before the pause: the result if it is there, else (a triage run of the incident
        under way) wait at most ``seconds`` for it; True when it came."""
        if not self.wanted:
            return False
        if await self._look():
            return True
        ctx = self.context
        if seconds <= 0 or ctx is None or ctx.incident is None or ctx.tenant_id is None:
            return False
        if not await triage_running(ctx.tenant_id, ctx.incident.incident_id):
            return False
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(min(POLL_SECONDS / 2, left))
            if await self._look():
                return True
        return False

    def follow(self, flow_run_id: UUID | None) -> None:
        """During the pause: look every few seconds; on a result, rewrite the form."""
        if self.wanted and flow_run_id is not None:
            self._task = asyncio.create_task(self._follow(flow_run_id))

    async def _follow(self, flow_run_id: UUID) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOLLOW_SECONDS
        while loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            if await self._look():
                await _rewrite_description(flow_run_id, self.context)
                return

    async def stop(self) -> None:
        """Stop following (the operator answered, or the deadline passed)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


async def _rewrite_description(flow_run_id: UUID, context: DecisionContext | None) -> None:
    """Replace the paused run's form description (a flow run input, whose key the Paused
    state names) with the context's markdown; best effort."""
    if context is None:
        return
    try:
        async with get_client() as client:
            run = await client.read_flow_run(flow_run_id)
            keyset = run.state.state_details.run_input_keyset if run.state else None
            if not (run.state and run.state.is_paused() and keyset):
                return
            key = keyset["description"]
            with contextlib.suppress(Exception):  # absent: nothing to delete
                await client.delete_flow_run_input(flow_run_id=flow_run_id, key=key)
            await client.create_flow_run_input(
                flow_run_id=flow_run_id, key=key, value=_json(context.markdown())
            )
        task_logger().info("the approval form now shows the triage result")
    except Exception as exc:  # best effort: the form keeps its first text
        task_logger().warning("could not update the approval form: %s", type(exc).__name__)


def _json(text: str) -> str:
    """A flow run input's value as Prefect stores it (JSON text)."""
    return json.dumps(text, ensure_ascii=False)
