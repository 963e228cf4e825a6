"""Alerts: Defender for Endpoint ``/api/alerts`` and Graph ``/security/alerts_v2``."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import (
    ALERT_STATUSES,
    GRAPH_ALERT_STATUSES,
    SEVERITIES,
    Alert,
    check_triage,
    one_of,
)
from prefect_defender.api.models.incidents import GraphAlert
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_next_link, iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    check_alert_id,
    check_comment,
    check_items,
    check_machine_id,
)

__all__ = ["CATEGORIES", "AlertsAPI", "GraphAlertsAPI"]

ALERT_FILTERS = ODataFilter(
    {
        "alertCreationTime",
        "lastUpdateTime",
        "incidentId",
        "investigationId",
        "id",
        "assignedTo",
        "detectionSource",
        "lastEventTime",
        "status",
        "severity",
        "category",
    }
)
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
#: documented categories for CreateAlertByReference
CATEGORIES = (
    "General",
    "CommandAndControl",
    "Collection",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Exfiltration",
    "Exploit",
    "Execution",
    "InitialAccess",
    "LateralMovement",
    "Malware",
    "Persistence",
    "PrivilegeEscalation",
    "Ransomware",
    "SuspiciousActivity",
)
MAX_BATCH = 500


def _update_body(
    status: str | None,
    assigned_to: str | None,
    classification: str | None,
    determination: str | None,
    comment: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if status is not None:
        body["status"] = one_of(status, ALERT_STATUSES, "status")
    if assigned_to is not None:
        body["assignedTo"] = check_comment(assigned_to, "assigned_to", max_length=256)
    c, d = check_triage(classification, determination)
    if c is not None:
        body["classification"] = c
    if d is not None:
        body["determination"] = d
    if comment is not None:
        body["comment"] = check_comment(comment)
    if not body:
        raise ValidationError("nothing to update: give at least one field", field="update")
    return body


class AlertsAPI(Resource):
    """Defender for Endpoint alerts."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        created_since: datetime | None = None,
        incident_id: int | None = None,
        expand_evidence: bool = False,
        page_size: int = 10_000,
        limit: int | None = None,
    ) -> AsyncIterator[Alert]:
        """Alerts matching the filters, paged with ``$top``/``$skip``."""
        f = ALERT_FILTERS
        expr = f.and_(
            odata_filter,
            f.eq("status", one_of(status, ALERT_STATUSES, "status")) if status else None,
            f.eq("severity", one_of(severity, SEVERITIES, "severity")) if severity else None,
            f.ge("alertCreationTime", created_since) if created_since else None,
            f.eq("incidentId", incident_id) if incident_id is not None else None,
        )
        params: dict[str, Any] = {}
        if expr:
            params["$filter"] = expr
        if expand_evidence:
            params["$expand"] = "evidence"
        return self._models(
            iterate_skip(
                self.transport,
                endpoint("mde.alerts.list"),
                page_size=page_size,
                params=params or None,
                limit=limit,
            )
        )

    async def list(self, **kw: Any) -> builtins.list[Alert]:
        """All of :meth:`iterate` as a list."""
        return [a async for a in self.iterate(**kw)]

    async def get(self, alert_id: str) -> Alert:
        """One alert."""
        body = await self.transport.request_json(
            endpoint("mde.alerts.get"), path_params={"id": check_alert_id(alert_id)}
        )
        return Alert.model_validate(body)

    async def update(
        self,
        alert_id: str,
        *,
        status: str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        comment: str | None = None,
    ) -> Alert:
        """Update an alert's status, owner, classification/determination, or add a comment."""
        aid = check_alert_id(alert_id)
        body = _update_body(status, assigned_to, classification, determination, comment)
        data = await self.transport.request_json(
            endpoint("mde.alerts.update"), path_params={"id": aid}, json=body
        )
        return Alert.model_validate(data)

    async def batch_update(
        self,
        alert_ids: Sequence[str],
        *,
        status: str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Update up to 500 alerts with the same values in one call (200, empty body)."""
        ids = check_items(alert_ids, check_alert_id, "alert_ids", max_items=MAX_BATCH)
        if not ids:
            raise ValidationError("alert_ids: at least one alert", field="alert_ids")
        body = _update_body(status, assigned_to, classification, determination, comment)
        await self.transport.request(
            endpoint("mde.alerts.batch_update"), json={"alertIds": ids, **body}, idempotent=True
        )

    async def create_by_reference(
        self,
        *,
        machine_id: str,
        report_id: str,
        event_time: datetime,
        severity: str,
        title: str,
        description: str,
        recommended_action: str,
        category: str,
    ) -> Alert:
        """Create an alert on top of an event (all fields required, as documented)."""
        if event_time.tzinfo is None:
            raise ValidationError("event_time: must be timezone-aware", field="event_time")
        body = {
            "machineId": check_machine_id(machine_id),
            "reportId": check_comment(str(report_id), "report_id", 200),
            "eventTime": event_time.isoformat().replace("+00:00", "Z"),
            "severity": one_of(severity, ("Low", "Medium", "High"), "severity"),
            "title": _required(title, "title"),
            "description": _required(description, "description"),
            "recommendedAction": _required(recommended_action, "recommended_action"),
            "category": one_of(category, CATEGORIES, "category"),
        }
        data = await self.transport.request_json(
            endpoint("mde.alerts.create_by_reference"), json=body
        )
        return Alert.model_validate(data)

    async def related(self, alert_id: str, kind: str) -> Any:
        """Entities related to an alert: ``domains``, ``files``, ``ips``, ``machine``, ``user``."""
        names = {"domains", "files", "ips", "machine", "user"}
        if kind not in names:
            raise ValidationError(f"kind: one of {', '.join(sorted(names))}", field="kind")
        body = await self.transport.request_json(
            endpoint(f"mde.alerts.{kind}"), path_params={"id": check_alert_id(alert_id)}
        )
        if isinstance(body, dict) and "value" in body and kind not in ("machine", "user"):
            return body["value"]
        return body

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[Alert]:
        async for item in items:
            yield Alert.model_validate(item)


def _required(value: str, field: str) -> str:
    text = check_comment(value, field)
    if not text:
        raise ValidationError(f"{field}: required", field=field)
    return text


class GraphAlertsAPI(Resource):
    """Graph security alerts (``alerts_v2``)."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[GraphAlert]:
        """Alerts matching the filters, following ``@odata.nextLink``."""
        f = GRAPH_ALERT_FILTERS
        expr = f.and_(
            odata_filter,
            f.eq("status", one_of(status, GRAPH_ALERT_STATUSES, "status")) if status else None,
            f.eq("severity", severity) if severity else None,
        )
        params: dict[str, Any] = {}
        if expr:
            params["$filter"] = expr
        if page_size:
            params["$top"] = page_size
        return self._models(
            iterate_next_link(
                self.transport, endpoint("graph.alerts.list"), params=params, limit=limit
            )
        )

    async def list(self, **kw: Any) -> builtins.list[GraphAlert]:
        """All of :meth:`iterate` as a list."""
        return [a async for a in self.iterate(**kw)]

    async def get(self, alert_id: str) -> GraphAlert:
        """One alert."""
        data = await self.transport.request_json(
            endpoint("graph.alerts.get"), path_params={"id": check_alert_id(alert_id)}
        )
        return GraphAlert.model_validate(data)

    async def update(
        self,
        alert_id: str,
        *,
        status: str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
    ) -> GraphAlert:
        """Update status, owner, classification or determination."""
        body: dict[str, Any] = {}
        if status is not None:
            body["status"] = one_of(status, GRAPH_ALERT_STATUSES, "status")
        if assigned_to is not None:
            body["assignedTo"] = check_comment(assigned_to, "assigned_to", 256)
        c, d = check_triage(classification, determination, graph=True)
        if c:
            body["classification"] = c
        if d:
            body["determination"] = d
        if not body:
            raise ValidationError("nothing to update: give at least one field", field="update")
        data = await self.transport.request_json(
            endpoint("graph.alerts.update"),
            path_params={"id": check_alert_id(alert_id)},
            json=body,
        )
        return GraphAlert.model_validate(data)

    async def comment(self, alert_id: str, comment: str) -> builtins.list[dict[str, Any]]:
        """Add a comment; returns the alert's comments."""
        data = await self.transport.request_json(
            endpoint("graph.alerts.comment"),
            path_params={"id": check_alert_id(alert_id)},
            json={
                "@odata.type": "microsoft.graph.security.alertComment",
                "comment": _required(comment, "comment"),
            },
        )
        return list(data.get("value", []))

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[GraphAlert]:
        async for item in items:
            yield GraphAlert.model_validate(item)
