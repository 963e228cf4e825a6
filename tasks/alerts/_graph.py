"""Tasks for Graph security alerts (``alerts_v2``): list, get, update, comment.

Values are Graph's camelCase (``resolved``, ``falsePositive``). Public through ``tasks.alerts``.
"""

from __future__ import annotations

from datetime import datetime

from prefect_defender.api.input_types import (
    AlertId,
    FilterText,
    Limit,
    ODataFilterText,
    OpenChoice,
    PageSize,
    RequiredText,
    ShortText,
    TenantId,
)
from prefect_defender.api.models.alerts import (
    GraphAlertStatus,
    GraphClassification,
    GraphDetermination,
    GraphSeverity,
)
from prefect_defender.api.models.incidents import GraphAlert, GraphComment
from prefect_defender.api.resources.triage import GRAPH_PAGE_MAX
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    forwarded,
    task_logger,
)

__all__ = [
    "add_graph_alert_comment",
    "get_graph_alert",
    "list_graph_alerts",
    "update_graph_alert",
]


@defender_task(endpoints=("graph.alerts.list",))
async def list_graph_alerts(
    credentials: DefenderCredentialsLike,
    status: OpenChoice[GraphAlertStatus] | None = None,
    severity: GraphSeverity | str | None = None,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = 1000,
    classification: GraphClassification | str | None = None,
    service_source: FilterText | None = None,
    assigned_to: ShortText | None = None,
    created_since: datetime | None = None,
    created_before: datetime | None = None,
    updated_since: datetime | None = None,
    page_size: PageSize = GRAPH_PAGE_MAX,
    tenant_id: TenantId | None = None,
) -> list[GraphAlert]:
    """Graph security alerts (``alerts_v2``) with evidence.

    Filters are sent as ``$filter`` on documented properties (status, severity, classification,
    serviceSource, assignedTo, createdDateTime, lastUpdateDateTime), in Graph's camelCase.
    Pages of ``page_size`` (default and most: 1,000; never more than ``limit``) are followed
    by ``@odata.nextLink``.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import list_graph_alerts

        @flow
        async def new_high() -> int:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return len(await list_graph_alerts(creds, status="new", severity="high"))
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        found = await client.graph_alerts.list(**args)
    task_logger().info("listed %d Graph alerts", len(found))
    return found


@defender_task(endpoints=("graph.alerts.get",))
async def get_graph_alert(
    credentials: DefenderCredentialsLike, alert_id: AlertId, tenant_id: TenantId | None = None
) -> GraphAlert:
    """One Graph alert.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import get_graph_alert

        @flow
        async def status_of(alert_id: str) -> str | None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_graph_alert(creds, alert_id)).status
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_alerts.get(alert_id)


@defender_task(endpoints=("graph.alerts.update",))
async def update_graph_alert(
    credentials: DefenderCredentialsLike,
    alert_id: AlertId,
    status: OpenChoice[GraphAlertStatus] | None = None,
    assigned_to: ShortText | None = None,
    classification: GraphClassification | str | None = None,
    determination: GraphDetermination | str | None = None,
    tenant_id: TenantId | None = None,
) -> GraphAlert:
    """Update a Graph alert (camelCase values).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import update_graph_alert

        @flow
        async def resolve(alert_id: str) -> None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await update_graph_alert(creds, alert_id, status="resolved",
                                     classification="falsePositive", determination="clean")
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_alerts.update(**args)


@defender_task(endpoints=("graph.alerts.comment",))
async def add_graph_alert_comment(
    credentials: DefenderCredentialsLike,
    alert_id: AlertId,
    comment: RequiredText,
    tenant_id: TenantId | None = None,
) -> list[GraphComment]:
    """Add a comment to a Graph alert; returns its comments.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import add_graph_alert_comment

        @flow
        async def note(alert_id: str) -> None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await add_graph_alert_comment(creds, alert_id, "Reviewed by the SOC")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.graph_alerts.comment(alert_id, comment)
