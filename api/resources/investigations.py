"""Automated investigations (AIR): list, get, start.

``startInvestigation`` is a non-idempotent POST limited to 50 calls per hour. When its answer is
lost (connection reset after sending, or a 5xx), the request is not repeated blindly: the client
looks for an investigation on that machine that started since the request was sent and returns
it; only when there is none does the error reach the caller.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ServerError, TransportError, ValidationError
from prefect_defender.api.models.investigations import Investigation, InvestigationState
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import skip_models
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    check_alert_id,
    check_choice,
    check_comment,
    check_machine_id,
)

__all__ = ["INVESTIGATION_FILTERS", "InvestigationsAPI", "check_investigation_id"]

logger = logging.getLogger(__name__)

#: the properties get-investigation-collection documents for ``$filter``
INVESTIGATION_FILTERS = ODataFilter({"startTime", "id", "state", "machineId", "triggeringAlertId"})


def check_investigation_id(value: Any, field: str = "investigation_id") -> str:
    """An investigation id (digits) or, as the get page allows, its triggering alert's id."""
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected an investigation id", field=field)
    text = str(value).strip()
    if text.isdigit() and len(text) <= 20:
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
        return [i async for i in self.iterate(**kw)]

    async def get(self, investigation_id: str | int) -> Investigation:
        """One investigation, by its id or by the id of the alert that triggered it."""
        body = await self.transport.request_json(
            endpoint("mde.investigations.get"),
            path_params={"id": check_investigation_id(investigation_id)},
        )
        return Investigation.model_validate(body)

    async def start(self, machine_id: str, comment: str) -> Investigation:
        """Start an automated investigation on a machine (201; 50 calls per hour)."""
        mid = check_machine_id(machine_id)
        text = check_comment(comment)
        if not text:
            raise ValidationError("comment: required (Defender records it with the action)")
        sent = datetime.now(UTC) - timedelta(seconds=60)
        try:
            body: Any = await self.transport.request_json(
                endpoint("mde.investigations.start"),
                path_params={"id": mid},
                json={"Comment": text},
            )
        except (TransportError, ServerError) as exc:
            if isinstance(exc, TransportError) and not exc.applied_unknown:
                raise
            found = await self.list(machine_id=mid, started_after=sent, limit=50)
            if not found:
                raise
            logger.warning(
                "startInvestigation answer lost; found investigation %s on %s", found[0].id, mid
            )
            return max(found, key=lambda i: i.start_time or sent)
        return Investigation.model_validate(body)
