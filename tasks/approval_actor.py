"""Who resumed a paused flow run, when the Prefect server knows it.

Open-source Prefect has no user accounts: its resume API records no actor, so the name an
operator types in the approval form is self-declared. Prefect Cloud attributes API calls to a
user or service account; where the run's own state-change events carry a related resource
with the role ``actor`` (Prefect's event grammar, https://docs.prefect.io/v3/api-ref/events),
:func:`resumed_by` returns its name. Anything else (no events API, no actor) is ``None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client

from prefect_defender.tasks.base import task_logger

__all__ = ["actor_of", "resumed_by"]


def actor_of(events: list[Any]) -> str | None:
    """The name (or id) of the first ``actor`` related resource of ``events``, newest last.

    Examples:
        >>> actor_of([])  # open-source Prefect: no actor
    """
    for event in events:
        for related in getattr(event, "related", None) or []:
            labels = dict(getattr(related, "root", related))
            if labels.get("prefect.resource.role") == "actor":
                name = labels.get("prefect.resource.name") or labels.get("prefect.resource.id")
                return str(name) if name else None
    return None


async def resumed_by(flow_run_id: UUID, since: datetime) -> str | None:
    """Who resumed ``flow_run_id`` after ``since``, from the run's events; ``None`` when the
    server does not say (always the case on open-source Prefect).

    Example:
        ```python
        # needs a run that was paused and resumed (inside a playbook, after the decision)
        from datetime import UTC, datetime, timedelta

        from prefect.runtime import flow_run

        paused_at = datetime.now(UTC) - timedelta(minutes=5)
        actor = await resumed_by(flow_run.id, paused_at)  # None on a self-hosted server
        ```
    """
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(prefix=["prefect.flow-run."]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    try:
        async with get_client() as client:
            read = getattr(client, "read_events", None)
            if read is None:  # an older client without the events API
                return None
            page = await read(filter=event_filter, limit=50)
    except Exception as exc:  # the record is best effort, never fails the playbook
        task_logger().debug("could not read the run's events: %s", type(exc).__name__)
        return None
    events = sorted(page.events, key=lambda e: e.occurred)
    return actor_of([e for e in events if not str(e.event).endswith(".Paused")])
