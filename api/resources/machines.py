"""Machines (devices) of Defender for Endpoint."""

from __future__ import annotations

import builtins
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from prefect_defender.api.answers import read_model, read_models
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.machines import (
    HealthStatus,
    LogonUser,
    Machine,
    RiskScore,
    TagAction,
)
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect, skip_models
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    CheckedMachineId,
    check_choice,
    check_comment,
    check_ip,
    check_machine_id,
)

__all__ = ["MachinesAPI", "check_machine_ref"]

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
#: machines per ``AddOrRemoveTagForMultipleMachines`` call (documented maximum)
TAG_BATCH_MAX = 500

E = TypeVar("E", bound=Enum)
_MACHINE_ID = re.compile(r"^[0-9a-fA-F]{40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
        return skip_models(
            Machine,
            self.transport,
            endpoint("mde.machines.list"),
            page_size=min(page_size, MACHINES_MAX_TOP),
            params=params,
            limit=limit,
        )

    @staticmethod
    def build_filter(
        *,
        name: str | None = None,
        name_startswith: str | None = None,
        tag: str | None = None,
        health_status: HealthStatus | str | None = None,
        risk_score: RiskScore | str | None = None,
        os_platform: str | None = None,
        seen_since: datetime | None = None,
    ) -> str:
        """An OData filter over the documented machine properties (values escaped).

        ``health_status`` and ``risk_score`` must be documented values (any case); a typo would
        otherwise silently match nothing.
        """
        f = MACHINE_FILTERS
        health = _choice_ci(health_status, HealthStatus, "health_status")
        risk = _choice_ci(risk_score, RiskScore, "risk_score")
        if seen_since is not None and seen_since.tzinfo is None:
            raise ValidationError("seen_since: must be timezone-aware", field="seen_since")
        for label, text in (("name", name), ("name_startswith", name_startswith)):
            if text is not None and not check_comment(text, label, max_length=255):
                raise ValidationError(f"{label}: must not be empty", field=label)
        return f.and_(
            f.eq("computerDnsName", name.strip()) if name else None,
            f.startswith("computerDnsName", name_startswith.strip()) if name_startswith else None,
            f.any_eq("machineTags", _tag(tag)) if tag is not None else None,
            f.eq("healthStatus", health) if health else None,
            f.eq("riskScore", risk) if risk else None,
            f.eq("osPlatform", check_comment(os_platform, "os_platform", 100))
            if os_platform
            else None,
            f.ge("lastSeen", seen_since) if seen_since else None,
        )

    @staticmethod
    def check_tag(tag: str, field: str = "tag") -> str:
        """A valid tag value (non-empty, at most 200 characters, no control characters)."""
        return _tag(tag, field)

    async def list(self, **kw: Any) -> builtins.list[Machine]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, machine: str) -> Machine:
        """One machine by its id (40 hex) or computer DNS name."""
        key = check_machine_ref(machine)
        body = await self.transport.request_json(
            endpoint("mde.machines.get"), path_params={"id": key}
        )
        return read_model(Machine, body, "mde.machines.get")

    async def find_by_ip(
        self, ip: str, timestamp: datetime | str | None = None
    ) -> builtins.list[Machine]:
        """Machines that used ``ip`` within 15 minutes of ``timestamp`` (within 30 days).

        The 30-day bound is checked here, so an old timestamp sends nothing (the API would
        answer 400).
        """
        addr = check_ip(ip)
        when = _timestamp(timestamp)
        now = datetime.now(UTC)
        if when < now - timedelta(days=30) or when > now + timedelta(hours=1):
            raise ValidationError(
                "timestamp: must be within the last 30 days (the API searches +/- 15 minutes)",
                field="timestamp",
            )
        ts = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = await self.transport.request_json(
            endpoint("mde.machines.find_by_ip"), path_params={"ip": addr, "ts": ts}
        )
        return read_models(Machine, _values(body), "mde.machines.find_by_ip")

    async def find_by_tag(self, tag: str, *, starts_with: bool = False) -> builtins.list[Machine]:
        """Machines carrying ``tag`` (or a tag starting with it, ``useStartsWithFilter``)."""
        body = await self.transport.request_json(
            endpoint("mde.machines.find_by_tag"),
            params={"tag": _tag(tag), "useStartsWithFilter": "true" if starts_with else "false"},
        )
        return read_models(Machine, _values(body), "mde.machines.find_by_tag")

    async def set_tag(self, machine_id: str, tag: str, *, remove: bool = False) -> Machine:
        """Add (or remove) one tag on one machine; returns the updated machine."""
        body = await self.transport.request_json(
            endpoint("mde.machines.tag"),
            path_params={"id": check_machine_id(machine_id)},
            json={
                "Value": _tag(tag),
                "Action": (TagAction.REMOVE if remove else TagAction.ADD).value,
            },
            idempotent=True,  # adding or removing the same tag twice is harmless
        )
        return read_model(Machine, body, "mde.machines.tag")

    async def set_tag_many(
        self, machine_ids: Sequence[str], tag: str, *, remove: bool = False
    ) -> builtins.list[Machine] | None:
        """Add (or remove) one tag on up to 500 machines in one call.

        Returns the updated machines the API listed, or ``None`` when its 200 answer carried no
        machine list (the page documents "the updated machines" without a schema).
        """
        if isinstance(machine_ids, str):
            raise ValidationError(
                "machine_ids: expected a list of machine ids", field="machine_ids"
            )
        ids = [check_machine_id(m, f"machine_ids[{i}]") for i, m in enumerate(machine_ids)]
        if not ids or len(ids) > TAG_BATCH_MAX:
            raise ValidationError(
                f"machine_ids: between 1 and {TAG_BATCH_MAX} per call", field="machine_ids"
            )
        body = await self.transport.request_json(
            endpoint("mde.machines.tag_many"),
            json={
                "Value": _tag(tag),
                "Action": (TagAction.REMOVE if remove else TagAction.ADD).value,
                "MachineIds": ids,
            },
            idempotent=True,
        )
        if not isinstance(body, dict | builtins.list) or (
            isinstance(body, dict) and not isinstance(body.get("value"), builtins.list)
        ):
            return None
        return read_models(Machine, _values(body), "mde.machines.tag_many")

    async def logon_users(self, machine_id: str) -> builtins.list[LogonUser]:
        """Users that logged on to the machine."""
        body = await self.transport.request_json(
            endpoint("mde.machines.logon_users"), path_params={"id": check_machine_id(machine_id)}
        )
        return read_models(LogonUser, _values(body), "mde.machines.logon_users")

    async def alerts(self, machine_id: str) -> builtins.list[Alert]:
        """Alerts related to the machine."""
        body = await self.transport.request_json(
            endpoint("mde.machines.alerts"), path_params={"id": check_machine_id(machine_id)}
        )
        return read_models(Alert, _values(body), "mde.machines.alerts")


