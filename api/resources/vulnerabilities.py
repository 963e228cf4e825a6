"""Threat and vulnerability management: software, CVEs, exposed machines, recommendations."""

from __future__ import annotations

from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.entities import (
    ExposureScore,
    Recommendation,
    Software,
    Vulnerability,
)
from prefect_defender.api.paging import iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_machine_id

__all__ = ["VulnerabilitiesAPI"]


def _check_software_id(value: str) -> str:
    text = str(value).strip()
    if not text or any(c in text for c in "/?#\\ ") or len(text) > 200:
        raise ValidationError(
            f"software_id: {text[:60]!r} is not a software id (vendor-_-name)", field="software_id"
        )
    return text


def _check_cve(value: str) -> str:
    text = str(value).strip().upper()
    import re

    if not re.fullmatch(r"CVE-\d{4}-\d{4,}", text):
        raise ValidationError(f"cve: {text[:40]!r} is not a CVE id", field="cve")
    return text


class VulnerabilitiesAPI(Resource):
    """Software inventory, vulnerabilities and recommendations."""

    async def _all(self, name: str, page: int, limit: int | None, path: Any = None) -> list[Any]:
        return [
            x
            async for x in iterate_skip(
                self.transport, endpoint(name), page_size=page, path_params=path, limit=limit
            )
        ]

    async def software(self, limit: int | None = None) -> list[Software]:
        """The software inventory ($top <= 10,000)."""
        return [
            Software.model_validate(x) for x in await self._all("mde.tvm.software", 10_000, limit)
        ]

    async def vulnerabilities(self, limit: int | None = None) -> list[Vulnerability]:
        """All vulnerabilities ($top <= 8,000, as documented)."""
        rows = await self._all("mde.tvm.vulnerabilities", 8_000, limit)
        return [Vulnerability.model_validate(x) for x in rows]

    async def machine_vulnerabilities(self, machine_id: str) -> list[Vulnerability]:
        """Vulnerabilities on one machine (50 calls per minute)."""
        body = await self.transport.request_json(
            endpoint("mde.machines.vulnerabilities"),
            path_params={"id": check_machine_id(machine_id)},
        )
        return [Vulnerability.model_validate(x) for x in body.get("value", [])]

    async def software_vulnerabilities(self, software_id: str) -> list[Vulnerability]:
        """Vulnerabilities of one software."""
        body = await self.transport.request_json(
            endpoint("mde.tvm.software_vulnerabilities"),
            path_params={"id": _check_software_id(software_id)},
        )
        return [Vulnerability.model_validate(x) for x in body.get("value", [])]

    async def machines_by_vulnerability(self, cve: str) -> list[dict[str, Any]]:
        """Machines exposed to a CVE."""
        body = await self.transport.request_json(
            endpoint("mde.tvm.vulnerability_machines"), path_params={"id": _check_cve(cve)}
        )
        return list(body.get("value", []))

    async def recommendations(self, limit: int | None = None) -> list[Recommendation]:
        """Security recommendations."""
        rows = await self._all("mde.tvm.recommendations", 10_000, limit)
        return [Recommendation.model_validate(x) for x in rows]

    async def exposure_score(self) -> ExposureScore:
        """The organisation's exposure score."""
        body = await self.transport.request_json(endpoint("mde.tvm.exposure_score"))
        return ExposureScore.model_validate(body)
