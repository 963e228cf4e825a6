"""Tasks for alerts: Defender for Endpoint (``/api/alerts``) and Graph (``alerts_v2``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.incidents import GraphAlert
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

__all__ = [
    "add_graph_alert_comment",
    "batch_update_alerts",
    "create_alert_by_reference",
    "get_alert",
    "get_alert_related",
    "get_graph_alert",
    "list_alerts",
    "list_graph_alerts",
    "update_alert",
    "update_graph_alert",
]


@defender_task(endpoints=("mde.alerts.list",))
async def list_alerts(
    credentials: DefenderCredentialsLike,
    status: str | None = None,
    severity: str | None = None,
    created_since: datetime | None = None,
    incident_id: int | None = None,
    expand_evidence: bool = False,
    odata_filter: str | None = None,
    limit: int | None = 1000,
    tenant_id: str | None = None,
) -> list[Alert]:
    """Defender for Endpoint alerts, newest first, optionally with evidence.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import list_alerts

        @flow
        async def new_high():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await list_alerts(creds, status="New", severity="High", expand_evidence=True)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.alerts.list(
            odata_filter=odata_filter,
            status=status,
            severity=severity,
            created_since=created_since,
            incident_id=incident_id,
            expand_evidence=expand_evidence,
            limit=limit,
        )


@defender_task(endpoints=("mde.alerts.get",))
async def get_alert(
    credentials: DefenderCredentialsLike, alert_id: str, tenant_id: str | None = None
) -> Alert:
    """One alert with its evidence.

    Example:
        ```python
        alert = await get_alert(creds, "da637...")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.alerts.get(alert_id)


@defender_task(endpoints=("mde.alerts.update",))
async def update_alert(
    credentials: DefenderCredentialsLike,
    alert_id: str,
    status: str | None = None,
    assigned_to: str | None = None,
    classification: str | None = None,
    determination: str | None = None,
    comment: str | None = None,
    tenant_id: str | None = None,
) -> Alert:
    """Update an alert (status New/InProgress/Resolved, owner, classification/determination,
    comment).

    Example:
        ```python
        await update_alert(creds, alert_id, status="Resolved", classification="FalsePositive",
                           determination="Clean")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.alerts.update(
            alert_id,
            status=status,
            assigned_to=assigned_to,
            classification=classification,
            determination=determination,
            comment=comment,
        )


@defender_task(endpoints=("mde.alerts.batch_update",))
async def batch_update_alerts(
    credentials: DefenderCredentialsLike,
    alert_ids: list[str],
    status: str | None = None,
    assigned_to: str | None = None,
    classification: str | None = None,
    determination: str | None = None,
    comment: str | None = None,
    tenant_id: str | None = None,
) -> int:
    """Apply the same update to up to 500 alerts in one call (10 calls/min); returns the count.

    Example:
        ```python
        await batch_update_alerts(creds, ids, status="Resolved", comment="Bulk close")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        await client.alerts.batch_update(
            alert_ids,
            status=status,
            assigned_to=assigned_to,
            classification=classification,
            determination=determination,
            comment=comment,
        )
    return len(alert_ids)


@defender_task(endpoints=("mde.alerts.create_by_reference",))
async def create_alert_by_reference(
    credentials: DefenderCredentialsLike,
    machine_id: str,
    report_id: str,
    event_time: datetime,
    severity: str,
    title: str,
    description: str,
    recommended_action: str,
    category: str,
    tenant_id: str | None = None,
) -> Alert:
    """Create an alert on top of an event found by hunting (all fields are required).

    Example:
        ```python
        alert = await create_alert_by_reference(
            creds, machine_id, report_id="1234", event_time=when, severity="High",
            title="Hunted: encoded PowerShell", description="...", recommended_action="Isolate",
            category="Execution")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.alerts.create_by_reference(
            machine_id=machine_id,
            report_id=report_id,
            event_time=event_time,
            severity=severity,
            title=title,
            description=description,
            recommended_action=recommended_action,
            category=category,
        )


@defender_task(
    endpoints=(
        "mde.alerts.domains",
        "mde.alerts.files",
        "mde.alerts.ips",
        "mde.alerts.machine",
        "mde.alerts.user",
    )
)
async def get_alert_related(
    credentials: DefenderCredentialsLike,
    alert_id: str,
    kinds: list[str] | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """Entities related to an alert: ``domains``, ``files``, ``ips``, ``machine``, ``user``.

    Each kind needs its own permission (URL.Read.All, File.Read.All, Ip.Read.All,
    Machine.Read.All, User.Read.All); a kind that fails is returned as ``{"error": ...}``.

    Example:
        ```python
        related = await get_alert_related(creds, alert_id, ["files", "ips"])
        ```
    """
    from prefect_defender.api.errors import DefenderError

    out: dict[str, Any] = {}
    async with defender_client(credentials, tenant_id) as client:
        for kind in kinds or ["domains", "files", "ips", "machine", "user"]:
            try:
                out[kind] = await client.alerts.related(alert_id, kind)
            except DefenderError as exc:
                if exc.code == "InvalidInput":
                    raise
                out[kind] = {"error": exc.to_dict()}
    return out


@defender_task(endpoints=("graph.alerts.list",))
async def list_graph_alerts(
    credentials: DefenderCredentialsLike,
    status: str | None = None,
    severity: str | None = None,
    odata_filter: str | None = None,
    limit: int | None = 1000,
    tenant_id: str | None = None,
) -> list[GraphAlert]:
    """Graph security alerts (``alerts_v2``) with evidence.

    Example:
        ```python
        alerts = await list_graph_alerts(creds, status="new", severity="high")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_alerts.list(
            odata_filter=odata_filter, status=status, severity=severity, limit=limit
        )


@defender_task(endpoints=("graph.alerts.get",))
async def get_graph_alert(
    credentials: DefenderCredentialsLike, alert_id: str, tenant_id: str | None = None
) -> GraphAlert:
    """One Graph alert.

    Example:
        ```python
        alert = await get_graph_alert(creds, alert_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_alerts.get(alert_id)


@defender_task(endpoints=("graph.alerts.update",))
async def update_graph_alert(
    credentials: DefenderCredentialsLike,
    alert_id: str,
    status: str | None = None,
    assigned_to: str | None = None,
    classification: str | None = None,
    determination: str | None = None,
    tenant_id: str | None = None,
) -> GraphAlert:
    """Update a Graph alert (camelCase values).

    Example:
        ```python
        await update_graph_alert(creds, alert_id, status="resolved", classification="falsePositive")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_alerts.update(
            alert_id,
            status=status,
            assigned_to=assigned_to,
            classification=classification,
            determination=determination,
        )


@defender_task(endpoints=("graph.alerts.comment",))
async def add_graph_alert_comment(
    credentials: DefenderCredentialsLike,
    alert_id: str,
    comment: str,
    tenant_id: str | None = None,
) -> list[dict[str, Any]]:
    """Add a comment to a Graph alert; returns its comments.

    Example:
        ```python
        await add_graph_alert_comment(creds, alert_id, "Reviewed")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_alerts.comment(alert_id, comment)
