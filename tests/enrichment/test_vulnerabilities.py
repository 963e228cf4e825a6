"""Threat and vulnerability management end to end: software, CVEs ($top <= 8,000), exposed
machines, per-machine vulnerabilities (own quota family), recommendations, exposure score."""

from __future__ import annotations

import pytest

from prefect_defender.api.errors import BadRequestError, NotFoundError, ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks import vulnerabilities as tvm


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


def _count(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


async def test_inventory_cves_and_exposure(prefect_harness, fresh, creds, tenants) -> None:
    software = await tvm.list_software(creds)
    assert len(software) == 10 and all("-_-" in s.id for s in software)
    assert [s.id for s in await tvm.list_software(creds, vendor="microsoft")] == [
        "microsoft-_-edge",
        "microsoft-_-office",
    ]
    cves = await tvm.list_vulnerabilities(creds)
    assert cves and all(c.id.startswith("CVE-") and c.cvss_v3 is not None for c in cves)
    high = await tvm.list_vulnerabilities(creds, min_cvss=7.0)
    assert high and all((c.cvss_v3 or 0) >= 7.0 for c in high) and len(high) < len(cves)
    assert len(await tvm.list_vulnerabilities(creds, limit=3)) == 3
    per_sw = await tvm.list_software_vulnerabilities(creds, software[0].id)
    assert per_sw and {v.id for v in per_sw} <= {c.id for c in cves}
    exposed = await tvm.list_machines_by_vulnerability(creds, per_sw[0].id.lower())
    machines = {m["id"] for m in fresh.admin.dump(tenants["contoso"], "machines")}
    assert exposed and {m.id for m in exposed} <= machines
    assert len(exposed) == per_sw[0].exposed_machines
    on_machine = await tvm.list_machine_vulnerabilities(creds, exposed[0].id)
    assert per_sw[0].id in {v.id for v in on_machine}
    rows = [
        r
        for r in fresh.admin.stats()["requests"]
        if r["route"] == "GET /api/machines/{id}/vulnerabilities"
    ]
    assert {r["family"] for r in rows} == {"machine_vulnerabilities"}
    recs = await tvm.list_recommendations(creds, status="Active")
    assert len(recs) == 10 and all(r.id.startswith("va-_-") for r in recs)
    score = await tvm.get_exposure_score(creds)
    assert score.time is not None and 0 < (score.score or 0) <= 100


async def test_errors(prefect_harness, fresh, creds) -> None:
    with pytest.raises(NotFoundError):
        await tvm.list_software_vulnerabilities(creds, "nobody-_-nothing")
    with pytest.raises(NotFoundError):
        await tvm.list_machines_by_vulnerability(creds, "CVE-1999-0001")
    with pytest.raises(NotFoundError):
        await tvm.list_machine_vulnerabilities(creds, "e" * 40)
    async with creds.get_client() as client:  # the documented $top maximum is enforced
        with pytest.raises(BadRequestError, match="8000"):
            await client.call("mde.tvm.vulnerabilities", params={"$top": 8001})
        assert (await client.call("mde.tvm.vulnerabilities", params={"$top": 8000}))["value"]
        fresh.admin.reset_stats()
        with pytest.raises(ValidationError, match="8,000"):
            await client.vulnerabilities.vulnerabilities(page_size=8001)
    with pytest.raises(ValidationError):
        await tvm.list_machines_by_vulnerability(creds, "CVE-XYZ")
    with pytest.raises(ValidationError):
        await tvm.list_software_vulnerabilities(creds, "../machines")
    with pytest.raises(ValidationError):
        await tvm.list_vulnerabilities(creds, severity="Severe")
    with pytest.raises(ValidationError):
        await tvm.list_machine_vulnerabilities(creds, "ws-001")
    assert _count(fresh.admin.stats()) == 0
