"""Automated investigations: list, get, start."""

from __future__ import annotations

import builtins
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.models.entities import Investigation
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_comment, check_machine_id

__all__ = ["InvestigationsAPI"]

FILTERS = ODataFilter({"startTime", "id", "state", "machineId", "triggeringAlertId"})


class InvestigationsAPI(Resource):
    """Automated investigation and remediation (AIR)."""

    async def list(
        self,
        *,
        state: str | None = None,
        machine_id: str | None = None,
        limit: int | None = 1000,
    ) -> builtins.list[Investigation]:
        """Investigations, newest first, optionally by state and machine."""
        expr = FILTERS.and_(
            FILTERS.eq("state", state) if state else None,
            FILTERS.eq("machineId", check_machine_id(machine_id)) if machine_id else None,
        )
        items = iterate_skip(
            self.transport,
            endpoint("mde.investigations.list"),
            page_size=10_000,
            params={"$filter": expr} if expr else None,
            limit=limit,
        )
        return [Investigation.model_validate(i) async for i in items]

    async def get(self, investigation_id: str | int) -> Investigation:
        """One investigation."""
        iid = str(investigation_id).strip()
        if not iid.isdigit():
            from prefect_defender.api.errors import ValidationError

            raise ValidationError(
                f"investigation_id: {iid[:40]!r} is not an id", field="investigation_id"
            )
        body = await self.transport.request_json(
            endpoint("mde.investigations.get"), path_params={"id": iid}
        )
        return Investigation.model_validate(body)

    async def start(self, machine_id: str, comment: str) -> Investigation:
        """Start an automated investigation on a machine (50 per hour)."""
        body: Any = await self.transport.request_json(
            endpoint("mde.investigations.start"),
            path_params={"id": check_machine_id(machine_id)},
            json={"Comment": check_comment(comment)},
        )
        return Investigation.model_validate(body)
