"""Machine actions end to end against the emulator: lifecycle, duplicates, reconciliation,
bulk pacing, downloads without the token, validation before any request."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api.errors import BadRequestError, NotFoundError, ValidationError
from prefect_defender.api.resources.machine_actions import ActionWaitTimeoutError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.machine_actions import (
    bulk_machine_action,
    cancel_machine_action,
    collect_investigation_package,
    download_investigation_package,
    get_investigation_package_uri,
    get_machine_action,
    isolate_machine,
    isolate_machines,
    list_machine_actions,
    offboard_machine,
    restrict_code_execution,
    run_antivirus_scan,
    run_antivirus_scans,
    stop_and_quarantine_file,
    unisolate_machine,
    unisolate_machines,
    unrestrict_code_execution,
    wait_for_machine_action,
)

FAST = {"time_scale": 300.0, "action_pending_seconds": 30, "action_running_seconds": 60}


@pytest.fixture
def fast(fresh: Any) -> Any:
    fresh.admin.patch_config(**FAST, action_outcomes={})
    yield fresh
    fresh.admin.patch_config(time_scale=1.0, action_outcomes={})


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    # client limits scaled like the emulator's
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0)


def machines_of(emu: Any, tenant: str, kind: str = "-ws-") -> list[dict]:
    return [m for m in emu.admin.dump(tenant, "machines") if kind in m["computerDnsName"]]


def actions_of(emu: Any, tenant: str, machine_id: str, kind: str) -> list[dict]:
    return [
        a
        for a in emu.admin.dump(tenant, "machineActions")
        if a["machineId"] == machine_id and a["type"] == kind
    ]


def _requests(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


async def test_isolate_and_wait_until_succeeded(prefect_harness, fast, creds, tenants) -> None:
    mid = machines_of(fast, tenants["contoso"])[0]["id"]
    out = await isolate_machine(creds, mid, "IR-1 test", "Selective")
    assert out.action.type == "Isolate" and out.action.scope == "Selective"
    assert out.action.status == "Pending" and not out.already_in_progress
    assert "[ref:" in (out.action.requestor_comment or "")
    final = await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    assert final.status == "Succeeded"
    machine = next(m for m in fast.admin.dump(tenants["contoso"], "machines") if m["id"] == mid)
    assert machine["isolationState"] == "Isolated"
    rel = await unisolate_machine(creds, mid, "release")
    done = await wait_for_machine_action(creds, rel.action.id, timeout=30, poll_interval=0.05)
    assert done.status == "Succeeded"


async def test_parallel_duplicate_isolation_yields_one_action(
    prefect_harness, fresh, creds, tenants
) -> None:
    fresh.admin.patch_config(action_outcomes={}, time_scale=1.0)  # stays Pending for 30 s
    mid = machines_of(fresh, tenants["contoso"])[1]["id"]
    a, b = await asyncio.gather(
        isolate_machine(creds, mid, "dup 1"), isolate_machine(creds, mid, "dup 2")
    )
    assert sorted([a.already_in_progress, b.already_in_progress]) == [False, True]
    assert a.action.id == b.action.id
    assert len(actions_of(fresh, tenants["contoso"], mid, "Isolate")) == 1
    await cancel_machine_action(creds, a.action.id, "test cleanup")


@pytest.mark.parametrize("outcome", ["Failed", "TimeOut"])
async def test_wait_reaches_failed_and_timeout(prefect_harness, fast, creds, tenants, outcome):
    mid = machines_of(fast, tenants["contoso"])[2]["id"]
    fast.admin.patch_config(action_outcomes={mid: outcome})
    out = await run_antivirus_scan(creds, mid, "scan", "Full")
    final = await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    assert final.status == outcome
    assert final.scope == "Full"


async def test_cancel_and_wait_reaches_cancelled(prefect_harness, fast, creds, tenants) -> None:
    mid = machines_of(fast, tenants["contoso"])[3]["id"]
    fast.admin.patch_config(action_outcomes={mid: "Pending"})  # never progresses by itself
    out = await restrict_code_execution(creds, mid, "restrict")
    with pytest.raises(ActionWaitTimeoutError) as info:
        await wait_for_machine_action(creds, out.action.id, timeout=0.3, poll_interval=0.05)
    assert info.value.action.status == "Pending"  # the timeout carries the last state
    cancelled = await cancel_machine_action(creds, out.action.id, "not needed")
    assert cancelled.status == "Cancelled"
    final = await wait_for_machine_action(creds, out.action.id, timeout=5, poll_interval=0.05)
    assert final.status == "Cancelled" and final.cancellation_comment == "not needed"
    with pytest.raises(BadRequestError, match="final state"):
        await cancel_machine_action(creds, out.action.id, "again")
    # the restriction can be lifted afterwards
    fast.admin.patch_config(action_outcomes={})
    lifted = await unrestrict_code_execution(creds, mid, "lift")
    assert lifted.action.type == "UnrestrictCodeExecution"


async def test_quarantine_offboard_and_listing(prefect_harness, fast, creds, tenants) -> None:
    tid = tenants["contoso"]
    mid = machines_of(fast, tid)[4]["id"]
    q = await stop_and_quarantine_file(
        creds, mid, "356A192B7913B04C54574D18C28D46E6395428AB", "known bad"
    )
    assert q.action.related_file_info == {
        "fileIdentifier": "356a192b7913b04c54574d18c28d46e6395428ab",
        "fileIdentifierType": "Sha1",
    }
    linux = machines_of(fast, tid, "-lnx-")[0]["id"]
    with pytest.raises(BadRequestError) as info:
        await offboard_machine(creds, linux, "decommission")
    assert info.value.code == "OsPlatformNotSupported"
    listed = await list_machine_actions(creds, machine_id=mid, action_type="StopAndQuarantineFile")
    assert [a.id for a in listed] == [q.action.id]
    got = await get_machine_action(creds, q.action.id)
    assert got.machine_id == mid
    with pytest.raises(NotFoundError):
        await get_machine_action(creds, "00000000-0000-0000-0000-000000000000")


async def test_investigation_package_downloaded_without_token(
    prefect_harness, fast, creds, tenants, tmp_path: Path
) -> None:
    mid = machines_of(fast, tenants["contoso"])[5]["id"]
    out = await collect_investigation_package(creds, mid, "evidence")
    with pytest.raises(NotFoundError):  # 404 until the collection completes
        await get_investigation_package_uri(creds, out.action.id)
    await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    url = await get_investigation_package_uri(creds, out.action.id)
    assert "sig=" in url
    fast.admin.reset_stats()
    info = await download_investigation_package(creds, out.action.id, str(tmp_path / "p.zip"))
    assert info["bytes"] > 100 and (tmp_path / "p.zip").read_bytes()[:2] == b"PK"
    downloads = fast.admin.stats()["downloads"]
    assert downloads and all(d["authorization"] is False for d in downloads)


async def test_bulk_validation_sends_nothing(prefect_harness, fresh, creds, tenants) -> None:
    good = machines_of(fresh, tenants["contoso"])[0]["id"]
    async with creds.get_client() as c:  # warm the token
        await c.machines.get(good)
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match=r"machine_ids\[1\]"):
        await isolate_machines(creds, [good, "not-a-machine"], "x")
    with pytest.raises(ValidationError, match="isolation_type"):
        await isolate_machines(creds, [good], "x", isolation_type="Partial")
    with pytest.raises(ValidationError, match="scan_type"):
        await run_antivirus_scans(creds, [good], "x", scan_type="Deep")
    with pytest.raises(ValidationError, match="comment"):
        await isolate_machine(creds, good, "bad\x00comment")
    outcomes = await isolate_machines(creds, [good, good], "x", dry_run=True)
    assert [o.status for o in outcomes] == ["dry_run", "dry_run"]
    assert _requests(fresh.admin.stats()) == 0


async def test_bulk_isolation_200_machines_paced_without_429(tmp_path_factory, prefect_harness):
    """200 machines under a time-scaled 100/min limit: 200 outcomes, zero 429s answered."""
    from prefect_defender.emulator import EmulatorServer

    scale = 30.0  # 100 calls per 2 s
    with EmulatorServer(
        tmp_path_factory.mktemp("bulk"),
        config={
            "machines_per_tenant": 230,
            "time_scale": scale,
            "action_pending_seconds": 600,
        },
    ) as emu:
        conn = emu.connection
        tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
        ids = [m["id"] for m in emu.admin.dump(tid, "machines")][:200]
        creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=scale)
        outcomes = await isolate_machines(creds, ids, "outbreak", concurrency=20)
        stats = emu.admin.stats()
        assert [o.item for o in outcomes] == ids
        assert all(o.status == "succeeded" for o in outcomes), outcomes[:3]
        assert stats["throttled"] == 0
        isolations = [a for a in emu.admin.dump(tid, "machineActions") if a["type"] == "Isolate"]
        assert sorted(a["machineId"] for a in isolations) == sorted(ids)
        # a second wave finds every action still pending: 200 already_in_progress, no new ones
        again = await unisolate_machines(creds, ids[:5], "release")
        assert all(o.status == "succeeded" for o in again)
        dup = await isolate_machines(creds, ids[:20], "again")
        assert {o.status for o in dup} == {"already_in_progress"}
        assert (
            len([a for a in emu.admin.dump(tid, "machineActions") if a["type"] == "Isolate"]) == 200
        )


async def test_lost_answers_are_reconciled_not_repeated(tmp_path_factory, prefect_harness):
    """Connections reset after the emulator applied the isolation: exactly one action each."""
    from prefect_defender.emulator import EmulatorServer

    with EmulatorServer(
        tmp_path_factory.mktemp("reset"),
        config={
            "machines_per_tenant": 60,
            "rate_limits_enabled": False,
            "faults": {"reset_after": 0.4, "routes": ["POST /api/machines/{id}/isolate"]},
        },
    ) as emu:
        conn = emu.connection
        tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
        ids = [m["id"] for m in emu.admin.dump(tid, "machines")][:40]
        creds = DefenderApplicationCredentials.from_emulator(conn)
        outcomes = await bulk_machine_action(creds, ids, "Isolate", "reset test")
        lookups = sum(
            r["count"]
            for r in emu.admin.stats()["requests"]
            if r["route"] == "GET /api/machineactions"
        )
        reconciled = [o for o in outcomes if o.reason and "answer lost" in o.reason]
        assert len(outcomes) == 40
        assert all(o.status == "succeeded" for o in outcomes), [o for o in outcomes if not o.ok]
        actions = [a for a in emu.admin.dump(tid, "machineActions") if a["type"] == "Isolate"]
        assert sorted(a["machineId"] for a in actions) == sorted(ids)  # never twice
        # answers were lost and the client looked the actions up instead of re-sending
        assert reconciled and lookups >= len(reconciled)
