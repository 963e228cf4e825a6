"""Live response end to end: sessions, duplicates, results without the token, the library."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.tasks.live_response import (
    delete_library_file,
    download_live_response_result,
    get_file,
    get_live_response_script_result,
    list_library_files,
    put_file,
    run_live_response,
    run_script,
    upload_library_file,
)
from prefect_defender.tasks.machine_actions import (
    cancel_machine_action,
    get_machine_action,
    wait_for_machine_action,
)
from tests.machines.conftest import actions_of, held_actions, machines_of, requests

SCRIPT = "collect_triage.ps1"  # seeded in every tenant's library


def ws(emu: Any, tenants: dict[str, str], index: int) -> str:
    return str(machines_of(emu, tenants["contoso"])[index]["id"])


async def test_run_script_and_fetch_result_without_token(
    prefect_harness, fast, creds, tenants
) -> None:
    mid = ws(fast, tenants, 12)
    # no result before the session completes: the session is held in each unfinished state
    # while that is checked (the fast clock alone finishes it in 0.3 s, under CPU load before
    # the result task has even started), then let go
    with held_actions(fast, "Pending"):
        out = await run_script(creds, mid, SCRIPT, "IR-9 triage", "-Days 2")
        assert out.action.type == "LiveResponse" and not out.already_in_progress
        assert out.action.commands[0]["command"] == {
            "type": "RunScript",
            "params": [
                {"key": "ScriptName", "value": SCRIPT},
                {"key": "Args", "value": "-Days 2"},
            ],
        }
        assert (await get_machine_action(creds, out.action.id)).status == "Pending"
        with pytest.raises(NotFoundError):
            await get_live_response_script_result(creds, out.action.id)
    with held_actions(fast, "InProgress"):
        assert (await get_machine_action(creds, out.action.id)).status == "InProgress"
        with pytest.raises(NotFoundError):
            await get_live_response_script_result(creds, out.action.id)
    final = await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    assert final.status == "Succeeded"
    assert final.commands[0]["commandStatus"] == "Completed"
    fast.admin.reset_stats()
    result = await get_live_response_script_result(creds, out.action.id)
    assert result.exit_code == 0 and SCRIPT in (result.script_output or "")
    downloads = fast.admin.stats()["downloads"]
    assert downloads and all(d["authorization"] is False for d in downloads)
    with pytest.raises(BadRequestError):  # the session has one command
        await get_live_response_script_result(creds, out.action.id, 1)


async def test_several_commands_get_and_put_file(
    prefect_harness, fast, creds, tenants, tmp_path: Path
) -> None:
    mid = ws(fast, tenants, 13)
    out = await run_live_response(
        creds,
        mid,
        [
            {"type": "RunScript", "params": {"ScriptName": SCRIPT}},
            {"type": "GetFile", "params": {"Path": "C:\\Windows\\Temp\\triage.zip"}},
        ],
        "IR-9 collect",
    )
    await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    info = await download_live_response_result(creds, out.action.id, str(tmp_path / "f"), 1)
    assert info["bytes"] > 0
    assert b"triage.zip" in (tmp_path / "f").read_bytes()
    got = await get_file(creds, ws(fast, tenants, 14), "C:\\Users\\jdoe\\x.exe", "IR-9 file")
    assert got.action.commands[0]["command"]["type"] == "GetFile"
    put = await put_file(creds, ws(fast, tenants, 15), SCRIPT, "IR-9 tool")
    assert put.action.commands[0]["command"]["params"] == [{"key": "FileName", "value": SCRIPT}]
    with pytest.raises(BadRequestError, match="library"):  # PutFile needs a library file
        await put_file(creds, ws(fast, tenants, 16), "missing.ps1", "IR-9")


async def test_second_session_reports_the_running_one(
    prefect_harness, fast, creds, tenants
) -> None:
    tid = tenants["contoso"]
    mid = ws(fast, tenants, 17)
    fast.admin.patch_config(action_outcomes={f"{mid}/LiveResponse": "Pending"})
    first = await run_script(creds, mid, SCRIPT, "first")
    second = await get_file(creds, mid, "C:\\a.txt", "second")
    assert second.already_in_progress and second.action.id == first.action.id
    assert requests(fast.admin.stats(), "POST /api/machines/{id}/runliveresponse", 400) == 1
    assert len(actions_of(fast, tid, mid, "LiveResponse")) == 1
    # other action types are not blocked by a live response session
    cancelled = await cancel_machine_action(creds, first.action.id, "done")
    assert cancelled.status == "Cancelled"
    third = await run_script(creds, mid, SCRIPT, "after cancel")
    assert not third.already_in_progress and third.action.id != first.action.id


async def test_sessions_paced_by_the_live_response_limit(
    prefect_harness, fast, creds, tenants
) -> None:
    """15 sessions under the (time-scaled) 10/minute family limit: none answered 429."""
    ids = [ws(fast, tenants, i) for i in range(18, 33)]
    outs = await asyncio.gather(*(run_script(creds, m, SCRIPT, "sweep") for m in ids))
    assert len({o.action.id for o in outs}) == 15
    stats = fast.admin.stats()
    assert stats["throttled"] == 0
    assert requests(stats, "POST /api/machines/{id}/runliveresponse", 201) == 15


async def test_permissions_and_validation(prefect_harness, fresh, creds, readonly, tenants) -> None:
    mid = ws(fresh, tenants, 33)
    with pytest.raises(PermissionDeniedError) as info:
        await run_script(readonly, mid, SCRIPT, "no permission")
    assert "Machine.LiveResponse" in info.value.required
    with pytest.raises(PermissionDeniedError) as info:
        await list_library_files(readonly)
    assert "Library.Manage" in info.value.required
    fresh.admin.reset_stats()
    bad_commands: list[list[dict[str, Any]]] = [
        [],
        [{"type": "RunScript", "params": {"scriptName": SCRIPT}}],  # case-sensitive key
        [{"type": "RunScript", "params": {"Args": "-x"}}],  # ScriptName missing
        [{"type": "Execute", "params": {"ScriptName": SCRIPT}}],
        [{"type": "PutFile", "params": {"FileName": "..\\..\\evil.exe"}}],
        [{"type": "GetFile", "params": {"Path": "C:\\a\x00b"}}],
    ]
    for cmds in bad_commands:
        with pytest.raises(ValidationError, match="commands"):
            await run_live_response(creds, mid, cmds, "x")
    with pytest.raises(ValidationError, match="comment"):
        await run_script(creds, mid, SCRIPT, "")
    with pytest.raises(ValidationError, match="index"):
        await download_live_response_result(
            creds, "00000000-0000-0000-0000-000000000000", "/tmp/x", -1
        )
    async with creds.get_client() as client:
        with pytest.raises(ValidationError, match="20 MB"):
            await client.live_response.upload_library("big.bin", b"0" * (20 * 1024 * 1024 + 1))
    with pytest.raises(ValidationError, match="file_name"):
        await delete_library_file(creds, "../etc/passwd")
    assert requests(fresh.admin.stats()) == 0


async def test_library_upload_list_delete(prefect_harness, fresh, creds, tmp_path: Path) -> None:
    script = tmp_path / "sweep_m.ps1"
    script.write_text("param([string]$Name) Get-Process $Name\n")
    up = await upload_library_file(creds, str(script), "Lists processes", "-Name <n>")
    assert up.file_name == "sweep_m.ps1" and up.has_parameters
    with pytest.raises(BadRequestError, match="exists"):
        await upload_library_file(creds, str(script), "again")
    again = await upload_library_file(creds, str(script), "replaced", override=True)
    assert again.description == "replaced"
    listed = {f.file_name: f for f in await list_library_files(creds)}
    assert SCRIPT in listed and listed["sweep_m.ps1"].description == "replaced"
    assert listed["sweep_m.ps1"].creation_time is not None
    await delete_library_file(creds, "sweep_m.ps1")
    with pytest.raises(NotFoundError):
        await delete_library_file(creds, "sweep_m.ps1")
    with pytest.raises(ValidationError, match="path"):
        await upload_library_file(creds, str(tmp_path / "missing.ps1"))
