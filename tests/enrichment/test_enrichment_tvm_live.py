"""Enrichment, investigations, vulnerability management and live response end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_defender.api.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks import enrichment as en
from prefect_defender.tasks import investigations as inv
from prefect_defender.tasks import live_response as lr
from prefect_defender.tasks import vulnerabilities as tvm
from prefect_defender.tasks.machine_actions import wait_for_machine_action

SHA256 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
SHA1 = "356a192b7913b04c54574d18c28d46e6395428ab"


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


def _count(stats: dict) -> int:
    return sum(r["count"] for r in stats["requests"])


async def test_file_enrichment(prefect_harness, fresh, creds) -> None:
    info = await en.get_file_info(creds, SHA256)
    assert info.sha1 == SHA1 and info.determination_type == "Malware"
    stats = await en.get_file_stats(creds, SHA1, look_back_hours=48)
    assert int(stats.org_prevalence or 0) >= 1 and "invoice_update.exe" in stats.top_file_names
    alerts = await en.get_file_alerts(creds, SHA1)
    machines = await en.get_file_machines(creds, SHA1)
    assert alerts and machines
    assert await en.get_file_alerts(creds, "0" * 40) == []  # unknown file: empty 200
    with pytest.raises(NotFoundError):
        await en.get_file_info(creds, "0" * 64)
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="SHA-1 only"):
        await en.get_file_machines(creds, SHA256)
    with pytest.raises(ValidationError):
        await en.get_file_stats(creds, SHA1, look_back_hours=721)
    assert _count(fresh.admin.stats()) == 0


async def test_ip_domain_user_enrichment(prefect_harness, fresh, creds) -> None:
    assert (await en.get_ip_stats(creds, "203.0.113.66")).org_first_seen is not None
    assert await en.get_ip_alerts(creds, "203.0.113.66")
    assert (await en.get_domain_stats(creds, "evil.example")).org_prevalence != "0"
    assert await en.get_domain_alerts(creds, "update-check.evil.example")
    assert await en.get_domain_machines(creds, "evil.example")
    assert await en.get_user_alerts(creds, "jdoe")
    assert await en.get_user_machines(creds, "CONTOSO\\jdoe")
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="not the user principal name"):
        await en.get_user_alerts(creds, "jdoe@contoso.example")
    with pytest.raises(ValidationError):
        await en.get_ip_stats(creds, "300.1.1.1")
    assert _count(fresh.admin.stats()) == 0


async def test_enrich_entities_one_outcome_each(prefect_harness, fresh, creds) -> None:
    out = await en.enrich_entities(
        creds,
        files=[SHA256, "1" * 64],
        ips=["203.0.113.66"],
        domains=["evil.example"],
        users=["jdoe"],
    )
    assert [o.item for o in out] == [
        f"file:{SHA256}",
        f"file:{'1' * 64}",
        "ip:203.0.113.66",
        "domain:evil.example",
        "user:jdoe",
    ]
    assert [o.status for o in out] == ["succeeded", "failed", "succeeded", "succeeded", "succeeded"]
    assert out[1].error["code"] == "ResourceNotFound"


async def test_readonly_user_machines_needs_write_permission(prefect_harness, fresh, conn):
    ro = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    with pytest.raises(PermissionDeniedError) as info:
        await en.get_user_machines(ro, "jdoe")  # documented as Machine.ReadWrite.All
    assert "Machine.ReadWrite.All" in str(info.value)


async def test_investigations(prefect_harness, fresh, creds, tenants) -> None:
    running = await inv.list_investigations(creds, state="Running")
    assert running and all(i.state == "Running" for i in running)
    one = await inv.get_investigation(creds, running[0].id)
    assert one.triggering_alert_id
    mid = fresh.admin.dump(tenants["contoso"], "machines")[0]["id"]
    started = await inv.start_investigation(creds, mid, "IR-9")
    assert started.machine_id == mid and started.state == "Running"
    with pytest.raises(NotFoundError):
        await inv.get_investigation(creds, "1")


async def test_vulnerability_management(prefect_harness, fresh, creds, tenants) -> None:
    software = await tvm.list_software(creds)
    assert len(software) == 10
    cves = await tvm.list_vulnerabilities(creds)
    assert cves and all(c.id.startswith("CVE-") for c in cves)
    per_sw = await tvm.list_software_vulnerabilities(creds, software[0].id)
    assert per_sw
    exposed = await tvm.list_machines_by_vulnerability(creds, per_sw[0].id)
    assert exposed
    on_machine = await tvm.list_machine_vulnerabilities(creds, exposed[0]["id"])
    assert per_sw[0].id in [v.id for v in on_machine]
    assert await tvm.list_recommendations(creds)
    assert (await tvm.get_exposure_score(creds)).score > 0
    with pytest.raises(ValidationError):
        await tvm.list_machines_by_vulnerability(creds, "CVE-XYZ")
    with pytest.raises(NotFoundError):
        await tvm.list_software_vulnerabilities(creds, "nobody-_-nothing")


async def test_live_response_session(prefect_harness, fresh, creds, tenants, tmp_path: Path):
    fresh.admin.patch_config(time_scale=300.0)
    try:
        mid = [
            m
            for m in fresh.admin.dump(tenants["contoso"], "machines")
            if "-ws-" in m["computerDnsName"]
        ][7]["id"]
        out = await lr.run_live_response(
            creds,
            mid,
            [
                {
                    "type": "RunScript",
                    "params": {"ScriptName": "collect_triage.ps1", "Args": "-Days 2"},
                },
                {"type": "GetFile", "params": {"Path": "C:\\Temp\\x.log"}},
            ],
            "IR-10 triage",
        )
        assert out.action.type == "LiveResponse" and len(out.action.commands) == 2
        dup = await lr.run_script(creds, mid, "collect_triage.ps1", "second session")
        assert dup.already_in_progress and dup.action.id == out.action.id
        await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
        info = await lr.download_live_response_result(
            creds, out.action.id, str(tmp_path / "r.json"), index=0
        )
        assert json.loads((tmp_path / "r.json").read_text())["exit_code"] == 0
        assert info["bytes"] > 0
        await lr.download_live_response_result(creds, out.action.id, str(tmp_path / "f"), 1)
        assert b"C:\\Temp\\x.log" in (tmp_path / "f").read_bytes()
        downloads = fresh.admin.stats()["downloads"]
        assert downloads and not any(d["authorization"] for d in downloads)
        with pytest.raises(BadRequestError, match="library"):
            await lr.run_script(creds, mid, "missing.ps1", "x")
        with pytest.raises(ValidationError):
            await lr.run_live_response(creds, mid, [{"type": "GetFile", "params": {}}], "x")
    finally:
        fresh.admin.patch_config(time_scale=1.0)


async def test_library(prefect_harness, fresh, creds, tmp_path: Path) -> None:
    script = tmp_path / "sweep.ps1"
    script.write_text("Get-Process\n")
    up = await lr.upload_library_file(creds, str(script), "Lists processes", "-Name <n>")
    assert up.file_name == "sweep.ps1" and up.has_parameters
    with pytest.raises(BadRequestError, match="already exists"):
        await lr.upload_library_file(creds, str(script), "again")
    again = await lr.upload_library_file(creds, str(script), "again", override=True)
    assert again.description == "again"
    names = [f.file_name for f in await lr.list_library_files(creds)]
    assert "sweep.ps1" in names and "collect_triage.ps1" in names
    await lr.delete_library_file(creds, "sweep.ps1")
    with pytest.raises(NotFoundError):
        await lr.delete_library_file(creds, "sweep.ps1")
    with pytest.raises(ValidationError):
        await lr.delete_library_file(creds, "../etc/passwd")
