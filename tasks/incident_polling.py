"""Incidents changed since a checkpoint, read tie-safe and completely (the poller's task).

The checkpoint is the newest ``lastUpdateTime`` seen plus every incident version reported in
the :data:`OVERLAP` before it; the next read starts ``OVERLAP`` earlier and skips versions
already reported, so same-second updates are neither lost nor repeated. The flow that turns
the result into Prefect events is ``prefect_defender.flows.poller``.

Incidents are read on Microsoft Graph (``lastUpdateDateTime ge ...`` with ``$expand=alerts``, in
time windows past Graph's 6,000-item paging limit) unless ``surface="xdr"`` or the block's
``incident_surface`` asks for the Defender XDR API (retiring 1 February 2027).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from prefect_defender.api.errors import PagingError, ValidationError
from prefect_defender.api.input_types import Lookback, TenantId
from prefect_defender.api.models.incidents import Incident, IncidentSurface
from prefect_defender.api.paging import collect
from prefect_defender.api.validation import check_model
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

__all__ = ["OVERLAP", "Checkpoint", "poll_incidents", "read_changed_incidents"]

#: How far back each poll re-reads before its checkpoint: covers a service whose time filter is
#: coarser than its timestamps (whole seconds) and changes that become visible a little late.
OVERLAP = timedelta(minutes=5)


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


class Checkpoint(BaseModel):
    """Where a tenant's polling stopped: the newest ``lastUpdateTime`` seen and every incident
    version reported within :data:`OVERLAP` before it (``recent``: id -> lastUpdateTime)."""

    last_update: datetime | None = None
    ids_at_last_update: list[int] = Field(default_factory=list)
    recent: dict[str, str] = Field(default_factory=dict)

    def query_since(self) -> datetime | None:
        """The time the next read starts from (the checkpoint minus the overlap)."""
        return self.last_update - OVERLAP if self.last_update is not None else None

    def is_seen(self, incident: Incident) -> bool:
        """True if ``incident`` (at its current lastUpdateTime) was already reported."""
        t = incident.last_update_time
        if self.last_update is None or t is None:
            return False
        if self.recent.get(str(incident.incident_id)) == _stamp(t):
            return True
        if t == self.last_update and incident.incident_id in self.ids_at_last_update:
            return True
        # older than the overlap window: read again only because of the service's coarser
        # time filter; it was reported when it was new
        return t < self.last_update - OVERLAP

    def advance(self, incidents: list[Incident]) -> Checkpoint:
        """The checkpoint after having reported ``incidents`` (any order)."""
        times = [i.last_update_time for i in incidents if i.last_update_time is not None]
        if not times:
            return self
        newest = max(times)
        if self.last_update is not None and newest < self.last_update:
            newest = self.last_update
        ids = {i.incident_id for i in incidents if i.last_update_time == newest}
        if newest == self.last_update:
            ids |= set(self.ids_at_last_update)
        recent = dict(self.recent)
        for inc in sorted(incidents, key=lambda i: i.last_update_time or newest):
            if inc.last_update_time is not None:
                recent[str(inc.incident_id)] = _stamp(inc.last_update_time)
        floor = _stamp(newest - OVERLAP)
        recent = {k: v for k, v in recent.items() if v >= floor}
        return Checkpoint(last_update=newest, ids_at_last_update=sorted(ids), recent=recent)


async def read_changed_incidents(
    client: Any, since: datetime, passes: int = 3, surface: IncidentSurface | str | None = None
) -> list[Incident]:
    """Every incident updated since ``since``, read completely even while incidents change.

    ``$skip`` paging over a list that changes under it shifts items between pages: an update
    or a new incident during the read shows one incident twice and can hide another. On XDR a
    repeated id is the tell-tale, so the read is repeated (up to ``passes`` times) until a pass
    sees no repeat; the union keeps the newest version of each incident. On Graph the reader
    checks each window against the service's ``@odata.count`` itself, and yields each incident
    once (:mod:`prefect_defender.api.window_paging`).

    Each pass is bounded (:mod:`~prefect_defender.api.page_guard`): a service that ignores
    ``$skip``, repeats pages or never stops ends the read with
    :class:`~prefect_defender.api.errors.PagingError`, whose ``partial`` holds every incident
    read until then.
    """
    kind = client.incidents.surface(surface)
    if kind is IncidentSurface.GRAPH:
        pages = client.incidents.iterate(updated_since=since, expand_alerts=True, surface=kind)
        return await collect(pages)
    latest: dict[int, Incident] = {}
    try:
        for _ in range(passes):
            if not await _one_pass(client, since, kind, latest):
                break
    except PagingError as exc:
        exc.partial = list(latest.values())
        raise
    return list(latest.values())


async def _one_pass(
    client: Any, since: datetime, kind: IncidentSurface, latest: dict[int, Incident]
) -> bool:
    """Read every incident updated since ``since`` into ``latest`` (newest version kept);
    True when an id came twice (the list shifted under the read)."""
    ids: set[int] = set()
    shifted = False
    async for inc in client.incidents.iterate(updated_since=since, surface=kind):
        if inc.incident_id in ids:
            shifted = True
        ids.add(inc.incident_id)
        known = latest.get(inc.incident_id)
        if known is None or (inc.last_update_time or since) >= (known.last_update_time or since):
            latest[inc.incident_id] = inc
    return shifted


def _checked_checkpoint(value: Any) -> Checkpoint:
    """A :class:`Checkpoint` (its JSON form, as kept in the Prefect Variable, is read as one)."""
    return check_model(value, Checkpoint, "checkpoint", "a checkpoint")


@defender_task(
    name="poll-defender-incidents",
    endpoints=("graph.incidents.list", "graph.incidents.get", "xdr.incidents.list"),
)
async def poll_incidents(
    credentials: DefenderCredentialsLike,
    checkpoint: Checkpoint,
    tenant_id: TenantId | None = None,
    initial_lookback: Lookback = timedelta(hours=24),
    surface: IncidentSurface | str | None = None,
) -> tuple[list[tuple[Incident, bool]], Checkpoint]:
    """Incidents changed since ``checkpoint`` (tie-safe) and the advanced checkpoint.

    Returns ``[(incident, created), ...]`` oldest first, and the new checkpoint. Incidents come
    from Graph with their alerts and evidence (``surface="xdr"`` reads the retiring XDR API).
    When paging stopped (:class:`~prefect_defender.api.errors.PagingError`) the error is
    raised with ``partial`` holding ``[(incident, created), ...]`` for what was read, and the
    checkpoint is not advanced.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.tasks.incident_polling import Checkpoint, poll_incidents

        @flow
        async def peek(creds):
            changed, cp = await poll_incidents(creds, Checkpoint())
            return [i.incident_id for i, _ in changed]
        ```
    """
    checkpoint = _checked_checkpoint(checkpoint)
    if not isinstance(initial_lookback, timedelta) or initial_lookback <= timedelta(0):
        raise ValidationError(
            f"initial_lookback: expected a positive timedelta, got {str(initial_lookback)[:40]!r}",
            field="initial_lookback",
        )
    since = checkpoint.query_since() or (datetime.now(UTC) - initial_lookback)
    async with defender_client(credentials, tenant_id) as client:
        try:
            fetched = await read_changed_incidents(client, since, surface=surface)
        except PagingError as exc:
            exc.partial = _changes(checkpoint, exc.partial, since)
            raise
    return _changes(checkpoint, fetched, since), checkpoint.advance(fetched)


def _changes(
    checkpoint: Checkpoint, fetched: list[Incident], since: datetime
) -> list[tuple[Incident, bool]]:
    """The incidents of ``fetched`` not reported yet, oldest first, each with whether it is
    new (created) since the checkpoint."""
    fresh = [i for i in fetched if not checkpoint.is_seen(i)]
    fresh.sort(key=lambda i: (i.last_update_time or since, i.incident_id))
    out = []
    for inc in fresh:
        cp_time = checkpoint.last_update
        created = inc.created_time is not None and (
            cp_time is None
            or inc.created_time > cp_time
            or (
                inc.created_time == cp_time and inc.incident_id not in checkpoint.ids_at_last_update
            )
            or inc.created_time == inc.last_update_time  # never updated since it was created
        )
        out.append((inc, created))
    return out
