"""Alerts: Defender for Endpoint ``/api/alerts`` and Graph ``/security/alerts_v2``.

Every input is checked before a request is sent (an invalid value sends nothing).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from prefect_defender.api.answers import collection, read_model, read_models
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.models.alerts import (
    Alert,
    AlertCategory,
    AlertRelation,
    AlertSeverity,
    AlertStatus,
    Severity,
)
from prefect_defender.api.models.enrichment import FileInfo
from prefect_defender.api.models.incidents import (
    AlertDomain,
    AlertIp,
    AlertRelated,
)
from prefect_defender.api.models.machines import LogonUser, Machine
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect, skip_models
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.triage import (
    require_changes,
    triage_body,
)
from prefect_defender.api.validation import (
    check_alert_id,
    check_choice,
    check_incident_id,
    check_items,
    check_machine_id,
    check_required_text,
)

__all__ = ["ALERT_FILTERS", "MAX_BATCH", "AlertsAPI", "alert_update_body"]

#: ``$filter`` properties documented for ``GET /api/alerts``
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
#: ``$top`` maximum documented for ``GET /api/alerts``
MDE_ALERTS_MAX_TOP = 10_000
#: ``batchUpdate`` documents no maximum number of ids; this client sends at most 500 per call
#: (the bound of MDE's other batch endpoints) and ``batch_update_alerts`` splits longer lists.
MAX_BATCH = 500
#: documented categories for CreateAlertByReference (kept for callers of the old name)
CATEGORIES = tuple(c.value for c in AlertCategory)


def alert_update_body(
    status: AlertStatus | str | None,
    assigned_to: str | None,
    classification: str | None,
    determination: str | None,
    comment: str | None,
) -> dict[str, Any]:
    """The case-sensitive body of an MDE alert update (single or batch)."""
    checked = check_choice(status, AlertStatus, "status") if status is not None else None
    body = triage_body(checked, assigned_to, classification, determination)
    if comment is not None:
        body["comment"] = check_required_text(comment, "comment")
    return require_changes(body)


def _iso(when: Any, field: str) -> str:
    if not isinstance(when, datetime):
        raise ValidationError(f"{field}: a timezone-aware datetime", field=field)
    if when.tzinfo is None:
        raise ValidationError(f"{field}: must be timezone-aware", field=field)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AlertsAPI(Resource):
    """Defender for Endpoint alerts."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        status: AlertStatus | str | None = None,
        severity: Severity | str | None = None,
        category: str | None = None,
        created_since: datetime | None = None,
        created_before: datetime | None = None,
        updated_since: datetime | None = None,
        incident_id: int | None = None,
        assigned_to: str | None = None,
        detection_source: str | None = None,
        expand_evidence: bool = False,
        page_size: int = MDE_ALERTS_MAX_TOP,
        limit: int | None = None,
    ) -> AsyncIterator[Alert]:
        """Alerts matching the filters, paged with ``$top``/``$skip`` (``$top`` ≤ 10,000)."""
        f = ALERT_FILTERS
        expr = f.and_(
            odata_filter,
            f.eq("status", check_choice(status, AlertStatus, "status")) if status else None,
            f.eq("severity", check_choice(severity, Severity, "severity")) if severity else None,
            f.eq("category", check_required_text(category, "category", 100)) if category else None,
            f.window("alertCreationTime", created_since, created_before),
            f.ge("lastUpdateTime", updated_since) if updated_since else None,
            f.eq("incidentId", check_incident_id(incident_id)) if incident_id is not None else None,
            f.eq("assignedTo", check_required_text(assigned_to, "assigned_to", 256))
            if assigned_to
            else None,
            f.eq("detectionSource", check_required_text(detection_source, "detection_source", 100))
            if detection_source
            else None,
        )
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValidationError("page_size: a positive integer", field="page_size")
        params: dict[str, Any] = {}
        if expr:
            params["$filter"] = expr
        if expand_evidence:
            params["$expand"] = "evidence"
        return skip_models(
            Alert,
            self.transport,
            endpoint("mde.alerts.list"),
            page_size=min(page_size, MDE_ALERTS_MAX_TOP),
            params=params or None,
            limit=limit,
        )

    async def list(self, **kw: Any) -> builtins.list[Alert]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, alert_id: str) -> Alert:
        """One alert (with its evidence)."""
        body = await self.transport.request_json(
            endpoint("mde.alerts.get"), path_params={"id": check_alert_id(alert_id)}
        )
        return read_model(Alert, body, "mde.alerts.get")

    async def update(
        self,
        alert_id: str,
        *,
        status: AlertStatus | str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        comment: str | None = None,
    ) -> Alert:
        """Update an alert's status, owner, classification/determination, or add a comment."""
        aid = check_alert_id(alert_id)
        body = alert_update_body(status, assigned_to, classification, determination, comment)
        data = await self.transport.request_json(
            endpoint("mde.alerts.update"),
            path_params={"id": aid},
            json=body,
            idempotent="comment" not in body,  # a repeated comment would be added twice
        )
        return read_model(Alert, data, "mde.alerts.update")

    async def batch_update(
        self,
        alert_ids: Sequence[str],
        *,
        status: AlertStatus | str | None = None,
        assigned_to: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Give up to :data:`MAX_BATCH` alerts the same values in one call (200, empty body)."""
        ids = check_items(alert_ids, check_alert_id, "alert_ids", max_items=MAX_BATCH)
        if not ids:
            raise ValidationError("alert_ids: at least one alert id", field="alert_ids")
        body = alert_update_body(status, assigned_to, classification, determination, comment)
        await self.transport.request(
            endpoint("mde.alerts.batch_update"),
            json={"alertIds": list(dict.fromkeys(ids)), **body},
            idempotent="comment" not in body,
        )

    async def create_by_reference(
        self,
        *,
        machine_id: str,
        report_id: str | int,
        event_time: datetime,
        severity: AlertSeverity | str,
        title: str,
        description: str,
        recommended_action: str,
        category: AlertCategory | str,
    ) -> Alert:
        """Create an alert on top of an event found by hunting (every field is required)."""
        if isinstance(report_id, int) and not isinstance(report_id, bool):
            report_id = str(report_id)
        body = {
            "eventTime": _iso(event_time, "event_time"),
            "reportId": check_required_text(report_id, "report_id", 200),
            "machineId": check_machine_id(machine_id),
            "severity": check_choice(severity, AlertSeverity, "severity").value,
            "title": check_required_text(title, "title", 1000),
            "description": check_required_text(description, "description"),
            "recommendedAction": check_required_text(recommended_action, "recommended_action"),
            "category": check_choice(category, AlertCategory, "category").value,
        }
        data = await self.transport.request_json(
            endpoint("mde.alerts.create_by_reference"), json=body, idempotent=False
        )
        return read_model(Alert, data, "mde.alerts.create_by_reference")

    # -- related entities -----------------------------------------------------------------

    async def _related(self, alert_id: str, relation: AlertRelation) -> Any:
        return await self.transport.request_json(
            endpoint(f"mde.alerts.{relation.value}"),
            path_params={"id": check_alert_id(alert_id)},
        )

    async def domains(self, alert_id: str) -> builtins.list[AlertDomain]:
        """Domains related to the alert (``URL.Read.All``)."""
        body = await self._related(alert_id, AlertRelation.DOMAINS)
        return read_models(
            AlertDomain, collection(body, "mde.alerts.domains"), "mde.alerts.domains"
        )

    async def files(self, alert_id: str) -> builtins.list[FileInfo]:
        """Files related to the alert (``File.Read.All``)."""
        body = await self._related(alert_id, AlertRelation.FILES)
        return read_models(FileInfo, collection(body, "mde.alerts.files"), "mde.alerts.files")

    async def ips(self, alert_id: str) -> builtins.list[AlertIp]:
        """IP addresses related to the alert (``Ip.Read.All``)."""
        body = await self._related(alert_id, AlertRelation.IPS)
        return read_models(AlertIp, collection(body, "mde.alerts.ips"), "mde.alerts.ips")

    async def machine(self, alert_id: str) -> Machine:
        """The alert's machine (``Machine.Read.All``)."""
        body = await self._related(alert_id, AlertRelation.MACHINE)
        return read_model(Machine, body, "mde.alerts.machine")

    async def user(self, alert_id: str) -> LogonUser:
        """The alert's user (``User.Read.All``)."""
        return read_model(
            LogonUser, await self._related(alert_id, AlertRelation.USER), "mde.alerts.user"
        )

    async def related(
        self, alert_id: str, relations: Iterable[AlertRelation | str] | None = None
    ) -> AlertRelated:
        """Several relations at once; one that fails (own permission, 404) lands in ``errors``."""
        aid = check_alert_id(alert_id)
        wanted = (
            list(AlertRelation)
            if relations is None
            else check_items(
                [relations] if isinstance(relations, str) else relations,
                lambda v, field: check_choice(v, AlertRelation, field),
                "relations",
            )
        )
        fetch = {
            AlertRelation.DOMAINS: self.domains,
            AlertRelation.FILES: self.files,
            AlertRelation.IPS: self.ips,
            AlertRelation.MACHINE: self.machine,
            AlertRelation.USER: self.user,
        }
        out: dict[str, Any] = {"alert_id": aid}
        errors: dict[str, dict[str, Any]] = {}
        for rel in dict.fromkeys(wanted):
            try:
                out[rel.value] = await fetch[rel](aid)
            except DefenderError as exc:
                errors[rel.value] = exc.to_dict()
        return AlertRelated(**out, errors=errors)
