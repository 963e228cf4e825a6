"""Tasks for Defender for Endpoint alerts (``/api/alerts``): list, get, update, related."""

from __future__ import annotations

from datetime import datetime

from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.input_types import (
    AlertId,
    FilterText,
    IncidentId,
    Limit,
    MachineId,
    ODataFilterText,
    OpenChoice,
    ReportId,
    RequiredText,
    ShortText,
    TenantId,
)
from prefect_defender.api.models.alerts import (
    Alert,
    AlertCategory,
    AlertRelation,
    AlertSeverity,
    AlertStatus,
    Classification,
    Determination,
    Severity,
)
from prefect_defender.api.models.incidents import AlertRelated
from prefect_defender.api.resources.alerts import MAX_BATCH, alert_update_body
from prefect_defender.api.validation import check_alert_id, check_choice, check_items
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    forwarded,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus

__all__ = [
    "batch_update_alerts",
    "create_alert_by_reference",
    "get_alert",
    "get_alert_related",
    "list_alerts",
    "update_alert",
]


@defender_task(endpoints=("mde.alerts.list",))
async def list_alerts(
    credentials: DefenderCredentialsLike,
    status: OpenChoice[AlertStatus] | None = None,
    severity: Severity | str | None = None,
    created_since: datetime | None = None,
    incident_id: IncidentId | None = None,
    expand_evidence: bool = False,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = 1000,
    created_before: datetime | None = None,
    updated_since: datetime | None = None,
    assigned_to: ShortText | None = None,
    category: FilterText | None = None,
    detection_source: FilterText | None = None,
    tenant_id: TenantId | None = None,
) -> list[Alert]:
    """Defender for Endpoint alerts, newest first, optionally with evidence.

    Every filter is sent as ``$filter`` on a documented property (status, severity, category,
    alertCreationTime, lastUpdateTime, incidentId, assignedTo, detectionSource);
    ``expand_evidence`` adds ``$expand=evidence``.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import list_alerts

        @flow
        async def new_high() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            found = await list_alerts(creds, status="New", severity="High", expand_evidence=True)
            return [a.id for a in found]
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        found = await client.alerts.list(**args)
    task_logger().info("listed %d alerts", len(found))
    return found


@defender_task(endpoints=("mde.alerts.get",))
async def get_alert(
    credentials: DefenderCredentialsLike, alert_id: AlertId, tenant_id: TenantId | None = None
) -> Alert:
    """One alert with its evidence.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import get_alert

        @flow
        async def machine_of(alert_id: str) -> str | None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_alert(creds, alert_id)).machine_id
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.alerts.get(alert_id)


@defender_task(endpoints=("mde.alerts.update",))
async def update_alert(
    credentials: DefenderCredentialsLike,
    alert_id: AlertId,
    status: OpenChoice[AlertStatus] | None = None,
    assigned_to: ShortText | None = None,
    classification: Classification | str | None = None,
    determination: Determination | str | None = None,
    comment: RequiredText | None = None,
    tenant_id: TenantId | None = None,
) -> Alert:
    """Update an alert's status, owner, classification/determination or add a comment.

    ``status`` is New, InProgress or Resolved. A ``determination`` needs its
    ``classification`` and must belong to it; both spellings Microsoft's pages use are accepted
    (``ConfirmedActivity``/``ConfirmedUserActivity``, ``NotMalicious``/``Clean`` ...).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import update_alert

        @flow
        async def false_positive(alert_id: str) -> None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await update_alert(creds, alert_id, status="Resolved",
                               classification="FalsePositive", determination="NotMalicious")
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        return await client.alerts.update(**args)


@defender_task(endpoints=("mde.alerts.batch_update",))
async def batch_update_alerts(
    credentials: DefenderCredentialsLike,
    alert_ids: list[AlertId],
    status: OpenChoice[AlertStatus] | None = None,
    assigned_to: ShortText | None = None,
    classification: Classification | str | None = None,
    determination: Determination | str | None = None,
    comment: RequiredText | None = None,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Give many alerts the same status, owner, classification/determination or comment.

    One ``POST /api/alerts/batchUpdate`` per 500 alerts (the page documents no maximum; the
    limit is 10 calls per minute, which the client's limiter respects). Returns one outcome
    per given id, in order: ``succeeded`` when its call succeeded, ``failed`` with the error
    otherwise (a call fails as a whole, e.g. 404 when one of its ids is unknown). Invalid ids
    or values raise :class:`ValidationError` before anything is sent.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import batch_update_alerts

        @flow
        async def bulk_close(ids: list[str]) -> int:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            outcomes = await batch_update_alerts(creds, ids, status="Resolved",
                                                 comment="Bulk close")
            return sum(o.ok for o in outcomes)
        ```
    """
    values = forwarded(locals(), "alert_ids")
    ids = check_items(alert_ids, check_alert_id, "alert_ids")
    if not ids:
        raise ValidationError("alert_ids: at least one alert id", field="alert_ids")
    unique = list(dict.fromkeys(ids))
    chunks = [unique[i : i + MAX_BATCH] for i in range(0, len(unique), MAX_BATCH)]
    logger = task_logger()
    by_id: dict[str, ItemOutcome] = {}
    # check the values once, before anything is sent
    alert_update_body(**values)
    async with defender_client(credentials, tenant_id) as client:
        for n, chunk in enumerate(chunks, 1):
            try:
                await client.alerts.batch_update(chunk, **values)
            except DefenderError as exc:
                logger.warning(
                    "batch %d/%d (%d alerts) failed: %s", n, len(chunks), len(chunk), exc
                )
                for aid in chunk:
                    by_id[aid] = ItemOutcome(
                        item=aid, status=OutcomeStatus.FAILED, error=exc.to_dict(), reason=str(exc)
                    )
                continue
            logger.info("batch %d/%d: updated %d alerts", n, len(chunks), len(chunk))
            for aid in chunk:
                by_id[aid] = ItemOutcome(item=aid, status=OutcomeStatus.SUCCEEDED)
    return [by_id[aid].model_copy() for aid in ids]


