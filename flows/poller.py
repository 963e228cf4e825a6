"""Incident poller: one Prefect event per new or changed Defender incident, exactly once.

Every run reads the incidents updated since a checkpoint kept on the Prefect server (a
Variable), per tenant, and emits ``defender.incident.created`` or ``defender.incident.updated``
for each. Triggered deployments (triage, contain-device) react to those events.

**Tie-safe checkpoint.** The checkpoint is the newest ``lastUpdateTime`` seen plus every incident
version (id and ``lastUpdateTime``) reported in the five minutes before it. The next query asks
for ``lastUpdateTime ge checkpoint - 5 min`` and skips the versions already reported, so
same-second updates are neither lost (``gt`` would lose them) nor repeated, a service filter
coarser than its timestamps repeats nothing, and a change that becomes visible late is caught.
All pages are read before the checkpoint is computed, so the order in which pages arrive does
not matter, and a read during which incidents change (which shifts ``$skip`` pages) is
repeated until it is consistent.

**Exactly once across crashes.** Event ids are derived from (tenant, incident, lastUpdateTime),
so if a run dies after emitting and before saving its checkpoint, the re-run emits the same ids
and the Prefect server ignores the duplicates (its trigger evaluation skips events it has seen).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.events import emit_event
from prefect.variables import Variable
from pydantic import BaseModel, Field

from prefect_defender.api.models.incidents import Incident
from prefect_defender.flows.common import load_credentials, own_tenant, tenants_of
from prefect_defender.tasks.base import defender_client, defender_task, task_logger

__all__ = ["Checkpoint", "incident_poller", "poll_incidents"]

EVENT_NAMESPACE = uuid.UUID("5f0b7a52-3a4e-4c1e-9a57-6d1f0e7a9b10")
DEFAULT_VARIABLE = "defender_incident_checkpoint"


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


def event_id(tenant_id: str, incident: Incident) -> uuid.UUID:
    """Deterministic event id for one state of one incident."""
    stamp = incident.last_update_time.isoformat() if incident.last_update_time else ""
    return uuid.uuid5(EVENT_NAMESPACE, f"{tenant_id}/{incident.incident_id}/{stamp}")


def incident_event(tenant_id: str, incident: Incident, created: bool) -> dict[str, Any]:
    """The Prefect event (name, resource, payload, id) describing ``incident``."""
    entities: dict[str, set[str]] = {"files": set(), "ips": set(), "urls": set(), "users": set()}
    for alert in incident.alerts:
        for ent in alert.entities:
            if ent.sha256 or ent.sha1:
                entities["files"].add(str(ent.sha256 or ent.sha1))
            if ent.ip_address:
                entities["ips"].add(ent.ip_address)
            if ent.url:
                entities["urls"].add(ent.url)
            if ent.account_name:
                entities["users"].add(ent.account_name)
            if ent.user_principal_name:
                entities.setdefault("accounts", set()).add(ent.user_principal_name)
    return {
        "event": "defender.incident.created" if created else "defender.incident.updated",
        "resource": {
            "prefect.resource.id": f"defender.incident.{tenant_id}.{incident.incident_id}",
            "prefect.resource.name": incident.incident_name or str(incident.incident_id),
            "defender.tenant.id": tenant_id,
            "defender.incident.id": str(incident.incident_id),
            "defender.incident.severity": str(incident.severity or "Unknown"),
            # lets a trigger start identity containment only for incidents that name an account
            "defender.incident.has_accounts": "true" if entities.get("accounts") else "false",
        },
        "payload": {
            "tenant_id": tenant_id,
            "incident_id": incident.incident_id,
            "title": incident.incident_name,
            "severity": incident.severity,
            "status": incident.status,
            "assigned_to": incident.assigned_to,
            "classification": incident.classification,
            "last_update_time": incident.last_update_time.isoformat()
            if incident.last_update_time
            else None,
            "device_ids": incident.device_ids(),
            "entities": {k: sorted(v) for k, v in entities.items()},
        },
        "id": event_id(tenant_id, incident),
    }


async def read_changed_incidents(client: Any, since: datetime, passes: int = 3) -> list[Incident]:
    """Every incident updated since ``since``, read completely even while incidents change.

    ``$skip`` paging over a list that changes under it shifts items between pages: an update
    or a new incident during the read shows one incident twice and can hide another. A repeated
    id is the tell-tale, so the read is repeated (up to ``passes`` times) until a pass sees no
    repeat; the union keeps the newest version of each incident.
    """
    latest: dict[int, Incident] = {}
    for _ in range(passes):
        ids: set[int] = set()
        shifted = False
        async for inc in client.incidents.iterate(updated_since=since):
            if inc.incident_id in ids:
                shifted = True
            ids.add(inc.incident_id)
            known = latest.get(inc.incident_id)
            if known is None or (inc.last_update_time or since) >= (
                known.last_update_time or since
            ):
                latest[inc.incident_id] = inc
        if not shifted:
            break
    return list(latest.values())


@defender_task(name="poll-defender-incidents", endpoints=("xdr.incidents.list",))
async def poll_incidents(
    credentials: Any,
    checkpoint: Checkpoint,
    tenant_id: str | None = None,
    initial_lookback: timedelta = timedelta(hours=24),
) -> tuple[list[tuple[Incident, bool]], Checkpoint]:
    """Incidents changed since ``checkpoint`` (tie-safe) and the advanced checkpoint.

    Returns ``[(incident, created), ...]`` oldest first, and the new checkpoint.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.flows.poller import Checkpoint, poll_incidents

        @flow
        async def peek(creds):
            changed, cp = await poll_incidents(creds, Checkpoint())
            return [i.incident_id for i, _ in changed]
        ```
    """
    since = checkpoint.query_since() or (datetime.now(UTC) - initial_lookback)
    async with defender_client(credentials, tenant_id) as client:
        fetched = await read_changed_incidents(client, since)
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
    return out, checkpoint.advance(fetched)


@flow(name="defender-incident-poller")
async def incident_poller(
    credentials: str = "defender-application-credentials/soc",
    checkpoint_variable: str = DEFAULT_VARIABLE,
    initial_lookback_hours: int = 24,
    tenant_ids: list[str] | None = None,
) -> dict[str, int]:
    """Emit one event per new or changed incident since the last run, for every tenant.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``. For a partner block,
            every configured tenant is polled (or ``tenant_ids``).
        checkpoint_variable: the Prefect Variable holding the per-tenant checkpoints.
        initial_lookback_hours: how far back the very first run looks.
        tenant_ids: restrict a partner block to these tenants.

    Returns the number of events emitted per tenant. A tenant that fails (no consent,
    throttled past the deadline) is logged and skipped without advancing its checkpoint.

    Example:
        ```python
        from prefect_defender.flows.poller import incident_poller

        incident_poller(credentials="defender-partner-credentials/mssp")
        ```
    """
    log = task_logger()
    creds = await load_credentials(credentials)
    stored: Any = await Variable.aget(checkpoint_variable, default={})
    state: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
    counts: dict[str, int] = {}
    for tid in tenants_of(creds, tenant_ids):
        tenant = own_tenant(creds, tid)
        cp = Checkpoint.model_validate(state.get(tenant) or {})
        try:
            changed, new_cp = await poll_incidents(
                creds, cp, tid, timedelta(hours=initial_lookback_hours)
            )
        except Exception as exc:
            log.error("tenant %s: polling failed: %s", tenant, exc)
            counts[tenant] = -1
            continue
        for incident, created in changed:
            ev = incident_event(tenant, incident, created)
            emit_event(
                event=ev["event"], resource=ev["resource"], payload=ev["payload"], id=ev["id"]
            )
        state[tenant] = new_cp.model_dump(mode="json")
        # saved per tenant right after its events: a crash repeats at most this tenant's
        # events, with the same ids, which the server ignores
        await Variable.aset(checkpoint_variable, state, overwrite=True)
        counts[tenant] = len(changed)
        log.info("tenant %s: %d incident event(s)", tenant, len(changed))
    return counts
