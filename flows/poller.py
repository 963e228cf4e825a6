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

**Graph by default.** Incidents are read on Microsoft Graph (``/security/incidents`` with their
alerts and evidence); the events keep their names, labels and payload fields, in XDR's
spellings (``High``, ``Active``), so existing triggers keep working, and the ids of an incident
version are the same whichever API read it. ``surface="xdr"`` reads the Defender XDR API, which
Microsoft retires on 1 February 2027 (one warning per process).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

from prefect import flow
from prefect.events import emit_event
from prefect.variables import Variable

from prefect_defender.api.errors import PagingError
from prefect_defender.api.input_types import BlockRef, LocalInt, TenantId, VariableName
from prefect_defender.api.models.incidents import Incident
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.incident_polling import Checkpoint, poll_incidents
from prefect_defender.tasks.scope import TenantScopes

__all__ = ["incident_poller"]

EVENT_NAMESPACE = uuid.UUID("5f0b7a52-3a4e-4c1e-9a57-6d1f0e7a9b10")
DEFAULT_VARIABLE = "defender_incident_checkpoint"


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
            # let triggers pick one containment per incident: contain-device (devices only),
            # contain-identity (accounts only) or contain-incident (both, one approval)
            "defender.incident.has_accounts": "true" if entities.get("accounts") else "false",
            "defender.incident.has_devices": "true" if incident.device_ids() else "false",
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
            "surface": incident.surface.value,
        },
        "id": event_id(tenant_id, incident),
    }


def _emit(tenant_id: str, changed: list[tuple[Incident, bool]]) -> None:
    """One Prefect event per ``(incident, created)``."""
    for incident, created in changed:
        ev = incident_event(tenant_id, incident, created)
        emit_event(event=ev["event"], resource=ev["resource"], payload=ev["payload"], id=ev["id"])


@flow(name="defender-incident-poller")
@checked_parameters
async def incident_poller(
    credentials: BlockRef = "defender-application-credentials/soc",
    checkpoint_variable: VariableName = DEFAULT_VARIABLE,
    initial_lookback_hours: LocalInt = 24,
    tenant_ids: list[TenantId] | None = None,
    surface: Literal["graph", "xdr"] | None = None,
) -> dict[str, int]:
    """Emit one event per new or changed incident since the last run, for every tenant.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``. For a partner block,
            every configured tenant is polled (or ``tenant_ids``).
        checkpoint_variable: the Prefect Variable holding the per-tenant checkpoints.
        initial_lookback_hours: how far back the very first run looks.
        tenant_ids: restrict a partner block to these tenants.
        surface: ``xdr`` reads the Defender XDR API (retiring 1 February 2027) instead of
            Microsoft Graph; unset, the block's ``incident_surface`` (Graph by default).

    Returns the number of events emitted per tenant. A tenant that fails (no consent,
    throttled past the deadline) is logged and skipped without advancing its checkpoint
    (``-1``). A tenant whose paging would not end (a list that ignores ``$skip``, repeated
    pages) stops after the repeat: the events of what was read are emitted (their ids make a
    repeat harmless), the log says why it stopped, and the checkpoint is kept (``-1``).

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.poller import incident_poller

        counts = asyncio.run(incident_poller(credentials="defender-partner-credentials/mssp"))
        print(counts)  # events emitted per kind
        ```
    """
    log = task_logger()
    counts: dict[str, int] = {}
    async with await TenantScopes.load(credentials, tenant_ids) as scopes:
        stored: Any = await Variable.aget(checkpoint_variable, default={})
        state: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
        for scope in scopes:
            tenant = scope.tenant
            cp = Checkpoint.model_validate(state.get(tenant) or {})
            try:
                changed, new_cp = await poll_incidents(
                    scope.client, cp, None, timedelta(hours=initial_lookback_hours), surface
                )
            except PagingError as exc:
                _emit(tenant, exc.partial)
                log.warning(
                    "tenant %s: polling stopped (%s): %s; %d event(s) from what was read, "
                    "checkpoint kept",
                    tenant,
                    exc.code,
                    exc,
                    len(exc.partial),
                )
                counts[tenant] = -1
                continue
            except Exception as exc:
                log.error("tenant %s: polling failed: %s", tenant, exc)
                counts[tenant] = -1
                continue
            _emit(tenant, changed)
            state[tenant] = new_cp.model_dump(mode="json")
            # saved per tenant right after its events: a crash repeats at most this tenant's
            # events, with the same ids, which the server ignores
            await Variable.aset(checkpoint_variable, state, overwrite=True)
            counts[tenant] = len(changed)
            log.info("tenant %s: %d incident event(s)", tenant, len(changed))
    return counts