@defender_task(endpoints=("mde.alerts.create_by_reference",))
async def create_alert_by_reference(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    report_id: ReportId,
    event_time: datetime,
    severity: AlertSeverity | str,
    title: RequiredText,
    description: RequiredText,
    recommended_action: RequiredText,
    category: OpenChoice[AlertCategory],
    tenant_id: TenantId | None = None,
) -> Alert:
    """Create an alert on top of an event found by hunting (all fields are required).

    ``report_id`` and ``event_time`` come from the hunting result row (``ReportId``,
    ``Timestamp``); ``severity`` is Low, Medium or High; ``category`` one of the documented
    categories (:class:`AlertCategory`). 15 calls per minute.

    Example:
        ```python
        from datetime import UTC, datetime
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import create_alert_by_reference

        @flow
        async def raise_alert(machine_id: str, report_id: str, when: datetime) -> str:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            alert = await create_alert_by_reference(
                creds, machine_id, report_id, when, severity="High",
                title="Hunted: encoded PowerShell", description="Found by the hunt playbook",
                recommended_action="Isolate the device", category="Execution",
            )
            return alert.id
        ```
    """
    args = forwarded(locals())
    async with defender_client(credentials, tenant_id) as client:
        alert = await client.alerts.create_by_reference(**args)
    task_logger().info("created alert %s on machine %s", alert.id, alert.machine_id)
    return alert


@defender_task(
    endpoints=(
        "mde.alerts.domains",
        "mde.alerts.files",
        "mde.alerts.ips",
        "mde.alerts.machine",
        "mde.alerts.user",
    )
)
async def get_alert_related(
    credentials: DefenderCredentialsLike,
    alert_id: AlertId,
    kinds: list[AlertRelation | str] | None = None,
    tenant_id: TenantId | None = None,
) -> AlertRelated:
    """Entities related to an alert: ``domains``, ``files``, ``ips``, ``machine``, ``user``.

    Each relation needs its own permission (URL.Read.All, File.Read.All, Ip.Read.All,
    Machine.Read.All, User.Read.All); one that fails is reported in ``errors`` and left
    ``None``, the others are still returned.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.alerts import get_alert_related

        @flow
        async def alert_iocs(alert_id: str) -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            related = await get_alert_related(creds, alert_id, ["files", "ips"])
            return [f.sha1 or "" for f in related.files or []] + [i.id for i in related.ips or []]
        ```
    """
    if kinds is not None:
        check_items(kinds, lambda v, f: check_choice(v, AlertRelation, f), "kinds")
    async with defender_client(credentials, tenant_id) as client:
        related = await client.alerts.related(alert_id, kinds)
    if related.errors:
        task_logger().warning(
            "alert %s: relations failed: %s", related.alert_id, ", ".join(sorted(related.errors))
        )
    return related
