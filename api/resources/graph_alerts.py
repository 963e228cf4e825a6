"""Graph security alerts (``/security/alerts_v2``, evidence always included): list, get, update
and comment (the Defender for Endpoint alerts are in
:mod:`~prefect_defender.api.resources.alerts`).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.models.alerts import (
    GraphAlertStatus,
    GraphClassification,
    GraphSeverity,
    check_graph_choice,
)
from prefect_defender.api.models.incidents import (
    GraphAlert,
    GraphComment,
)
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.triage import (
    GRAPH_PAGE_MAX,
    add_graph_comment,
    graph_choice_eq,
    graph_list_params,
    graph_security_list,
    require_changes,
    triage_body,
)
from prefect_defender.api.validation import (
    check_alert_id,
    check_required_text,
)

__all__ = ["GRAPH_ALERT_FILTERS", "GraphAlertsAPI"]

#: ``$filter`` properties documented for Graph ``security/alerts_v2``
GRAPH_ALERT_FILTERS = ODataFilter(
    {
        "assignedTo",
        "classification",
        "determination",
        "createdDateTime",
        "lastUpdateDateTime",
        "severity",
        "serviceSource",
        "status",
    }
)


class GraphAlertsAPI(Resource):
    """Graph security alerts (``alerts_v2``); evidence is always included."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        status: GraphAlertStatus | str | None = None,
        severity: GraphSeverity | str | None = None,
        classification: GraphClassification | str | None = None,
        service_source: str | None = None,
        assigned_to: str | None = None,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        updated_since: datetime | None = None,
        page_size: int = GRAPH_PAGE_MAX,
        limit: int | None = None,
    ) -> AsyncIterator[GraphAlert]:
        """Alerts matching the filters (all server-side), following ``@odata.nextLink``."""
        f = GRAPH_ALERT_FILTERS
        expr = f.and_(
            odata_filter,
            graph_choice_eq(f, "status", status, GraphAlertStatus),
            graph_choice_eq(f, "severity", severity, GraphSeverity),
            graph_choice_eq(f, "classification", classification, GraphClassification),
            f.eq("serviceSource", check_required_text(service_source, "service_source", 100))
            if service_source
            else None,
            f.eq("assignedTo", check_required_text(assigned_to, "assigned_to", 256))
            if assigned_to
            else None,
            f.window("createdDateTime", created_since, created_before),
            f.ge("lastUpdateDateTime", updated_since) if updated_since else None,
        )
        params = graph_list_params(expr, page_size, limit)
        return graph_security_list(self.transport, GraphAlert, "graph.alerts.list", params, limit)

    async def list(self, **kw: Any) -> builtins.list[GraphAlert]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, alert_id: str) -> GraphAlert:
        """One alert."""
        data = await self.transport.request_json(
            endpoint("graph.alerts.get"), path_params={"id": check_alert_id(alert_id)}
        )
        return read_model(GraphAlert, data, "graph.alerts.get")

    async def update(
        self,
        alert_id: str,
        *,
        status: GraphAlertStatus | str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
    ) -> GraphAlert:
        """Update status, owner, classification or determination (camelCase values)."""
        aid = check_alert_id(alert_id)
        st = check_graph_choice(status, GraphAlertStatus, "status") if status is not None else None
        body = require_changes(
            triage_body(st, assigned_to, classification, determination, graph=True)
        )
        data = await self.transport.request_json(
            endpoint("graph.alerts.update"), path_params={"id": aid}, json=body
        )
        return read_model(GraphAlert, data, "graph.alerts.update")

    async def comment(self, alert_id: str, comment: str) -> builtins.list[GraphComment]:
        """Add a comment; returns every comment of the alert."""
        aid = check_alert_id(alert_id)
        return await add_graph_comment(self.transport, "graph.alerts.comment", aid, comment)
