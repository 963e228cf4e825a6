"""Entity enrichment: files, IP addresses, domains and users."""

from __future__ import annotations

from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import Alert
from prefect_defender.api.models.entities import EntityStats, FileInfo
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    check_domain,
    check_hash,
    check_ip,
    check_sam_name,
    check_sha1,
)

__all__ = ["EntitiesAPI"]


def _sha1_only(value: str) -> str:
    text = str(value).strip()
    if len(text) == 64:
        raise ValidationError(
            "file: this endpoint takes a SHA-1 only; the given value is a SHA-256",
            field="file",
        )
    return check_sha1(text, "file")


class EntitiesAPI(Resource):
    """Files, IPs, domains and users: statistics and related alerts and machines."""

    async def _get(self, name: str, params: dict[str, Any], query: Any = None) -> Any:
        return await self.transport.request_json(endpoint(name), path_params=params, params=query)

    async def file_info(self, file_hash: str) -> FileInfo:
        """File information by SHA-1 or SHA-256."""
        h = check_hash(file_hash, "file", ("sha1", "sha256"))
        return FileInfo.model_validate(await self._get("mde.files.get", {"id": h}))

    async def file_stats(self, file_hash: str, look_back_hours: int = 720) -> EntityStats:
        """Prevalence of a file over ``look_back_hours`` (at most 720)."""
        h = check_hash(file_hash, "file", ("sha1", "sha256"))
        if isinstance(look_back_hours, bool) or not 0 < int(look_back_hours) <= 720:
            raise ValidationError("look_back_hours: between 1 and 720", field="look_back_hours")
        body = await self._get("mde.files.stats", {"id": h}, {"lookBackHours": look_back_hours})
        return EntityStats.model_validate(body)

    async def file_alerts(self, sha1: str) -> list[Alert]:
        """Alerts related to a file (SHA-1 only; an unknown file gives an empty list)."""
        body = await self._get("mde.files.alerts", {"id": _sha1_only(sha1)})
        return [Alert.model_validate(a) for a in body.get("value", [])]

    async def file_machines(self, sha1: str) -> list[Machine]:
        """Machines related to a file (SHA-1 only)."""
        body = await self._get("mde.files.machines", {"id": _sha1_only(sha1)})
        return [Machine.model_validate(m) for m in body.get("value", [])]

    async def ip_stats(self, ip: str) -> EntityStats:
        """Prevalence of an IP address."""
        return EntityStats.model_validate(await self._get("mde.ips.stats", {"ip": check_ip(ip)}))

    async def ip_alerts(self, ip: str) -> list[Alert]:
        """Alerts related to an IP address."""
        body = await self._get("mde.ips.alerts", {"ip": check_ip(ip)})
        return [Alert.model_validate(a) for a in body.get("value", [])]

    async def domain_stats(self, domain: str) -> EntityStats:
        """Prevalence of a domain."""
        body = await self._get("mde.domains.stats", {"domain": check_domain(domain)})
        return EntityStats.model_validate(body)

    async def domain_alerts(self, domain: str) -> list[Alert]:
        """Alerts related to a domain."""
        body = await self._get("mde.domains.alerts", {"domain": check_domain(domain)})
        return [Alert.model_validate(a) for a in body.get("value", [])]

    async def domain_machines(self, domain: str) -> list[Machine]:
        """Machines that communicated with a domain (at most 500)."""
        body = await self._get("mde.domains.machines", {"domain": check_domain(domain)})
        return [Machine.model_validate(m) for m in body.get("value", [])]

    async def user_alerts(self, account_name: str) -> list[Alert]:
        """Alerts related to a user, by account (SAM) name, not UPN."""
        body = await self._get("mde.users.alerts", {"user": check_sam_name(account_name)})
        return [Alert.model_validate(a) for a in body.get("value", [])]

    async def user_machines(self, account_name: str) -> list[Machine]:
        """Machines a user logged on to, by account (SAM) name, not UPN."""
        body = await self._get("mde.users.machines", {"user": check_sam_name(account_name)})
        return [Machine.model_validate(m) for m in body.get("value", [])]
