"""Threat and vulnerability management: software, CVEs, exposed machines, recommendations.

Documented ``$top`` maxima: software and recommendations 10,000, vulnerabilities **8,000**; the
paginators never ask for more. ``GET /machines/{id}/vulnerabilities`` has its own quota of 50
calls per minute (family ``machine_vulnerabilities``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from pydantic import BaseModel

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.vulnerabilities import (
    ExposureScore,
    MachineReference,
    Recommendation,
    Software,
    Vulnerability,
    VulnerabilitySeverity,
)
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect, iterate_skip, listed_models
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_choice, check_machine_id

__all__ = [
    "MAX_TOP",
    "VulnerabilitiesAPI",
    "check_software_id",
    "check_vulnerability_id",
]

M = TypeVar("M", bound=BaseModel)

#: documented ``$top`` maxima per collection
MAX_TOP = {
    "mde.tvm.software": 10_000,
    "mde.tvm.vulnerabilities": 8_000,
    "mde.tvm.recommendations": 10_000,
}
SOFTWARE_FILTERS = ODataFilter({"id", "name", "vendor"})
VULNERABILITY_FILTERS = ODataFilter(
    {"id", "name", "description", "cvssV3", "publishedOn", "severity", "updatedOn"}
)
RECOMMENDATION_FILTERS = ODataFilter(
    {
        "id",
        "productName",
        "vendor",
        "recommendedVersion",
        "recommendationCategory",
        "subCategory",
        "severityScore",
        "remediationType",
        "recommendedProgram",
        "recommendedVendor",
        "status",
    }
)
_SOFTWARE_ID = re.compile(r"^[^/?#\\\s]{1,100}-_-[^/?#\\\s]{1,200}$")
_VULN_ID = re.compile(r"^(CVE|TVM)-\d{4}-\d{4,}$")


def check_software_id(value: Any, field: str = "software_id") -> str:
    """A software id of the form ``vendor-_-name`` (e.g. ``microsoft-_-edge``)."""
    text = value.strip() if isinstance(value, str) else ""
    if not _SOFTWARE_ID.match(text):
        raise ValidationError(
            f"{field}: {str(value)[:60]!r} is not a software id ('vendor-_-name', e.g. "
            "'microsoft-_-edge')",
            field=field,
        )
    return text


def check_vulnerability_id(value: Any, field: str = "cve") -> str:
    """A vulnerability id: ``CVE-2024-12345`` (or Microsoft's ``TVM-2020-0002``)."""
    text = value.strip().upper() if isinstance(value, str) else ""
    if not _VULN_ID.match(text):
        raise ValidationError(
            f"{field}: {str(value)[:40]!r} is not a vulnerability id such as 'CVE-2024-12345'",
            field=field,
        )
    return text


class VulnerabilitiesAPI(Resource):
    """Software inventory, vulnerabilities, exposed machines and recommendations."""

    def _iterate(
        self,
        name: str,
        model: type[M],
        expr: str | None,
        page_size: int | None,
        limit: int | None,
    ) -> AsyncIterator[M]:
        maximum = MAX_TOP[name]
        size = maximum if page_size is None else page_size
        if not 0 < size <= maximum:
            raise ValidationError(
                f"page_size: 1 to {maximum:,} (the documented $top maximum of this list)",
                field="page_size",
            )

        async def gen() -> AsyncIterator[M]:
            async for row in iterate_skip(
                self.transport,
                endpoint(name),
                page_size=size,
                params={"$filter": expr} if expr else None,
                limit=limit,
            ):
                yield read_model(model, row, name)

        return gen()

    def iterate_software(
        self,
        *,
        vendor: str | None = None,
        name: str | None = None,
        odata_filter: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Software]:
        """The software inventory ($top <= 10,000)."""
        f = SOFTWARE_FILTERS
        expr = f.and_(
            odata_filter,
            f.eq("vendor", vendor) if vendor else None,
            f.eq("name", name) if name else None,
        )
        return self._iterate("mde.tvm.software", Software, expr, page_size, limit)

    async def software(self, limit: int | None = None, **kw: Any) -> list[Software]:
        """All of :meth:`iterate_software` as a list."""
        return await collect(self.iterate_software(limit=limit, **kw))

    def iterate_vulnerabilities(
        self,
        *,
        severity: VulnerabilitySeverity | str | None = None,
        min_cvss: float | None = None,
        odata_filter: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Vulnerability]:
        """Every vulnerability in the organisation ($top <= 8,000, as documented)."""
        f = VULNERABILITY_FILTERS
        if min_cvss is not None and (
            isinstance(min_cvss, bool)
            or not isinstance(min_cvss, int | float)
            or not 0 <= min_cvss <= 10
        ):
            raise ValidationError("min_cvss: a CVSS score from 0 to 10", field="min_cvss")
        expr = f.and_(
            odata_filter,
            f.eq("severity", check_choice(severity, VulnerabilitySeverity, "severity"))
            if severity
            else None,
            f.ge("cvssV3", float(min_cvss)) if min_cvss is not None else None,
        )
        return self._iterate("mde.tvm.vulnerabilities", Vulnerability, expr, page_size, limit)

    async def vulnerabilities(self, limit: int | None = None, **kw: Any) -> list[Vulnerability]:
        """All of :meth:`iterate_vulnerabilities` as a list."""
        return await collect(self.iterate_vulnerabilities(limit=limit, **kw))

    async def machine_vulnerabilities(self, machine_id: str) -> list[Vulnerability]:
        """Vulnerabilities discovered on one machine (50 calls per minute)."""
        body = await self.transport.request_json(
            endpoint("mde.machines.vulnerabilities"),
            path_params={"id": check_machine_id(machine_id)},
        )
        return listed_models(Vulnerability, body, "mde.machines.vulnerabilities")

    async def software_vulnerabilities(self, software_id: str) -> list[Vulnerability]:
        """Vulnerabilities of one software product."""
        body = await self.transport.request_json(
            endpoint("mde.tvm.software_vulnerabilities"),
            path_params={"id": check_software_id(software_id)},
        )
        return listed_models(Vulnerability, body, "mde.tvm.software_vulnerabilities")

    async def machines_by_vulnerability(self, cve: str) -> list[MachineReference]:
        """Machines exposed to a vulnerability."""
        body = await self.transport.request_json(
            endpoint("mde.tvm.vulnerability_machines"),
            path_params={"id": check_vulnerability_id(cve)},
        )
        return listed_models(MachineReference, body, "mde.tvm.vulnerability_machines")

    def iterate_recommendations(
        self,
        *,
        status: str | None = None,
        product_name: str | None = None,
        odata_filter: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Recommendation]:
        """Security recommendations ($top <= 10,000)."""
        f = RECOMMENDATION_FILTERS
        expr = f.and_(
            odata_filter,
            f.eq("status", status) if status else None,
            f.eq("productName", product_name) if product_name else None,
        )
        return self._iterate("mde.tvm.recommendations", Recommendation, expr, page_size, limit)

    async def recommendations(self, limit: int | None = None, **kw: Any) -> list[Recommendation]:
        """All of :meth:`iterate_recommendations` as a list."""
        return await collect(self.iterate_recommendations(limit=limit, **kw))

    async def exposure_score(self) -> ExposureScore:
        """The organisation's exposure score (``{time, score}``)."""
        body = await self.transport.request_json(endpoint("mde.tvm.exposure_score"))
        return read_model(ExposureScore, body, "mde.tvm.exposure_score")