def check_machine_ref(machine: Any, field: str = "machine") -> str:
    """A machine id (40 hex, lower-cased) or a computer DNS name (as given, stripped); a
    :class:`CheckedMachineId` is only lower-cased."""
    if type(machine) is CheckedMachineId:
        return check_machine_id(machine)
    if not isinstance(machine, str) or not machine.strip():
        raise ValidationError(f"{field}: expected a machine id or computer name", field=field)
    key = machine.strip()
    if _MACHINE_ID.match(key):
        return key.lower()
    if any(c in key for c in "/?#%\\\"' ") or len(key) > 255 or _CONTROL.search(key):
        raise ValidationError(
            f"{field}: {key[:60]!r} is not a machine id or computer name", field=field
        )
    return key


def _tag(tag: str, field: str = "tag") -> str:
    value = check_comment(tag, field, max_length=200)
    if not value:
        raise ValidationError(f"{field}: must not be empty", field=field)
    return value


def _timestamp(value: datetime | str | None) -> datetime:
    """A timezone-aware datetime (``None`` is now; ISO 8601 strings accepted)."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"timestamp: {text[:40]!r} is not an ISO 8601 date-time", field="timestamp"
            ) from None
    if not isinstance(value, datetime):
        raise ValidationError("timestamp: expected a datetime", field="timestamp")
    if value.tzinfo is None:
        raise ValidationError("timestamp: must be timezone-aware", field="timestamp")
    return value


def _values(body: Any) -> builtins.list[dict[str, Any]]:
    """The items of an OData collection (``{"value": [...]}``) or of a bare JSON list."""
    if isinstance(body, dict):
        body = body.get("value")
    return [x for x in body if isinstance(x, dict)] if isinstance(body, builtins.list) else []


def _choice_ci(value: Any, enum: type[E], field: str) -> str | None:
    """``value`` as the documented spelling of one of ``enum``'s members (any case accepted)."""
    if value is None or value == "":
        return None
    if isinstance(value, enum):
        return str(value.value)
    if isinstance(value, str):
        for member in enum:
            if str(member.value).lower() == value.strip().lower():
                return str(member.value)
    return str(check_choice(value, enum, field).value)  # raises with the allowed values
