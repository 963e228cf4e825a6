"""Tasks for incidents.

``list_incidents``, ``get_incident``, ``update_incident`` and ``add_incident_comment`` are what
the playbooks use: they read and write through Microsoft Graph (``/security/incidents``) and
answer :class:`~prefect_defender.api.models.incidents.Incident` in Defender XDR's field names
and spellings, so code written for XDR incidents keeps working. ``surface="xdr"`` (or a
credentials block whose ``incident_surface`` is ``xdr``) uses the Defender XDR API instead,
which Microsoft retires on 1 February 2027 (Message Center MC1220762); that logs one warning per
process. The ``*_graph_*`` tasks answer Graph's own models.
"""

from __future__ import annotations

from datetime import datetime

from prefect_defender.api.input_types import (
    IncidentId,
    Limit,
    OpenChoice,
    PageSize,
    RequiredText,
    ShortText,
    Tags,
    TenantId,
)
from prefect_defender.api.models.alerts import (
    Classification,
    Determination,
    GraphClassification,
    GraphDetermination,
    GraphIncidentStatus,
    GraphSeverity,
    IncidentStatus,
    Severity,
)
from prefect_defender.api.models.incidents import (
    GraphComment,
    GraphIncident,
    Incident,
    IncidentComment,
    IncidentSurface,
)
from prefect_defender.api.resources.triage import GRAPH_PAGE_MAX
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    forwarded,
    task_logger,
)

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


@defender_task(endpoints=("graph.incidents.list", "xdr.incidents.list"))
async def list_incidents(
    credentials: DefenderCredentialsLike,
    updated_since: datetime | None = None,
    created_since: datetime | None = None,
    status: OpenChoice[IncidentStatus] | None = None,
    assigned_to: ShortText | None = None,
    severities: list[Severity | str] | None = None,
    limit: Limit | None = 1000,
    updated_before: datetime | None = None,
    created_before: datetime | None = None,
    tenant_id: TenantId | None = None,
    surface: IncidentSurface | str | None = None,
    expand_alerts: bool = False,
) -> list[Incident]:
    """Incidents matching filters, newest update first (Graph; XDR on request).

    The time windows (``*_since`` inclusive, ``*_before`` exclusive on the last update and the
    creation time), ``status``, ``assigned_to`` and ``severities`` are sent as an OData
    ``$filter`` (on XDR, which documents no severity filter, severities are applied here).
    Values are XDR's (``Active``, ``High``); Graph's camelCase is accepted too. On Graph,
    ``expand_alerts`` also reads each incident's alerts and evidence (XDR always embeds them).

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
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        found = await client.incidents.list(**args)
    task_logger().info("listed %d incidents", len(found))
    return found


@defender_task(endpoints=("graph.incidents.get", "xdr.incidents.get"))
async def get_incident(
    credentials: DefenderCredentialsLike,
    incident_id: IncidentId,
    tenant_id: TenantId | None = None,
    surface: IncidentSurface | str | None = None,
) -> Incident:
    """One incident with its alerts, devices and entities (Graph; XDR on request).

    On Graph the alerts are expanded and their evidence becomes XDR's ``devices`` (from
    ``deviceEvidence``) and ``entities`` (files, processes, IPs, URLs, users, mailboxes ...).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import get_incident

        @flow
        async def devices_of(incident_id: int) -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            incident = await get_incident(creds, incident_id)
            return incident.device_ids()
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.incidents.get(incident_id, surface=surface)


@defender_task(
    endpoints=(
        "graph.incidents.update",
        "graph.incidents.comment",
        "graph.incidents.get",
        "xdr.incidents.update",
    )
)
async def update_incident(
    credentials: DefenderCredentialsLike,
    incident_id: IncidentId,
    status: OpenChoice[IncidentStatus] | None = None,
    assigned_to: ShortText | None = None,
    classification: Classification | str | None = None,
    determination: Determination | str | None = None,
    tags: Tags | None = None,
    comment: RequiredText | None = None,
    tenant_id: TenantId | None = None,
    surface: IncidentSurface | str | None = None,
) -> Incident:
    """Update an incident's status, owner, classification/determination, tags or add a comment.

    Only the given fields are sent (on Graph unless ``surface="xdr"``). ``status`` is Active,
    InProgress, Resolved or Redirected; a ``determination`` needs its ``classification`` and
    must belong to it (both documented spellings are accepted, e.g.
    ``CompromisedAccount``/``CompromisedUser``, ``Clean``/``NotMalicious``); ``tags`` replaces
    the incident's tags. On Graph the fields go in one PATCH (``tags`` as ``customTags``) and
    the comment in its own POST; the answer is the incident without its alerts.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import update_incident

        @flow
        async def close_as_malware(incident_id: int) -> None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await update_incident(
                creds, incident_id, status="Resolved", classification="TruePositive",
                determination="Malware", comment="Contained by playbook",
            )
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        updated = await client.incidents.update(**args)
    task_logger().info("updated incident %s (status %s)", updated.incident_id, updated.status)
    return updated


@defender_task(endpoints=("graph.incidents.comment", "xdr.incidents.update"))
async def add_incident_comment(
    credentials: DefenderCredentialsLike,
    incident_id: IncidentId,
    comment: RequiredText,
    tenant_id: TenantId | None = None,
    surface: IncidentSurface | str | None = None,
) -> list[IncidentComment]:
    """Add a comment to an incident; returns its comments (Graph; XDR on request).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import add_incident_comment

        @flow
        async def note(incident_id: int) -> None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await add_incident_comment(creds, incident_id, "Isolated ws-001 after approval")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.incidents.comment(incident_id, comment, surface=surface)


