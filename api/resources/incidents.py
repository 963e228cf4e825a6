"""Incidents: Defender XDR ``/api/incidents`` and Graph ``/security/incidents``."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.models.incidents import GraphIncident, Incident
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_next_link, iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_incident_id

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

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[GraphIncident]:
        async for item in items:
            yield GraphIncident.model_validate(item)
