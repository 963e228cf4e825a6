"""Incidents: Defender XDR ``/api/incidents`` and Graph ``/security/incidents``.

Every input is checked before a request is sent. The XDR list API documents ``$filter`` on
``lastUpdateTime``, ``createdTime``, ``status`` and ``assignedTo`` only, so severity is filtered
client-side there (:func:`matches_severity`); Graph filters severity on the server.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import (
    GraphClassification,
    GraphIncidentStatus,
    GraphSeverity,
    IncidentStatus,
    Severity,
    check_graph_choice,
)
from prefect_defender.api.models.incidents import GraphComment, GraphIncident, Incident
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.triage import (
    GRAPH_PAGE_MAX,
    add_graph_comment,
    check_page_size,
    graph_list_params,
    graph_security_list,
    graph_top,
    require_changes,
    triage_body,
)
from prefect_defender.api.validation import (
    check_choice,
    check_comment,
    check_incident_id,
    check_required_text,
)

__all__ = [
    "GRAPH_INCIDENT_FILTERS",
    "GRAPH_PAGE_MAX",
    "XDR_INCIDENT_FILTERS",
    "GraphIncidentsAPI",
    "IncidentsAPI",
    "check_severities",
    "graph_top",
]

#: Filterable properties documented for ``GET /api/incidents`` (no severity filter there).
XDR_INCIDENT_FILTERS = ODataFilter({"lastUpdateTime", "createdTime", "status", "assignedTo"})
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
XDR_INCIDENTS_MAX_TOP = 100
#: tags per incident: no documented maximum; a generous bound keeps requests sane
MAX_TAGS = 50


def check_severities(values: Iterable[Any] | None) -> set[Severity]:
    """The XDR severities a client-side filter keeps (empty: keep everything)."""
    if values is None:
        return set()
    if isinstance(values, str):
        values = [values]
    return {check_choice(v, Severity, "severities") for v in values}


class IncidentsAPI(Resource):
    """Defender XDR incidents."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        status: IncidentStatus | str | None = None,
        assigned_to: str | None = None,
        severities: Iterable[Severity | str] | None = None,
        page_size: int = XDR_INCIDENTS_MAX_TOP,
        limit: int | None = None,
    ) -> AsyncIterator[Incident]:
        """Every incident matching the filters, paged with ``$top``/``$skip`` (max 100).

        The time windows (``*_since`` inclusive, ``*_before`` exclusive), ``status`` and
        ``assigned_to`` go to the server as ``$filter``; ``severities`` is applied here, because
        the XDR API documents no severity filter (``limit`` counts kept incidents).
        """
        f = XDR_INCIDENT_FILTERS
        expr = f.and_(
            odata_filter,
            f.window("lastUpdateTime", updated_since, updated_before),
            f.window("createdTime", created_since, created_before),
            f.eq("status", check_choice(status, IncidentStatus, "status")) if status else None,
            f.eq("assignedTo", check_comment(assigned_to, "assigned_to", 256))
            if assigned_to
            else None,
        )
        wanted = check_severities(severities)
        size = check_page_size(page_size, XDR_INCIDENTS_MAX_TOP)
        if limit is not None and limit < 0:
            raise ValidationError("limit: must not be negative", field="limit")
        return self._models(
            iterate_skip(
                self.transport,
                endpoint("xdr.incidents.list"),
                page_size=size,
                params={"$filter": expr} if expr else None,
                limit=None if wanted else limit,
            ),
            wanted,
            limit,
        )

    async def list(self, **kw: Any) -> builtins.list[Incident]:
        """All of :meth:`iterate` as a list."""
        return [i async for i in self.iterate(**kw)]

    async def get(self, incident_id: int | str) -> Incident:
        """One incident by id."""
        iid = check_incident_id(incident_id)
        body = await self.transport.request_json(
            endpoint("xdr.incidents.get"), path_params={"id": iid}
        )
        return Incident.model_validate(body)

    async def update(
        self,
        incident_id: int | str,
        *,
        status: IncidentStatus | str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        tags: builtins.list[str] | None = None,
        comment: str | None = None,
    ) -> Incident:
        """Update an incident; only the given fields are sent (names are case-sensitive).

        ``tags`` replaces the incident's tags. A determination needs its classification.
        """
        iid = check_incident_id(incident_id)
        checked = check_choice(status, IncidentStatus, "status") if status is not None else None
        body = triage_body(checked, assigned_to, classification, determination)
        if tags is not None:
            body["tags"] = _tags(tags)
        if comment is not None:
            body["comment"] = check_required_text(comment, "comment")
        require_changes(body)
        data = await self.transport.request_json(
            endpoint("xdr.incidents.update"),
            path_params={"id": iid},
            json=body,
            # a repeated PATCH carrying a comment would add the comment twice
            idempotent="comment" not in body,
        )
        return Incident.model_validate(data)

    async def comment(self, incident_id: int | str, comment: str) -> Incident:
        """Add a comment to an incident (a PATCH with only ``comment``)."""
        iid = check_incident_id(incident_id)
        data = await self.transport.request_json(
            endpoint("xdr.incidents.update"),
            path_params={"id": iid},
            json={"comment": check_required_text(comment, "comment")},
            idempotent=False,  # a repeated PATCH would add the comment twice
        )
        return Incident.model_validate(data)

    @staticmethod
    async def _models(
        items: AsyncIterator[dict[str, Any]], wanted: set[Severity], limit: int | None
    ) -> AsyncIterator[Incident]:
        kept = 0
        if limit == 0:
            return
        async for item in items:
            inc = Incident.model_validate(item)
            if wanted and inc.severity not in wanted:
                continue
            kept += 1
            yield inc
            if limit is not None and kept >= limit:
                return


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
        """Every Graph incident matching the filters (all server-side), following nextLinks."""
        f = GRAPH_INCIDENT_FILTERS
        expr = f.and_(
            odata_filter,
            f.window("lastUpdateDateTime", updated_since, updated_before),
            f.window("createdDateTime", created_since, created_before),
            f.eq("severity", check_graph_choice(severity, GraphSeverity, "severity"))
            if severity
            else None,
            f.eq("status", check_graph_choice(status, GraphIncidentStatus, "status"))
            if status
            else None,
            f.eq("assignedTo", check_comment(assigned_to, "assigned_to", 256))
            if assigned_to
            else None,
            f.eq(
                "classification",
                check_graph_choice(classification, GraphClassification, "classification"),
            )
            if classification
            else None,
        )
        more = {"$expand": "alerts"} if expand_alerts else {}
        params = graph_list_params(expr, page_size, limit, **more)
        return graph_security_list(
            self.transport, GraphIncident, "graph.incidents.list", params, limit
        )

    async def list(self, **kw: Any) -> builtins.list[GraphIncident]:
        """All of :meth:`iterate` as a list."""
        return [i async for i in self.iterate(**kw)]

    async def get(self, incident_id: int | str, *, expand_alerts: bool = False) -> GraphIncident:
        """One Graph incident by id (with its alerts and their evidence if asked)."""
        iid = check_incident_id(incident_id)
        body = await self.transport.request_json(
            endpoint("graph.incidents.get"),
            path_params={"id": iid},
            params={"$expand": "alerts"} if expand_alerts else None,
        )
        return GraphIncident.model_validate(body)

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
            body["customTags"] = _tags(custom_tags, "custom_tags")
        require_changes(body)
        data = await self.transport.request_json(
            endpoint("graph.incidents.update"), path_params={"id": iid}, json=body
        )
        return GraphIncident.model_validate(data)

    async def comment(self, incident_id: int | str, comment: str) -> builtins.list[GraphComment]:
        """Add a comment; returns every comment of the incident."""
        iid = check_incident_id(incident_id)
        return await add_graph_comment(self.transport, "graph.incidents.comment", iid, comment)


def _tags(tags: Any, field: str = "tags") -> list[str]:
    if isinstance(tags, str | bytes) or not isinstance(tags, Iterable):
        raise ValidationError(f"{field}: a list of tags", field=field)
    items = list(tags)
    if len(items) > MAX_TAGS:
        raise ValidationError(f"{field}: at most {MAX_TAGS} tags", field=field)
    return [check_required_text(t, f"{field}[{i}]", 200) for i, t in enumerate(items)]
