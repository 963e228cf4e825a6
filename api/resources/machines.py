"""Machines (devices) of Defender for Endpoint."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_comment, check_ip, check_machine_id

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

    @staticmethod
    def build_filter(
        *,
        name_startswith: str | None = None,
        tag: str | None = None,
        health_status: str | None = None,
        risk_score: str | None = None,
        os_platform: str | None = None,
        seen_since: datetime | None = None,
    ) -> str:
        """An OData filter over the documented machine properties (values escaped)."""
        f = MACHINE_FILTERS
        return f.and_(
            f.startswith("computerDnsName", name_startswith) if name_startswith else None,
            f.any_eq("machineTags", tag) if tag else None,
            f.eq("healthStatus", health_status) if health_status else None,
            f.eq("riskScore", risk_score) if risk_score else None,
            f.eq("osPlatform", os_platform) if os_platform else None,
            f.ge("lastSeen", seen_since) if seen_since else None,
        )

    async def list(self, **kw: Any) -> builtins.list[Machine]:
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

    async def find_by_ip(
        self, ip: str, timestamp: datetime | None = None
    ) -> builtins.list[Machine]:
        """Machines that used ``ip`` within 15 minutes of ``timestamp`` (within 30 days)."""
        addr = check_ip(ip)
        when = timestamp or datetime.now(UTC)
        if when.tzinfo is None:
            raise ValidationError("timestamp: must be timezone-aware", field="timestamp")
        if when < datetime.now(UTC) - timedelta(days=30) or when > datetime.now(UTC) + timedelta(
            hours=1
        ):
            raise ValidationError(
                "timestamp: must be within the last 30 days (the API searches +/- 15 minutes)",
                field="timestamp",
            )
        ts = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = await self.transport.request_json(
            endpoint("mde.machines.find_by_ip"), path_params={"ip": addr, "ts": ts}
        )
        return [Machine.model_validate(m) for m in body.get("value", [])]

    async def find_by_tag(self, tag: str, *, starts_with: bool = False) -> builtins.list[Machine]:
        """Machines carrying ``tag`` (or a tag starting with it)."""
        value = check_comment(tag, "tag", max_length=200)
        if not value:
            raise ValidationError("tag: must not be empty", field="tag")
        body = await self.transport.request_json(
            endpoint("mde.machines.find_by_tag"),
            params={"tag": value, "useStartsWithFilter": str(starts_with).lower()},
        )
        return [Machine.model_validate(m) for m in body.get("value", [])]

    async def set_tag(self, machine_id: str, tag: str, *, remove: bool = False) -> Machine:
        """Add (or remove) one tag on one machine."""
        value = _tag(tag)
        body = await self.transport.request_json(
            endpoint("mde.machines.tag"),
            path_params={"id": check_machine_id(machine_id)},
            json={"Value": value, "Action": "Remove" if remove else "Add"},
            idempotent=True,  # adding or removing the same tag twice is harmless
        )
        return Machine.model_validate(body)

    async def set_tag_many(
        self, machine_ids: Sequence[str], tag: str, *, remove: bool = False
    ) -> builtins.list[Machine]:
        """Add (or remove) one tag on up to 500 machines in one call."""
        ids = [check_machine_id(m, f"machine_ids[{i}]") for i, m in enumerate(machine_ids)]
        if not ids or len(ids) > 500:
            raise ValidationError("machine_ids: between 1 and 500 per call", field="machine_ids")
        body = await self.transport.request_json(
            endpoint("mde.machines.tag_many"),
            json={"Value": _tag(tag), "Action": "Remove" if remove else "Add", "MachineIds": ids},
            idempotent=True,
        )
        return [Machine.model_validate(m) for m in (body or {}).get("value", [])]

    async def logon_users(self, machine_id: str) -> builtins.list[dict[str, Any]]:
        """Users that logged on to the machine."""
        body = await self.transport.request_json(
            endpoint("mde.machines.logon_users"), path_params={"id": check_machine_id(machine_id)}
        )
        return list(body.get("value", []))

    async def alerts(self, machine_id: str) -> builtins.list[dict[str, Any]]:
        """Alerts related to the machine."""
        body = await self.transport.request_json(
            endpoint("mde.machines.alerts"), path_params={"id": check_machine_id(machine_id)}
        )
        return list(body.get("value", []))


def _tag(tag: str) -> str:
    value = check_comment(tag, "tag", max_length=200)
    if not value:
        raise ValidationError("tag: must not be empty", field="tag")
    return value
