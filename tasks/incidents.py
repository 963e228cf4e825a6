"""Tasks for incidents: Defender XDR (``/api/incidents``) and Graph (``security/incidents``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect_defender.api.models.alerts import SEVERITIES, one_of
from prefect_defender.api.models.incidents import GraphIncident, Incident
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

__all__ = [
    "add_graph_incident_comment",
    "add_incident_comment",
    "get_graph_incident",
    "get_incident",
    "list_graph_incidents",
    "list_incidents",
    "update_graph_incident",
    "update_incident",
]


@defender_task(endpoints=("xdr.incidents.list",))
async def list_incidents(
    credentials: DefenderCredentialsLike,
    updated_since: datetime | None = None,
    created_since: datetime | None = None,
    status: str | None = None,
    assigned_to: str | None = None,
    severities: list[str] | None = None,
    limit: int | None = 1000,
    tenant_id: str | None = None,
) -> list[Incident]:
    """Defender XDR incidents, newest update first.

    ``updated_since``, ``created_since``, ``status`` and ``assigned_to`` are sent as an OData
    filter; ``severities`` is applied client-side because the XDR incidents API documents no
    severity filter (use :func:`list_graph_incidents` for a server-side one).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import list_incidents

        @flow
        async def open_high() -> list[int]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            found = await list_incidents(creds, status="Active", severities=["High"])
            return [i.incident_id for i in found]
        ```
    """
    wanted = {one_of(s, SEVERITIES, "severities") for s in severities or []}
    async with defender_client(credentials, tenant_id) as client:
        f = None
        if created_since is not None:
            from prefect_defender.api.resources.incidents import XDR_INCIDENT_FILTERS

            f = XDR_INCIDENT_FILTERS.ge("createdTime", created_since)
        out: list[Incident] = []
        async for inc in client.incidents.iterate(
            odata_filter=f, updated_since=updated_since, status=status, assigned_to=assigned_to
        ):
            if wanted and inc.severity not in wanted:
                continue
            out.append(inc)
            if limit is not None and len(out) >= limit:
                break
        return out


@defender_task(endpoints=("xdr.incidents.get",))
async def get_incident(
    credentials: DefenderCredentialsLike, incident_id: int, tenant_id: str | None = None
) -> Incident:
    """One incident with its alerts, devices and entities.

    Example:
        ```python
        incident = await get_incident(creds, 1001)
        print(incident.device_ids())
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.incidents.get(incident_id)


@defender_task(endpoints=("xdr.incidents.update",))
async def update_incident(
    credentials: DefenderCredentialsLike,
    incident_id: int,
    status: str | None = None,
    assigned_to: str | None = None,
    classification: str | None = None,
    determination: str | None = None,
    tags: list[str] | None = None,
    comment: str | None = None,
    tenant_id: str | None = None,
) -> Incident:
    """Update status (Active, InProgress, Resolved), owner, classification/determination
    (determinations are grouped by classification; both documented spellings accepted), tags
    (replacing them) and/or add a comment.

    Example:
        ```python
        await update_incident(creds, 1001, status="Resolved", classification="TruePositive",
                              determination="Malware", comment="Contained by playbook")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.incidents.update(
            incident_id,
            status=status,
            assigned_to=assigned_to,
            classification=classification,
            determination=determination,
            tags=tags,
            comment=comment,
        )


@defender_task(endpoints=("xdr.incidents.update",))
async def add_incident_comment(
    credentials: DefenderCredentialsLike,
    incident_id: int,
    comment: str,
    tenant_id: str | None = None,
) -> Incident:
    """Add a comment to an incident.

    Example:
        ```python
        await add_incident_comment(creds, 1001, "Isolated contoso-ws-001 after approval")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.incidents.comment(incident_id, comment)


@defender_task(endpoints=("graph.incidents.list",))
async def list_graph_incidents(
    credentials: DefenderCredentialsLike,
    updated_since: datetime | None = None,
    severity: str | None = None,
    status: str | None = None,
    expand_alerts: bool = False,
    limit: int | None = 1000,
    tenant_id: str | None = None,
) -> list[GraphIncident]:
    """Graph security incidents, optionally with their alerts and evidence (``$expand=alerts``).

    Example:
        ```python
        found = await list_graph_incidents(creds, severity="high", expand_alerts=True)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_incidents.list(
            updated_since=updated_since,
            severity=severity,
            status=status,
            expand_alerts=expand_alerts,
            limit=limit,
        )


@defender_task(endpoints=("graph.incidents.get",))
async def get_graph_incident(
    credentials: DefenderCredentialsLike,
    incident_id: int,
    expand_alerts: bool = True,
    tenant_id: str | None = None,
) -> GraphIncident:
    """One Graph incident (with alerts and evidence by default).

    Example:
        ```python
        incident = await get_graph_incident(creds, 1001)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_incidents.get(incident_id, expand_alerts=expand_alerts)


@defender_task(endpoints=("graph.incidents.update",))
async def update_graph_incident(
    credentials: DefenderCredentialsLike,
    incident_id: int,
    status: str | None = None,
    assigned_to: str | None = None,
    classification: str | None = None,
    determination: str | None = None,
    custom_tags: list[str] | None = None,
    tenant_id: str | None = None,
) -> GraphIncident:
    """Update a Graph incident (camelCase values: ``resolved``, ``truePositive`` ...).

    Example:
        ```python
        await update_graph_incident(creds, 1001, status="inProgress", assigned_to="soc@x")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_incidents.update(
            incident_id,
            status=status,
            assigned_to=assigned_to,
            classification=classification,
            determination=determination,
            custom_tags=custom_tags,
        )


@defender_task(endpoints=("graph.incidents.comment",))
async def add_graph_incident_comment(
    credentials: DefenderCredentialsLike,
    incident_id: int,
    comment: str,
    tenant_id: str | None = None,
) -> list[dict[str, Any]]:
    """Add a comment to a Graph incident; returns its comments.

    Example:
        ```python
        await add_graph_incident_comment(creds, 1001, "Triaged by playbook")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_incidents.comment(incident_id, comment)
