"""Automated investigations (AIR): list and get; starting one is retired.

``startInvestigation`` was retired on 1 September 2026 (Message Center MC1411577: AIR "will no
longer support manual triggering"; on-demand investigation is a Full antivirus scan). The catalog
marks it retired (``api.lifecycle_table``), so :meth:`InvestigationsAPI.start` raises
``ApiRetiredError`` before anything is sent. Listing and reading investigations stay, deprecated
with the rest of the Defender for Endpoint API (MC1220762).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.investigations import Investigation, InvestigationState
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect, skip_models
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    ascii_digits,
    check_alert_id,
    check_choice,
    check_comment,
    check_machine_id,
)

__all__ = [
    "INVESTIGATION_FILTERS",
    "InvestigationsAPI",
    "check_investigation_comment",
    "check_investigation_id",
]


#: the properties get-investigation-collection documents for ``$filter``
INVESTIGATION_FILTERS = ODataFilter({"startTime", "id", "state", "machineId", "triggeringAlertId"})


def check_investigation_comment(value: Any, field: str = "comment") -> str:
    """The comment an investigation is started with (required: Defender records it)."""
    text = check_comment(value, field)
    if not text:
        raise ValidationError(f"{field}: required (Defender records it with the action)")
    return text


def check_investigation_id(value: Any, field: str = "investigation_id") -> str:
    """An investigation id (digits) or, as the get page allows, its triggering alert's id."""
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected an investigation id", field=field)
    text = str(value).strip()
    if ascii_digits(text) and len(text) <= 20:
        return text
    try:
        return check_alert_id(text, field)
    except ValidationError:
        raise ValidationError(
            f"{field}: {text[:60]!r} is neither an investigation id nor an alert id", field=field
        ) from None


class InvestigationsAPI(Resource):
    """Automated investigation and remediation (AIR)."""

    def iterate(
        self,
        *,
        state: InvestigationState | str | None = None,
        machine_id: str | None = None,
        triggering_alert_id: str | None = None,
        started_after: datetime | None = None,
        odata_filter: str | None = None,
        page_size: int = 10_000,
        limit: int | None = None,
    ) -> AsyncIterator[Investigation]:
        """Investigations matching the filters (pages of at most 10,000)."""
        f = INVESTIGATION_FILTERS
        if started_after is not None and started_after.tzinfo is None:
            raise ValidationError("started_after: a timezone-aware datetime", field="started_after")
        if not 0 < page_size <= 10_000:
            raise ValidationError("page_size: 1 to 10,000 (the documented $top maximum)")
        expr = f.and_(
            odata_filter,
            f.eq("state", check_choice(state, InvestigationState, "state")) if state else None,
            f.eq("machineId", check_machine_id(machine_id)) if machine_id else None,
            f.eq("triggeringAlertId", check_alert_id(triggering_alert_id, "triggering_alert_id"))
            if triggering_alert_id
            else None,
            f.ge("startTime", started_after) if started_after else None,
        )
        return skip_models(
            Investigation,
            self.transport,
            endpoint("mde.investigations.list"),
            page_size=page_size,
            params={"$filter": expr} if expr else None,
            limit=limit,
        )

    async def list(self, **kw: Any) -> builtins.list[Investigation]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, investigation_id: str | int) -> Investigation:
        """One investigation, by its id or by the id of the alert that triggered it."""
        body = await self.transport.request_json(
            endpoint("mde.investigations.get"),
            path_params={"id": check_investigation_id(investigation_id)},
        )
        return read_model(Investigation, body, "mde.investigations.get")

    async def start(self, machine_id: str, comment: str) -> Investigation:
        """Retired: raises :class:`~prefect_defender.api.errors.ApiRetiredError` (after the
        input checks) without sending anything.

        Automated investigations can no longer be started on demand since 1 September 2026
        (Message Center MC1411577); Microsoft's replacement is a Full antivirus scan
        (``client.machine_actions``, ``ScanType`` ``Full``). Kept so that existing code gets that
        answer instead of a 404.
        """
        mid = check_machine_id(machine_id)
        text = check_investigation_comment(comment)
        body: Any = await self.transport.request_json(
            endpoint("mde.investigations.start"), path_params={"id": mid}, json={"Comment": text}
        )
        return read_model(Investigation, body, "mde.investigations.start")