@defender_task(endpoints=("graph.incidents.list",))
async def list_graph_incidents(
    credentials: DefenderCredentialsLike,
    updated_since: datetime | None = None,
    severity: GraphSeverity | str | None = None,
    status: OpenChoice[GraphIncidentStatus] | None = None,
    expand_alerts: bool = False,
    limit: Limit | None = 1000,
    assigned_to: ShortText | None = None,
    classification: GraphClassification | str | None = None,
    created_since: datetime | None = None,
    created_before: datetime | None = None,
    updated_before: datetime | None = None,
    page_size: PageSize = GRAPH_PAGE_MAX,
    tenant_id: TenantId | None = None,
) -> list[GraphIncident]:
    """Graph security incidents, optionally with their alerts and evidence (``$expand=alerts``).

    Every filter (severity included) is applied by the server. Values are Graph's camelCase
    (``high``, ``inProgress``); the PascalCase of Microsoft's examples is converted. Pages of
    ``page_size`` (default and most: 1,000; never more than ``limit``) are followed by
    ``@odata.nextLink``.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import list_graph_incidents

        @flow
        async def high_with_alerts() -> int:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            found = await list_graph_incidents(creds, severity="high", expand_alerts=True)
            return sum(len(i.alerts) for i in found)
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        found = await client.graph_incidents.list(**args)
    task_logger().info("listed %d Graph incidents", len(found))
    return found


@defender_task(endpoints=("graph.incidents.get",))
async def get_graph_incident(
    credentials: DefenderCredentialsLike,
    incident_id: IncidentId,
    expand_alerts: bool = True,
    tenant_id: TenantId | None = None,
) -> GraphIncident:
    """One Graph incident (with alerts and evidence by default).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import get_graph_incident

        @flow
        async def evidence_kinds(incident_id: int) -> set[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            incident = await get_graph_incident(creds, incident_id)
            return {e["@odata.type"] for a in incident.alerts for e in a.evidence}
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_incidents.get(incident_id, expand_alerts=expand_alerts)


@defender_task(endpoints=("graph.incidents.update",))
async def update_graph_incident(
    credentials: DefenderCredentialsLike,
    incident_id: IncidentId,
    status: OpenChoice[GraphIncidentStatus] | None = None,
    assigned_to: ShortText | None = None,
    classification: GraphClassification | str | None = None,
    determination: GraphDetermination | str | None = None,
    custom_tags: Tags | None = None,
    tenant_id: TenantId | None = None,
) -> GraphIncident:
    """Update a Graph incident (camelCase values: ``resolved``, ``truePositive`` ...).

    Sends only the given fields: ``status``, ``assignedTo``, ``classification``,
    ``determination`` and ``customTags`` (which replaces the custom tags).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import update_graph_incident

        @flow
        async def take(incident_id: int) -> None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await update_graph_incident(
                creds, incident_id, status="inProgress", assigned_to="soc@contoso.com"
            )
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_incidents.update(**args)


@defender_task(endpoints=("graph.incidents.comment",))
async def add_graph_incident_comment(
    credentials: DefenderCredentialsLike,
    incident_id: IncidentId,
    comment: RequiredText,
    tenant_id: TenantId | None = None,
) -> list[GraphComment]:
    """Add a comment to a Graph incident; returns its comments.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import add_graph_incident_comment

        @flow
        async def note(incident_id: int) -> int:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            comments = await add_graph_incident_comment(creds, incident_id, "Triaged")
            return len(comments)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_incidents.comment(incident_id, comment)
