"""Entity enrichment: files, IP addresses, domains and users.

Inputs are checked before any request: file hashes by length and alphabet (the related-alerts
and related-machines endpoints take a SHA-1 only, and say so when given a SHA-256), IPs with
:mod:`ipaddress`, domains as DNS names, and users as account (SAM) names, never UPNs.
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.enrichment import EntityStats, FileInfo
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.paging import listed_models
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    check_domain,
    check_hash,
    check_ip,
    check_sam_name,
    check_sha1,
)

__all__ = ["MAX_LOOK_BACK_HOURS", "EntitiesAPI", "check_look_back", "check_sha1_only"]

#: documented maximum of ``lookBackHours`` (30 days)
MAX_LOOK_BACK_HOURS = 720


def check_sha1_only(value: Any, field: str = "sha1") -> str:
    """A SHA-1 for the endpoints that take nothing else; a SHA-256 or MD5 gets a clear error."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and len(text) in (64, 32) and all(c in _HEX for c in text):
        kind = "SHA-256" if len(text) == 64 else "MD5"
        raise ValidationError(
            f"{field}: this endpoint takes a SHA-1 only (Defender does not support MD5 or "
            f"SHA-256 here); the given value is a {kind}. Look the file up with get_file_info "
            "to find its SHA-1.",
            field=field,
        )
    return check_sha1(value, field)


_HEX = set("0123456789abcdefABCDEF")


def check_look_back(value: Any, field: str = "look_back_hours") -> int:
    """``lookBackHours``: an integer from 1 to 720."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field}: expected an integer number of hours", field=field)
    if not 0 < value <= MAX_LOOK_BACK_HOURS:
        raise ValidationError(
            f"{field}: {value} is out of range; 1 to {MAX_LOOK_BACK_HOURS} hours (30 days)",
            field=field,
        )
    return value


class EntitiesAPI(Resource):
    """Files, IPs, domains and users: statistics and related alerts and machines."""

    async def _get(self, name: str, params: dict[str, Any], query: Any = None) -> Any:
        return await self.transport.request_json(endpoint(name), path_params=params, params=query)

    # -- files ---------------------------------------------------------------------------------
    async def file_info(self, file_hash: str) -> FileInfo:
        """File information by SHA-1 or SHA-256 (:class:`NotFoundError` if unknown)."""
        h = check_hash(file_hash, "file_hash", ("sha1", "sha256"))
        return read_model(FileInfo, await self._get("mde.files.get", {"id": h}), "mde.files.get")

    async def file_stats(
        self, file_hash: str, look_back_hours: int = MAX_LOOK_BACK_HOURS
    ) -> EntityStats:
        """Prevalence of a file over ``look_back_hours`` (1 to 720; 404 if unknown)."""
        h = check_hash(file_hash, "file_hash", ("sha1", "sha256"))
        hours = check_look_back(look_back_hours)
        body = await self._get("mde.files.stats", {"id": h}, {"lookBackHours": hours})
        return read_model(EntityStats, body, "mde.files.stats")

    async def file_alerts(self, sha1: str) -> list[Alert]:
        """Alerts related to a file (SHA-1 only; an unknown file gives an empty list)."""
        body = await self._get("mde.files.alerts", {"id": check_sha1_only(sha1)})
        return listed_models(Alert, body, "mde.files.alerts")

    async def file_machines(self, sha1: str) -> list[Machine]:
        """Machines related to a file (SHA-1 only; an unknown file gives an empty list)."""
        body = await self._get("mde.files.machines", {"id": check_sha1_only(sha1)})
        return listed_models(Machine, body, "mde.files.machines")

    # -- IP addresses --------------------------------------------------------------------------
    async def ip_stats(self, ip: str, look_back_hours: int = MAX_LOOK_BACK_HOURS) -> EntityStats:
        """Prevalence of an IP address (a valid but unseen IP has prevalence 0)."""
        addr, hours = check_ip(ip), check_look_back(look_back_hours)
        body = await self._get("mde.ips.stats", {"ip": addr}, {"lookBackHours": hours})
        return read_model(EntityStats, body, "mde.ips.stats")

    async def ip_alerts(self, ip: str) -> list[Alert]:
        """Alerts related to an IP address (an unseen IP gives an empty list)."""
        body = await self._get("mde.ips.alerts", {"ip": check_ip(ip)})
        return listed_models(Alert, body, "mde.ips.alerts")

    # -- domains -------------------------------------------------------------------------------
    async def domain_stats(
        self, domain: str, look_back_hours: int = MAX_LOOK_BACK_HOURS
    ) -> EntityStats:
        """Prevalence of a domain (an unseen domain has prevalence 0)."""
        name, hours = check_domain(domain), check_look_back(look_back_hours)
        body = await self._get("mde.domains.stats", {"domain": name}, {"lookBackHours": hours})
        return read_model(EntityStats, body, "mde.domains.stats")

    async def domain_alerts(self, domain: str) -> list[Alert]:
        """Alerts related to a domain."""
        body = await self._get("mde.domains.alerts", {"domain": check_domain(domain)})
        return listed_models(Alert, body, "mde.domains.alerts")

    async def domain_machines(self, domain: str) -> list[Machine]:
        """Machines that communicated with a domain (Defender returns at most 500)."""
        body = await self._get("mde.domains.machines", {"domain": check_domain(domain)})
        return listed_models(Machine, body, "mde.domains.machines")

    # -- users ---------------------------------------------------------------------------------
    async def user_alerts(self, account_name: str) -> list[Alert]:
        """Alerts related to a user, by account (SAM) name such as ``jdoe``, not the UPN."""
        body = await self._get(
            "mde.users.alerts", {"user": check_sam_name(account_name, "account_name")}
        )
        return listed_models(Alert, body, "mde.users.alerts")

    async def user_machines(self, account_name: str) -> list[Machine]:
        """Machines a user logged on to, by account (SAM) name such as ``jdoe``, not the UPN."""
        body = await self._get(
            "mde.users.machines", {"user": check_sam_name(account_name, "account_name")}
        )
        return listed_models(Machine, body, "mde.users.machines")
