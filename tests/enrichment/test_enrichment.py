"""Entity enrichment end to end: files, IPs, domains, users and ``enrich_entities``.

The emulator derives everything from the seeded incidents: the demo incident (1001) names the
IOC file, the C2 IP and domain and the user ``jdoe`` on its workstation, and the same IOCs were
seen on two more workstations two hours ago (as in the hunting tables).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.api.models.enrichment import EntityEnrichment
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks import enrichment as en

SHA256 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
SHA1 = "356a192b7913b04c54574d18c28d46e6395428ab"
MD5 = "c4ca4238a0b923820dcc509a6f75849b"
C2_IP = "203.0.113.66"


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


@pytest.fixture
def readonly(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, app="readonly")


def _count(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


def _demo_machine(fresh: Any, tenant: str) -> str:
    alerts = fresh.admin.dump(tenant, "alerts")
    return str(next(a["machineId"] for a in alerts if a["incidentId"] == 1001))


async def test_files(prefect_harness, fresh, creds, tenants) -> None:
    info = await en.get_file_info(creds, SHA256)
    assert (info.sha1, info.sha256, info.md5) == (SHA1, SHA256, MD5)
    assert info.determination_type == "Malware"
    assert (await en.get_file_info(creds, SHA1.upper())).sha256 == SHA256
    stats = await en.get_file_stats(creds, SHA1)
    assert stats.sha1 == SHA1 and stats.organization_prevalence == 3
    assert stats.top_file_names == ["invoice_update.exe"] and stats.global_prevalence
    recent = await en.get_file_stats(creds, SHA256, look_back_hours=1)
    assert recent.organization_prevalence == 1  # the other two sightings are 2 hours old
    alerts = await en.get_file_alerts(creds, SHA1)
    assert {a.incident_id for a in alerts} == {1001}
    machines = await en.get_file_machines(creds, SHA1)
    assert len(machines) == 3 and _demo_machine(fresh, tenants["contoso"]) in {
        m.id for m in machines
    }
    unknown = "0" * 40
    assert await en.get_file_alerts(creds, unknown) == []  # documented: empty 200
    assert await en.get_file_machines(creds, unknown) == []
    with pytest.raises(NotFoundError):
        await en.get_file_info(creds, "0" * 64)
    with pytest.raises(NotFoundError):
        await en.get_file_stats(creds, unknown)
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match=r"SHA-1 only.*SHA-256"):
        await en.get_file_machines(creds, SHA256)
    with pytest.raises(ValidationError, match=r"SHA-1 only.*MD5"):
        await en.get_file_alerts(creds, MD5)
    with pytest.raises(ValidationError, match="720"):
        await en.get_file_stats(creds, SHA1, look_back_hours=721)
    with pytest.raises(ValidationError):
        await en.get_file_stats(creds, SHA1, look_back_hours=0)
    with pytest.raises(ValidationError):
        await en.get_file_info(creds, MD5)  # the file page takes SHA-1 or SHA-256
    assert _count(fresh.admin.stats()) == 0


async def test_file_endpoints_enforce_the_contract_server_side(prefect_harness, fresh, creds):
    async with creds.get_client() as client:
        with pytest.raises(BadRequestError) as info:
            await client.call("mde.files.machines", path_params={"id": SHA256})
        assert info.value.code == "InvalidHashValue"
        with pytest.raises(BadRequestError, match="720"):
            await client.call(
                "mde.files.stats", path_params={"id": SHA1}, params={"lookBackHours": 721}
            )


async def test_ips(prefect_harness, fresh, creds) -> None:
    stats = await en.get_ip_stats(creds, C2_IP)
    assert stats.ip_address == C2_IP and stats.organization_prevalence == 3
    assert stats.org_first_seen is not None and stats.org_last_seen is not None
    assert {a.incident_id for a in await en.get_ip_alerts(creds, C2_IP)} >= {1001}
    unseen = await en.get_ip_stats(creds, "192.0.2.250", look_back_hours=24)
    assert unseen.organization_prevalence == 0 and unseen.org_first_seen is None
    assert await en.get_ip_alerts(creds, "2001:db8::1") == []
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        await en.get_ip_stats(creds, "300.1.1.1")
    with pytest.raises(ValidationError):
        await en.get_ip_alerts(creds, "10.0.0.0/8")
    assert _count(fresh.admin.stats()) == 0
    async with creds.get_client() as client:  # what the service answers to a bad IP
        with pytest.raises(BadRequestError) as info:
            await client.call("mde.ips.alerts", path_params={"ip": "300.1.1.1"})
        assert info.value.code == "InvalidIpAddress"


async def test_domains(prefect_harness, fresh, creds, readonly) -> None:
    stats = await en.get_domain_stats(creds, "evil.example")
    assert stats.host == "evil.example" and stats.organization_prevalence == 3
    alerts = await en.get_domain_alerts(creds, "update-check.evil.example")
    assert {a.incident_id for a in alerts} == {1001}
    machines = await en.get_domain_machines(creds, "EVIL.example")
    assert len(machines) == 3
    unseen = await en.get_domain_stats(creds, "never-seen.example")
    assert unseen.organization_prevalence == 0
    assert await en.get_domain_machines(creds, "never-seen.example") == []
    # the domain-alerts page asks for the write permission, which the readonly app lacks
    with pytest.raises(PermissionDeniedError) as info:
        await en.get_domain_alerts(readonly, "evil.example")
    assert "Alert.ReadWrite.All" in str(info.value)
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        await en.get_domain_stats(creds, "https://evil.example/")
    assert _count(fresh.admin.stats()) == 0


async def test_users(prefect_harness, fresh, creds, readonly, tenants) -> None:
    alerts = await en.get_user_alerts(creds, "jdoe")
    assert 1001 in {a.incident_id for a in alerts}
    machines = await en.get_user_machines(creds, "CONTOSO\\jdoe")
    assert _demo_machine(fresh, tenants["contoso"]) in {m.id for m in machines}
    assert await en.get_user_alerts(creds, "nobody") == []
    with pytest.raises(PermissionDeniedError) as info:  # documented: Machine.ReadWrite.All
        await en.get_user_machines(readonly, "jdoe")
    assert "Machine.ReadWrite.All" in str(info.value)
    assert await en.get_user_alerts(readonly, "jdoe")  # Alert.Read.All is enough here
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="not the user principal name"):
        await en.get_user_alerts(creds, "jdoe@contoso.example")
    with pytest.raises(ValidationError, match="not the user principal name"):
        await en.get_user_machines(creds, "jdoe@contoso.example")
    assert _count(fresh.admin.stats()) == 0


async def test_enrich_entities_one_outcome_each(prefect_harness, fresh, creds) -> None:
    out = await en.enrich_entities(
        creds,
        files=[SHA256, "1" * 64, "xyz", SHA256],
        ips=[C2_IP],
        domains=["evil.example"],
        users=["jdoe", "jdoe@contoso.example"],
    )
    assert [o.item for o in out] == [
        f"file:{SHA256}",
        f"file:{'1' * 64}",
        "file:xyz",
        f"file:{SHA256}",
        f"ip:{C2_IP}",
        "domain:evil.example",
        "user:jdoe",
        "user:jdoe@contoso.example",
    ]
    assert [o.status for o in out] == [
        "succeeded",
        "failed",
        "failed",
        "succeeded",
        "succeeded",
        "succeeded",
        "succeeded",
        "failed",
    ]
    assert out[1].error["code"] == "ResourceNotFound"
    assert out[2].error["type"] == "ValidationError"
    assert "user principal name" in (out[7].reason or "")
    f = out[0].result
    assert isinstance(f, EntityEnrichment) and f.file and f.file.sha1 == SHA1
    assert f.stats and f.stats.organization_prevalence == 3
    assert len(f.machines) == 3 and f.alerts and not f.errors
    ip, dom, user = out[4].result, out[5].result, out[6].result
    assert ip.stats.organization_prevalence == 3 and ip.alert_ids
    assert dom.stats.host == "evil.example" and len(dom.machine_names) == 3
    assert user.alerts and user.machines
    stats = fresh.admin.stats()
    assert _count(stats, "GET /api/files/{id}") == 2  # the duplicate is looked up once
    assert _count(stats, "GET /api/users/{user}/alerts") == 1  # never for the UPN


async def test_enrich_entities_records_partial_failures(prefect_harness, fresh, readonly):
    out = await en.enrich_entities(readonly, domains=["evil.example"], users=["jdoe"])
    assert [o.status for o in out] == ["succeeded", "succeeded"]
    dom, user = out[0].result, out[1].result
    assert dom.stats.organization_prevalence == 3 and dom.machines
    assert "Alert.ReadWrite.All" in dom.errors["alerts"]
    assert user.alerts and "Machine.ReadWrite.All" in user.errors["machines"]


@given(upn=st.emails())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_user_endpoints_refuse_upns(fresh, creds, upn: str) -> None:
    fresh.admin.reset_stats()
    for task in (en.get_user_alerts, en.get_user_machines):
        with pytest.raises(ValidationError, match="not the user principal name"):
            asyncio.run(task.fn(creds, upn))
    assert _count(fresh.admin.stats()) == 0


@given(sha256=st.text("0123456789abcdefABCDEF", min_size=64, max_size=64))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_sha1_only_endpoints_refuse_sha256(fresh, creds, sha256: str) -> None:
    fresh.admin.reset_stats()
    for task in (en.get_file_machines, en.get_file_alerts):
        with pytest.raises(ValidationError, match="SHA-256"):
            asyncio.run(task.fn(creds, sha256))
    assert _count(fresh.admin.stats()) == 0
