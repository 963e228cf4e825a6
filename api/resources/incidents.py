"""Incidents as the playbooks see them, on Microsoft Graph by default.

``client.incidents`` reads, tags, classifies and comments incidents through Graph v1.0
(``/security/incidents``) and answers :class:`~prefect_defender.api.models.incidents.Incident`
models in Defender XDR's field names and spellings (converted by
:mod:`~prefect_defender.api.models.graph_incident_view`), so code written against XDR incidents
keeps working. ``surface="xdr"`` (or a client whose settings say ``incident_surface="xdr"``) uses
the retiring XDR API instead (:class:`~prefect_defender.api.resources.xdr_incidents.
XdrIncidentsAPI`) and logs one warning per process. Arguments take XDR's spellings (``Active``,
``TruePositive``); Graph's camelCase is accepted too.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import (
    Classification,
    GraphIncidentStatus,
    GraphSeverity,
    check_graph_choice,
    check_triage,
)
from prefect_defender.api.models.graph_incident_view import (
    graph_determination,
    incident_comment,
    incident_from_graph,
)
from prefect_defender.api.models.incidents import Incident, IncidentComment, IncidentSurface
from prefect_defender.api.paging import collect
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.graph_incidents import GRAPH_INCIDENT_FILTERS
from prefect_defender.api.resources.triage import GRAPH_PAGE_MAX
from prefect_defender.api.surface_choice import check_incident_surface
from prefect_defender.api.validation import check_incident_id, check_required_text

__all__ = ["IncidentsAPI", "graph_triage_values"]


def _upper_first(value: Any) -> Any:
    return value[:1].upper() + value[1:] if isinstance(value, str) and value else value


def graph_triage_values(classification: Any, determination: Any) -> dict[str, str]:
    """``classification``/``determination`` checked as XDR checks them (a determination needs
    its classification and must belong to it; XDR's or Graph's spelling), in Graph's words."""
    c, d = check_triage(_upper_first(classification), _upper_first(determination))
    out: dict[str, str] = {}
    if c is not None:
        out["classification"] = "unknown" if c == Classification.UNKNOWN else _lower_first(c)
    if d is not None:
        out["determination"] = graph_determination(d)
    return out


def _lower_first(value: str) -> str:
    return value[:1].lower() + value[1:]


def _severity_filter(severities: Iterable[Any] | str | None) -> str | None:
    """``(severity eq 'high' or ...)`` for the XDR-style severity list (``None``: every one)."""
    if severities is None:
        return None
    values = [severities] if isinstance(severities, str) else list(severities)
    if not values:
        return None
    spelled = ["unknown" if str(v) == "UnSpecified" else v for v in values]
    checked = [check_graph_choice(v, GraphSeverity, "severities").value for v in spelled]
    return GRAPH_INCIDENT_FILTERS.in_("severity", dict.fromkeys(checked))


class IncidentsAPI(Resource):
    """Incidents on Graph (default) or, when asked, on Defender XDR, as :class:`Incident`."""

    def surface(self, surface: IncidentSurface | str | None = None) -> IncidentSurface:
        """The surface a call uses: ``surface``, else the client's ``incident_surface``."""
        return check_incident_surface(surface, self.client.settings.incident_surface)

    def iterate(
        self,
        *,
        surface: IncidentSurface | str | None = None,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        status: str | None = None,
        assigned_to: str | None = None,
        severities: Iterable[Any] | None = None,
        expand_alerts: bool = False,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Incident]:
        """Every incident matching the filters (all applied by the server on Graph), newest
        update first, read completely past Graph's paging limits (time windows).

        ``expand_alerts`` reads the alerts with their evidence (devices, entities) on Graph;
        XDR always embeds them.
        """
        kind = self.surface(surface)
        window: dict[str, Any] = {
            "updated_since": updated_since,
            "updated_before": updated_before,
            "created_since": created_since,
            "created_before": created_before,
        }
        if kind is IncidentSurface.XDR:
            return self.client.xdr_incidents.iterate(
                **window,
                status=status,
                assigned_to=assigned_to,
                severities=severities,
                page_size=page_size or 100,
                limit=limit,
            )
        graph = self.client.graph_incidents.iterate(
            **window,
            status=status,
            assigned_to=assigned_to,
            odata_filter=_severity_filter(severities),
            expand_alerts=expand_alerts,
            page_size=page_size or GRAPH_PAGE_MAX,
            limit=limit,
        )
        return _converted(graph)

    async def list(self, **kw: Any) -> builtins.list[Incident]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(
        self, incident_id: int | str, *, surface: IncidentSurface | str | None = None
    ) -> Incident:
        """One incident with its alerts, devices and entities."""
        if self.surface(surface) is IncidentSurface.XDR:
            return await self.client.xdr_incidents.get(incident_id)
        graph = await self.client.graph_incidents.get(incident_id, expand_alerts=True)
        return incident_from_graph(graph)

    async def update(
        self,
        incident_id: int | str,
        *,
        surface: IncidentSurface | str | None = None,
        status: str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        tags: builtins.list[str] | None = None,
        comment: str | None = None,
    ) -> Incident:
        """Set the status, owner, classification/determination or tags, and add a comment.

        On Graph the fields go in one PATCH (``tags`` as ``customTags``) and the comment in its
        own POST; the answer is the incident without its alerts (the PATCH's answer).
        """
        fields: dict[str, Any] = {
            "status": status,
            "assigned_to": assigned_to,
            "classification": classification,
            "determination": determination,
            "tags": tags,
            "comment": comment,
        }
        if self.surface(surface) is IncidentSurface.XDR:
            return await self.client.xdr_incidents.update(incident_id, **fields)
        return await self._graph_update(check_incident_id(incident_id), **fields)

    async def _graph_update(
        self,
        iid: int,
        *,
        status: str | None,
        assigned_to: str | None,
        classification: str | None,
        determination: str | None,
        tags: builtins.list[str] | None,
        comment: str | None,
    ) -> Incident:
        text = check_required_text(comment, "comment") if comment is not None else None
        triage = graph_triage_values(classification, determination)
        if status is not None:
            check_graph_choice(status, GraphIncidentStatus, "status")
        patch: dict[str, Any] = {
            "status": status,
            "assigned_to": assigned_to,
            "custom_tags": tags,
            **triage,
        }
        if all(v is None for v in patch.values()):
            if text is None:
                raise ValidationError("nothing to update: give at least one field", field="update")
            comments = await self.client.graph_incidents.comment(iid, text)
            incident = incident_from_graph(await self.client.graph_incidents.get(iid))
            return incident.model_copy(update={"comments": [incident_comment(c) for c in comments]})
        updated = await self.client.graph_incidents.update(iid, **patch)
        incident = incident_from_graph(updated)
        if text is not None:
            comments = await self.client.graph_incidents.comment(iid, text)
            incident = incident.model_copy(
                update={"comments": [incident_comment(c) for c in comments]}
            )
        return incident

    async def comment(
        self,
        incident_id: int | str,
        comment: str,
        *,
        surface: IncidentSurface | str | None = None,
    ) -> builtins.list[IncidentComment]:
        """Add a comment; every comment of the incident, oldest first."""
        if self.surface(surface) is IncidentSurface.XDR:
            return (await self.client.xdr_incidents.comment(incident_id, comment)).comments
        comments = await self.client.graph_incidents.comment(incident_id, comment)
        return [incident_comment(c) for c in comments]


async def _converted(items: AsyncIterator[Any]) -> AsyncIterator[Incident]:
    async for item in items:
        yield incident_from_graph(item)
