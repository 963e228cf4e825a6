"""Incidents: Defender XDR ``/api/incidents`` and Graph ``/security/incidents``."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import (
    GRAPH_INCIDENT_STATUSES,
    INCIDENT_STATUSES,
    check_triage,
    one_of,
)
from prefect_defender.api.models.incidents import GraphIncident, Incident
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_next_link, iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_comment, check_incident_id

__all__ = ["GraphIncidentsAPI", "IncidentsAPI"]

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


class IncidentsAPI(Resource):
    """Defender XDR incidents."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        updated_since: datetime | None = None,
        status: str | None = None,
        assigned_to: str | None = None,
        page_size: int = XDR_INCIDENTS_MAX_TOP,
        limit: int | None = None,
    ) -> AsyncIterator[Incident]:
        """Every incident matching the filters, paged with ``$top``/``$skip`` (max 100)."""
        f = XDR_INCIDENT_FILTERS
        expr = f.and_(
            odata_filter,
            f.ge("lastUpdateTime", updated_since) if updated_since else None,
            f.eq("status", status) if status else None,
            f.eq("assignedTo", assigned_to) if assigned_to else None,
        )
        params = {"$filter": expr} if expr else None
        return self._models(
            iterate_skip(
                self.transport,
                endpoint("xdr.incidents.list"),
                page_size=min(page_size, XDR_INCIDENTS_MAX_TOP),
                params=params,
                limit=limit,
            )
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
        status: str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        tags: builtins.list[str] | None = None,
        comment: str | None = None,
    ) -> Incident:
        """Update an incident (body field names are case-sensitive, as documented)."""
        iid = check_incident_id(incident_id)
        body: dict[str, Any] = {}
        if status is not None:
            body["status"] = one_of(status, INCIDENT_STATUSES, "status")
        if assigned_to is not None:
            body["assignedTo"] = check_comment(assigned_to, "assigned_to", 256)
        c, d = check_triage(classification, determination)
        if c is not None:
            body["classification"] = c
        if d is not None:
            body["determination"] = d
        if tags is not None:
            body["tags"] = _tags(tags)
        if comment is not None:
            body["comment"] = check_comment(comment)
        if not body:
            raise ValidationError("nothing to update: give at least one field", field="update")
        data = await self.transport.request_json(
            endpoint("xdr.incidents.update"), path_params={"id": iid}, json=body
        )
        return Incident.model_validate(data)

    async def comment(self, incident_id: int | str, comment: str) -> Incident:
        """Add a comment to an incident (a PATCH with only ``comment``)."""
        text = check_comment(comment)
        if not text:
            raise ValidationError("comment: must not be empty", field="comment")
        data = await self.transport.request_json(
            endpoint("xdr.incidents.update"),
            path_params={"id": check_incident_id(incident_id)},
            json={"comment": text},
            idempotent=False,  # a repeated PATCH would add the comment twice
        )
        return Incident.model_validate(data)

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[Incident]:
        async for item in items:
            yield Incident.model_validate(item)


class GraphIncidentsAPI(Resource):
    """Graph security incidents (``/security/incidents``)."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        updated_since: datetime | None = None,
        severity: str | None = None,
        status: str | None = None,
        expand_alerts: bool = False,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[GraphIncident]:
        """Every Graph incident matching the filters, following ``@odata.nextLink``."""
        f = GRAPH_INCIDENT_FILTERS
        expr = f.and_(
            odata_filter,
            f.ge("lastUpdateDateTime", updated_since) if updated_since else None,
            f.eq("severity", severity) if severity else None,
            f.eq("status", status) if status else None,
        )
        params: dict[str, Any] = {}
        if expr:
            params["$filter"] = expr
        if expand_alerts:
            params["$expand"] = "alerts"
        if page_size:
            params["$top"] = page_size
        return self._models(
            iterate_next_link(
                self.transport, endpoint("graph.incidents.list"), params=params, limit=limit
            )
        )

    async def list(self, **kw: Any) -> builtins.list[GraphIncident]:
        """All of :meth:`iterate` as a list."""
        return [i async for i in self.iterate(**kw)]

    async def get(self, incident_id: int | str, *, expand_alerts: bool = False) -> GraphIncident:
        """One Graph incident by id."""
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
        status: str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        custom_tags: builtins.list[str] | None = None,
    ) -> GraphIncident:
        """Update a Graph incident (Graph's camelCase enum values)."""
        body: dict[str, Any] = {}
        if status is not None:
            body["status"] = one_of(status, GRAPH_INCIDENT_STATUSES, "status")
        if assigned_to is not None:
            body["assignedTo"] = check_comment(assigned_to, "assigned_to", 256)
        c, d = check_triage(classification, determination, graph=True)
        if c:
            body["classification"] = c
        if d:
            body["determination"] = d
        if custom_tags is not None:
            body["customTags"] = _tags(custom_tags)
        if not body:
            raise ValidationError("nothing to update: give at least one field", field="update")
        data = await self.transport.request_json(
            endpoint("graph.incidents.update"),
            path_params={"id": check_incident_id(incident_id)},
            json=body,
        )
        return GraphIncident.model_validate(data)

    async def comment(self, incident_id: int | str, comment: str) -> builtins.list[dict[str, Any]]:
        """Add a comment; returns the incident's comments."""
        text = check_comment(comment)
        if not text:
            raise ValidationError("comment: must not be empty", field="comment")
        data = await self.transport.request_json(
            endpoint("graph.incidents.comment"),
            path_params={"id": check_incident_id(incident_id)},
            json={"@odata.type": "microsoft.graph.security.alertComment", "comment": text},
        )
        return list(data.get("value", []))

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[GraphIncident]:
        async for item in items:
            yield GraphIncident.model_validate(item)


def _tags(tags: list[str]) -> list[str]:
    if isinstance(tags, str) or len(tags) > 50:
        raise ValidationError("tags: a list of at most 50 tags", field="tags")
    out = [check_comment(t, f"tags[{i}]", 200) for i, t in enumerate(tags)]
    if any(not t for t in out):
        raise ValidationError("tags: empty tag", field="tags")
    return out
