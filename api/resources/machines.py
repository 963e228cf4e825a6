"""Machines (devices) of Defender for Endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_machine_id

__all__ = ["MachinesAPI"]

#: Filterable properties documented for ``GET /api/machines``.
MACHINE_FILTERS = ODataFilter(
    {
        "computerDnsName",
        "id",
        "version",
        "deviceValue",
        "aadDeviceId",
        "machineTags",
        "lastSeen",
        "exposureLevel",
        "onboardingStatus",
        "lastIpAddress",
        "healthStatus",
        "osPlatform",
        "riskScore",
        "rbacGroupId",
    }
)
MACHINES_MAX_TOP = 10_000


class MachinesAPI(Resource):
    """Defender for Endpoint machines."""

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        page_size: int = MACHINES_MAX_TOP,
        limit: int | None = None,
    ) -> AsyncIterator[Machine]:
        """Every machine matching ``odata_filter``, paged with ``$top``/``$skip``."""
        params = {"$filter": odata_filter} if odata_filter else None
        return self._models(
            iterate_skip(
                self.transport,
                endpoint("mde.machines.list"),
                page_size=min(page_size, MACHINES_MAX_TOP),
                params=params,
                limit=limit,
            )
        )

    async def list(self, **kw: Any) -> list[Machine]:
        """All of :meth:`iterate` as a list."""
        return [m async for m in self.iterate(**kw)]

    async def get(self, machine: str) -> Machine:
        """One machine by its id (40 hex) or computer DNS name."""
        if not isinstance(machine, str) or not machine.strip():
            raise ValidationError(
                "machine: expected a machine id or computer name", field="machine"
            )
        key = machine.strip()
        if len(key) == 40:
            key = check_machine_id(key, "machine")
        elif any(c in key for c in "/?#%\\\"' ") or len(key) > 255:
            raise ValidationError(
                f"machine: {key[:60]!r} is not a machine id or computer name", field="machine"
            )
        body = await self.transport.request_json(
            endpoint("mde.machines.get"), path_params={"id": key}
        )
        return Machine.model_validate(body)

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[Machine]:
        async for item in items:
            yield Machine.model_validate(item)
