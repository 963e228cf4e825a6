"""Live response sessions, result downloads and the library, end to end.

(Moved unchanged from ``test_enrichment_tvm_live.py`` when that file was split per area.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_defender.api.errors import BadRequestError, NotFoundError, ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks import live_response as lr
from prefect_defender.tasks.machine_actions import wait_for_machine_action


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


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
