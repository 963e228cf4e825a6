"""Defender XDR incidents (``/api/incidents``), retiring on 1 February 2027 (MC1220762).

Reached as ``client.xdr_incidents``, or through ``client.incidents`` with ``surface="xdr"``;
each endpoint's first call logs one warning per process (:mod:`prefect_defender.api.lifecycle`,
the catalog marks them deprecated). Every input
is checked before a request is sent. The XDR list API documents ``$filter`` on
``lastUpdateTime``, ``createdTime``, ``status`` and ``assignedTo`` only, so severity is filtered
client-side there (:func:`check_severities`); Graph filters severity on the server.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import (
    IncidentStatus,
    Severity,
)
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect, iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.triage import (
    check_page_size,
    check_tags,
    require_changes,
    triage_body,
)
from prefect_defender.api.validation import (
    check_choice,
    check_comment,
    check_incident_id,
    check_required_text,
)

__all__ = ["XDR_INCIDENT_FILTERS", "XdrIncidentsAPI", "check_severities"]

#: Filterable properties documented for ``GET /api/incidents`` (no severity filter there).
XDR_INCIDENT_FILTERS = ODataFilter({"lastUpdateTime", "createdTime", "status", "assignedTo"})
XDR_INCIDENTS_MAX_TOP = 100


def check_severities(values: Iterable[Any] | None) -> set[Severity]:
    """The XDR severities a client-side filter keeps (empty: keep everything)."""
    if values is None:
        return set()
    if isinstance(values, str):
        values = [values]
    return {check_choice(v, Severity, "severities") for v in values}


class XdrIncidentsAPI(Resource):
    """Defender XDR incidents (retiring: use ``client.incidents``, on Graph by default)."""

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
        return await collect(self.iterate(**kw))

    async def get(self, incident_id: int | str) -> Incident:
        """One incident by id."""
        iid = check_incident_id(incident_id)
        body = await self.transport.request_json(
            endpoint("xdr.incidents.get"), path_params={"id": iid}
        )
        return read_model(Incident, body, "xdr.incidents.get")

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
            body["tags"] = check_tags(tags)
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
        return read_model(Incident, data, "xdr.incidents.update")

    async def comment(self, incident_id: int | str, comment: str) -> Incident:
        """Add a comment to an incident (a PATCH with only ``comment``)."""
        iid = check_incident_id(incident_id)
        data = await self.transport.request_json(
            endpoint("xdr.incidents.update"),
            path_params={"id": iid},
            json={"comment": check_required_text(comment, "comment")},
            idempotent=False,  # a repeated PATCH would add the comment twice
        )
        return read_model(Incident, data, "xdr.incidents.update")

    @staticmethod
    async def _models(
        items: AsyncIterator[dict[str, Any]], wanted: set[Severity], limit: int | None
    ) -> AsyncIterator[Incident]:
        kept = 0
        if limit == 0:
            return
        async for item in items:
            inc = read_model(Incident, item, "xdr.incidents.list")
            if wanted and inc.severity not in wanted:
                continue
            kept += 1
            yield inc
            if limit is not None and kept >= limit:
                return
