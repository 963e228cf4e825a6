"""Who resumed a run: read from the run's own events on the Prefect server (the harness).

Open-source Prefect records no actor when a run is resumed, so a real resume yields ``None``
(see tests/flows/test_contain.py: 'resumed by (Prefect): not known'). Prefect Cloud relates the
user or service account to the events it records; that is simulated here by an event carrying a
related resource with the role ``actor``, which the playbook then names.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from prefect.events import Event, emit_event
from prefect.events.worker import EventsWorker

from prefect_defender.tasks.approval_actor import actor_of, resumed_by


def test_actor_of_reads_the_actor_role_only() -> None:
    run = f"prefect.flow-run.{uuid.uuid4()}"
    plain = Event(event="prefect.flow-run.Running", resource={"prefect.resource.id": run})
    assert actor_of([plain]) is None
    with_actor = Event(
        event="prefect.flow-run.Running",
        resource={"prefect.resource.id": run},
        related=[
            {"prefect.resource.id": "prefect.flow.x", "prefect.resource.role": "flow"},
            {
                "prefect.resource.id": "prefect-cloud.user.42",
                "prefect.resource.role": "actor",
                "prefect.resource.name": "alice@contoso.example",
            },
        ],
    )
    assert actor_of([plain, with_actor]) == "alice@contoso.example"


def test_resumed_by_finds_the_actor_in_the_runs_events(prefect_harness) -> None:
    run_id = uuid.uuid4()
    since = datetime.now(UTC) - timedelta(seconds=5)
    assert asyncio.run(resumed_by(run_id, since)) is None  # no event: not known
    emit_event(
        event="prefect.flow-run.Running",
        resource={"prefect.resource.id": f"prefect.flow-run.{run_id}"},
        related=[
            {
                "prefect.resource.id": "prefect-cloud.user.42",
                "prefect.resource.role": "actor",
                "prefect.resource.name": "alice@contoso.example",
            }
        ],
    )
    EventsWorker.drain_all(timeout=10)
    deadline, found = time.monotonic() + 20, None
    while found is None and time.monotonic() < deadline:
        found = asyncio.run(resumed_by(run_id, since))
        time.sleep(0.5)
    assert found == "alice@contoso.example"
