"""Graph security incidents (``/security/incidents``): list (every filter server-side), get, update
and comment; :mod:`~prefect_defender.api.resources.incidents` reads incidents through it.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import InvalidResponseError, ValidationError
from prefect_defender.api.models.alerts import (
    GraphClassification,
    GraphIncidentStatus,
    GraphSeverity,
    check_graph_choice,
)
from prefect_defender.api.models.incidents import GraphComment, GraphIncident
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.triage import (
    GRAPH_PAGE_MAX,
    add_graph_comment,
    check_tags,
    graph_choice_eq,
    graph_list_params,
    graph_security_list,
    require_changes,
    triage_body,
)
from prefect_defender.api.validation import (
    check_comment,
    check_incident_id,
)

__all__ = ["GRAPH_INCIDENT_FILTERS", "GraphIncidentsAPI"]

#: Filterable properties documented for Graph ``security/incidents``.
GRAPH_INCIDENT_FILTERS = ODataFilter(
    {
        "assignedTo",
        "classification",
        "createdDateTime",
        "determination",
        "lastUpdateDateTime",
        "severity",
        "status",
    }
)


class GraphIncidentsAPI(Resource):
    """Graph security incidents (``/security/incidents``)."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        severity: GraphSeverity | str | None = None,
        status: GraphIncidentStatus | str | None = None,
        assigned_to: str | None = None,
        classification: GraphClassification | str | None = None,
        expand_alerts: bool = False,
        page_size: int = GRAPH_PAGE_MAX,
        limit: int | None = None,
    ) -> AsyncIterator[GraphIncident]:
        """Every Graph incident matching the filters (all server-side), read completely: pages
        of ``page_size`` (at most 1,000) through ``@odata.nextLink``, time windows past Graph's
        ``$top + $skip`` limit of 6,000, and each incident's alerts read on its own when the
        expanded list fails (:mod:`~prefect_defender.api.window_paging`)."""
        f = GRAPH_INCIDENT_FILTERS
        expr = f.and_(
            odata_filter,
            f.window("lastUpdateDateTime", updated_since, updated_before),
            f.window("createdDateTime", created_since, created_before),
            graph_choice_eq(f, "severity", severity, GraphSeverity),
            graph_choice_eq(f, "status", status, GraphIncidentStatus),
            f.eq("assignedTo", check_comment(assigned_to, "assigned_to", 256))
            if assigned_to
            else None,
            graph_choice_eq(f, "classification", classification, GraphClassification),
        )
        more = {"$expand": "alerts"} if expand_alerts else {}
        params = graph_list_params(expr, page_size, limit, **more)
        return graph_security_list(
            self.transport,
            GraphIncident,
            "graph.incidents.list",
            params,
            limit,
            self._expanded_one if expand_alerts else None,
        )

    async def _expanded_one(self, incident_id: str) -> dict[str, Any]:
        """One incident with its alerts, as a dict (when the expanded list answers 5xx)."""
        body = await self.transport.request_json(
            endpoint("graph.incidents.get"),
            path_params={"id": check_incident_id(incident_id)},
            params={"$expand": "alerts"},
        )
        if not isinstance(body, dict):
            raise InvalidResponseError("graph.incidents.get: expected an incident object")
        return body

    async def list(self, **kw: Any) -> builtins.list[GraphIncident]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, incident_id: int | str, *, expand_alerts: bool = False) -> GraphIncident:
        """One Graph incident by id (with its alerts and their evidence if asked)."""
        iid = check_incident_id(incident_id)
        body = await self.transport.request_json(
            endpoint("graph.incidents.get"),
            path_params={"id": iid},
            params={"$expand": "alerts"} if expand_alerts else None,
        )
        return read_model(GraphIncident, body, "graph.incidents.get")

    async def update(
        self,
        incident_id: int | str,
        *,
        status: GraphIncidentStatus | str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        custom_tags: builtins.list[str] | None = None,
    ) -> GraphIncident:
        """Update a Graph incident (camelCase values; PascalCase is converted)."""
        iid = check_incident_id(incident_id)
        st = (
            check_graph_choice(status, GraphIncidentStatus, "status")
            if status is not None
            else None
        )
        if st is GraphIncidentStatus.AWAITING_ACTION:
            # listed on the resource page only; the PATCH page does not offer it
            raise ValidationError(
                "status: awaitingAction is set by Microsoft and cannot be sent", field="status"
            )
        body = triage_body(st, assigned_to, classification, determination, graph=True)
        if custom_tags is not None:
            body["customTags"] = check_tags(custom_tags, "custom_tags")
        require_changes(body)
        data = await self.transport.request_json(
            endpoint("graph.incidents.update"), path_params={"id": iid}, json=body
        )
        return read_model(GraphIncident, data, "graph.incidents.update")

    async def comment(self, incident_id: int | str, comment: str) -> builtins.list[GraphComment]:
        """Add a comment; returns every comment of the incident."""
        iid = check_incident_id(incident_id)
        return await add_graph_comment(self.transport, "graph.incidents.comment", iid, comment)
