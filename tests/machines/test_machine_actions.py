"""Machine actions end to end against the emulator: lifecycle, duplicates, reconciliation,
bulk pacing, downloads without the token, permissions, validation before any request."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_defender.api.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.api.resources.machine_actions import ActionWaitTimeoutError
from prefect_defender.api.tls import ssl_context
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.machine_actions import (
    cancel_machine_action,
    collect_investigation_package,
    collect_investigation_packages,
    download_investigation_package,
    get_investigation_package_uri,
    get_machine_action,
    isolate_machine,
    isolate_machines,
    list_machine_actions,
    offboard_machine,
    request_machine_actions,
    restrict_machine,
    restrict_machines,
    run_antivirus_scan,
    run_antivirus_scans,
    stop_and_quarantine_file,
    stop_and_quarantine_files,
    unisolate_machine,
    unisolate_machines,
    unrestrict_machine,
    unrestrict_machines,
    wait_for_machine_action,
)
from tests.machines.conftest import (
    actions_of,
    close_token_clients,
    held_actions,
    machines_of,
    requests,
)

SHA1 = "356A192B7913B04C54574D18C28D46E6395428AB"


def ws(emu: Any, tenants: dict[str, str], index: int) -> str:
    """The id of the index-th seeded workstation of contoso (each test uses its own)."""
    return str(machines_of(emu, tenants["contoso"])[index]["id"])


async def test_isolate_wait_succeeded_and_isolate_again(
    prefect_harness, fast, creds, tenants
) -> None:
    tid = tenants["contoso"]
    mid = ws(fast, tenants, 0)
    out = await isolate_machine(creds, mid, "IR-1 test", "Selective")
    assert out.action.type == "Isolate" and out.action.scope == "Selective"
    assert out.action.status == "Pending" and not out.already_in_progress
    assert "[ref:" in (out.action.requestor_comment or "")
    final = await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    assert final.status == "Succeeded"
    machine = next(m for m in fast.admin.dump(tid, "machines") if m["id"] == mid)
    assert machine["isolationState"] == "Isolated"
    # isolating an isolated machine is accepted (a new action), as the real API does
    again = await isolate_machine(creds, mid, "IR-1 again")
    assert again.action.id != out.action.id and not again.already_in_progress
    assert len(actions_of(fast, tid, mid, "Isolate")) == 2
    rel = await unisolate_machine(creds, mid, "release")
    await wait_for_machine_action(creds, again.action.id, timeout=30, poll_interval=0.05)
    done = await wait_for_machine_action(creds, rel.action.id, timeout=30, poll_interval=0.05)
    assert done.status == "Succeeded"
    machine = next(m for m in fast.admin.dump(tid, "machines") if m["id"] == mid)
    assert machine["isolationState"] == "NotIsolated"


async def test_parallel_duplicate_isolation_yields_one_action(
    prefect_harness, fresh, creds, tenants
) -> None:
    fresh.admin.patch_config(action_outcomes={}, time_scale=1.0)  # stays Pending for 30 s
    tid = tenants["contoso"]
    mid = ws(fresh, tenants, 1)
    a, b = await asyncio.gather(
        isolate_machine(creds, mid, "dup 1"), isolate_machine(creds, mid, "dup 2")
    )
    assert sorted([a.already_in_progress, b.already_in_progress]) == [False, True]
    assert a.action.id == b.action.id
    assert len(actions_of(fresh, tid, mid, "Isolate")) == 1
    # the emulator answered the loser 400 "Action is already in progress"
    stats = fresh.admin.stats()
    assert requests(stats, "POST /api/machines/{id}/isolate", 400) == 1
    # a bulk request listing the machine twice, while it is pending: one lookup, two outcomes
    outcomes = await isolate_machines(creds, [mid, mid], "dup 3")
    assert [o.status for o in outcomes] == ["already_in_progress"] * 2
    assert outcomes[0].result["id"] == a.action.id
    assert len(actions_of(fresh, tid, mid, "Isolate")) == 1
    cancelled = await cancel_machine_action(creds, a.action.id, "test cleanup")
    assert cancelled.status == "Cancelled"


@pytest.mark.parametrize("outcome", ["Failed", "TimeOut"])
async def test_wait_reaches_failed_and_timeout(prefect_harness, fast, creds, tenants, outcome):
    mid = ws(fast, tenants, 2)
    fast.admin.patch_config(action_outcomes={f"{mid}/RunAntiVirusScan": outcome})
    out = await run_antivirus_scan(creds, mid, "scan", "Full")
    final = await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    assert final.status == outcome
    assert final.scope == "Full"


async def test_cancel_and_wait_reaches_cancelled(prefect_harness, fast, creds, tenants) -> None:
    mid = ws(fast, tenants, 3)
    fast.admin.patch_config(action_outcomes={mid: "Pending"})  # never progresses by itself
    out = await restrict_machine(creds, mid, "restrict")
    with pytest.raises(ActionWaitTimeoutError) as info:
        await wait_for_machine_action(creds, out.action.id, timeout=0.3, poll_interval=0.05)
    assert info.value.action.status == "Pending"  # the timeout carries the last state
    assert info.value.action.id == out.action.id
    cancelled = await cancel_machine_action(creds, out.action.id, "not needed")
    assert cancelled.status == "Cancelled"
    final = await wait_for_machine_action(creds, out.action.id, timeout=5, poll_interval=0.05)
    assert final.status == "Cancelled" and final.cancellation_comment == "not needed"
    assert final.cancellation_date_time_utc is not None
    # cancelling again reports the cancelled action (a repeated cancel is harmless)
    assert (await cancel_machine_action(creds, out.action.id, "again")).status == "Cancelled"
    # the restriction can be lifted afterwards; a finished action cannot be cancelled
    fast.admin.patch_config(action_outcomes={})
    lifted = await unrestrict_machine(creds, mid, "lift")
    assert lifted.action.type == "UnrestrictCodeExecution"
    await wait_for_machine_action(creds, lifted.action.id, timeout=30, poll_interval=0.05)
    with pytest.raises(BadRequestError, match="final state"):
        await cancel_machine_action(creds, lifted.action.id, "too late")


async def test_quarantine_offboard_and_listing(prefect_harness, fast, creds, tenants) -> None:
    tid = tenants["contoso"]
    mid = ws(fast, tenants, 4)
    q = await stop_and_quarantine_file(creds, mid, SHA1, "known bad")
    assert q.action.related_file_info == {
        "fileIdentifier": SHA1.lower(),
        "fileIdentifierType": "Sha1",
    }
    linux = machines_of(fast, tid, "-lnx-")[0]["id"]
    with pytest.raises(BadRequestError) as info:
        await offboard_machine(creds, linux, "decommission")
    assert info.value.code == "OsPlatformNotSupported"
    listed = await list_machine_actions(creds, machine_id=mid, action_type="StopAndQuarantineFile")
    assert [a.id for a in listed] == [q.action.id]
    assert await list_machine_actions(creds, machine_id=mid, status="cancelled") == []
    got = await get_machine_action(creds, q.action.id)
    assert got.machine_id == mid and got.requestor_comment == q.action.requestor_comment
    with pytest.raises(NotFoundError):
        await get_machine_action(creds, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError, match="not found"):
        await isolate_machine(creds, "f" * 40, "unknown machine")


async def test_investigation_package_downloaded_without_token(
    prefect_harness, fast, creds, conn, tenants, tmp_path: Path
) -> None:
    mid = ws(fast, tenants, 5)
    # held Pending while the 404 is checked (the fast clock alone could finish it first; the
    # former 3600 documented seconds were only 12 s on the fast clock), then let go
    with held_actions(fast):
        out = await collect_investigation_package(creds, mid, "evidence")
        with pytest.raises(NotFoundError):  # 404 until the collection completes
            await get_investigation_package_uri(creds, out.action.id)
    await wait_for_machine_action(creds, out.action.id, timeout=30, poll_interval=0.05)
    url = await get_investigation_package_uri(creds, out.action.id)
    assert url.startswith(conn["mde_base_url"] + "/_downloads/")  # on the emulator host
    assert "sig=" in url
    fast.admin.reset_stats()
    info = await download_investigation_package(creds, out.action.id, str(tmp_path / "p.zip"))
    assert info["bytes"] > 100 and (tmp_path / "p.zip").read_bytes()[:2] == b"PK"
    downloads = fast.admin.stats()["downloads"]
    assert sum(d["count"] for d in downloads) == 1
    assert all(d["authorization"] is False for d in downloads)
    # the link is checked: a tampered signature is refused
    async with httpx.AsyncClient(verify=ssl_context(conn["ca_bundle"])) as http:
        bad = await http.get(url.replace("sig=", "sig=0"))
    assert bad.status_code == 403


async def test_readonly_app_is_refused_naming_the_permission(
    prefect_harness, fresh, readonly, tenants
) -> None:
    tid = tenants["contoso"]
    mid = ws(fresh, tenants, 6)
    with pytest.raises(PermissionDeniedError) as info:
        await isolate_machine(readonly, mid, "no permission")
    assert info.value.status == 403
    assert "Machine.Isolate" in info.value.required and "Machine.Isolate" in str(info.value)
    outcomes = await run_antivirus_scans(readonly, [mid], "no permission")
    assert outcomes[0].status == "failed" and outcomes[0].error["status"] == 403
    assert "Machine.Scan" in (outcomes[0].reason or "")
    assert actions_of(fresh, tid, mid, "Isolate") == []


async def test_validation_sends_nothing(prefect_harness, fresh, creds, tenants) -> None:
    good = ws(fresh, tenants, 0)
    async with creds.get_client() as c:  # warm the token
        await c.machines.get(good)
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match=r"machine_ids\[1\]"):
        await isolate_machines(creds, [good, "not-a-machine"], "x")
    with pytest.raises(ValidationError, match="isolation_type"):
        await isolate_machines(creds, [good], "x", isolation_type="Partial")
    with pytest.raises(ValidationError, match="isolation_type"):
        await isolate_machine(creds, good, "x", "full")  # case-sensitive, like the API
    with pytest.raises(ValidationError, match="scan_type"):
        await run_antivirus_scans(creds, [good], "x", scan_type="Deep")
    with pytest.raises(ValidationError, match="comment"):
        await isolate_machine(creds, good, "bad\x00comment")
    with pytest.raises(ValidationError, match="comment"):
        await unisolate_machine(creds, good, "   ")
    with pytest.raises(ValidationError, match="sha1"):
        await stop_and_quarantine_file(creds, good, "abc", "x")
    with pytest.raises(ValidationError, match="action_id"):
        await wait_for_machine_action(creds, "not-a-guid")
    with pytest.raises(ValidationError, match="timeout"):
        await wait_for_machine_action(creds, "00000000-0000-0000-0000-000000000000", timeout=0)
    with pytest.raises(ValidationError, match="LiveResponse"):
        await request_machine_actions(creds, [good], "LiveResponse", "x")
    with pytest.raises(ValidationError, match="status"):
        await list_machine_actions(creds, status="Done")
    assert requests(fresh.admin.stats()) == 0


async def test_dry_run_reports_the_requests_and_sends_nothing(
    prefect_harness, fresh, creds, tenants
) -> None:
    a, b = ws(fresh, tenants, 7), ws(fresh, tenants, 8)
    outcomes = await isolate_machines(creds, [a, b, a], "contain", "Selective", dry_run=True)
    assert [o.status for o in outcomes] == ["dry_run"] * 3
    assert outcomes[0].result == {
        "method": "POST",
        "path": f"/api/machines/{a}/isolate",
        "body": {"Comment": "contain", "IsolationType": "Selective"},
    }
    q = await stop_and_quarantine_files(creds, [a], SHA1, "bad", dry_run=True)
    assert q[0].result["body"]["Sha1"] == SHA1.lower()
    assert requests(fresh.admin.stats()) == 0


async def test_bulk_variants_one_outcome_per_machine(prefect_harness, fast, creds, tenants):
    tid = tenants["contoso"]
    ids = [ws(fast, tenants, i) for i in (9, 10, 11)]
    linux = machines_of(fast, tid, "-lnx-")[0]["id"]
    missing = "0" * 40
    restricted = await restrict_machines(creds, [*ids, missing], "outbreak")
    assert [o.item for o in restricted] == [*ids, missing]
    assert [o.status for o in restricted] == ["succeeded"] * 3 + ["failed"]
    assert restricted[3].error["code"] == "ResourceNotFound"
    assert restricted[0].result["type"] == "RestrictCodeExecution"
    packages = await collect_investigation_packages(creds, [ids[0], linux], "evidence")
    assert [o.status for o in packages] == ["succeeded", "succeeded"]
    quarantined = await stop_and_quarantine_files(creds, ids[:2], SHA1, "bad file")
    assert {o.result["relatedFileInfo"]["fileIdentifier"] for o in quarantined} == {SHA1.lower()}
    await asyncio.sleep(0.4)  # every action finishes on the fast clock
    lifted = await unrestrict_machines(creds, ids, "over")
    assert [o.status for o in lifted] == ["succeeded"] * 3
    for mid in ids:
        assert len(actions_of(fast, tid, mid, "RestrictCodeExecution")) == 1


# -- a dedicated emulator with 260 machines per tenant and a 30x clock ---------------------

SCALE = 30.0  # the 100 calls/minute limit becomes 100 calls per 2 s


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    """An emulator child process (its own CPU, like the real service: no queueing behind this
    process's GIL) with 260 machines per tenant on a 30x clock."""
    from prefect_defender.emulator.server import EmulatorProcess

    data_dir = tmp_path_factory.mktemp("bulk")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data_dir / f.name)
    with EmulatorProcess(
        data_dir,
        config={
            "machines_per_tenant": 260,
            "time_scale": SCALE,
            "action_pending_seconds": 3600,  # everything stays Pending during the test
        },
    ) as emu:
        yield emu
        close_token_clients()  # else the child's graceful shutdown waits for msal's connections


def _contoso(emu: Any) -> str:
    return next(t["tenant_id"] for t in emu.connection["tenants"] if t["name"] == "contoso")


async def test_bulk_isolation_200_machines_paced_without_429(prefect_harness, big) -> None:
    """200 machines under a time-scaled 100/min limit: 200 outcomes, zero 429s answered."""
    tid = _contoso(big)
    ids = [m["id"] for m in big.admin.dump(tid, "machines")][:200]
    creds = DefenderApplicationCredentials.from_emulator(
        big.connection, rate_limit_time_scale=SCALE
    )
    big.admin.reset_stats()
    outcomes = await isolate_machines(creds, ids, "outbreak", concurrency=20)
    stats = big.admin.stats()
    assert [o.item for o in outcomes] == ids
    assert all(o.status == "succeeded" for o in outcomes), outcomes[:3]
    throttled = [r for r in stats["requests"] if r["status"] == 429]
    assert stats["throttled"] == 0 and not throttled, throttled
    assert requests(stats, "POST /api/machines/{id}/isolate", 201) == 200
    isolations = [a for a in big.admin.dump(tid, "machineActions") if a["type"] == "Isolate"]
    assert sorted(a["machineId"] for a in isolations) == sorted(ids)  # exactly one each
    # a second wave finds the actions still pending: already_in_progress, no new ones
    dup = await isolate_machines(creds, ids[:20], "again")
    assert {o.status for o in dup} == {"already_in_progress"}
    first_wave = {a["id"] for a in isolations if a["machineId"] in ids[:20]}
    assert {o.result["id"] for o in dup} == first_wave
    released = await unisolate_machines(creds, ids[:5], "release")
    assert all(o.status == "succeeded" for o in released)
    assert len([a for a in big.admin.dump(tid, "machineActions") if a["type"] == "Isolate"]) == 200
    assert big.admin.stats()["throttled"] == 0


async def test_lost_answers_are_reconciled_not_repeated(prefect_harness, big) -> None:
    """Connections reset after the emulator applied the isolation: exactly one action each."""
    tid = _contoso(big)
    ids = [m["id"] for m in big.admin.dump(tid, "machines")][200:240]
    creds = DefenderApplicationCredentials.from_emulator(
        big.connection, rate_limit_time_scale=SCALE
    )
    big.admin.reset_stats()
    big.admin.patch_config(
        faults={"reset_after": 0.4, "routes": ["POST /api/machines/{id}/isolate"]}
    )
    try:
        outcomes = await request_machine_actions(creds, ids, "Isolate", "reset test")
    finally:
        big.admin.patch_config(faults={"reset_after": 0.0, "routes": None})
    stats = big.admin.stats()
    reconciled = [o for o in outcomes if o.reason and "answer lost" in o.reason]
    assert len(outcomes) == 40
    assert all(o.status == "succeeded" for o in outcomes), [o for o in outcomes if not o.ok]
    actions = [
        a
        for a in big.admin.dump(tid, "machineActions")
        if a["type"] == "Isolate" and a["machineId"] in ids
    ]
    assert sorted(a["machineId"] for a in actions) == sorted(ids)  # never twice
    # answers were lost and the client looked the actions up instead of re-sending blindly
    assert reconciled
    assert requests(stats, "GET /api/machineactions") >= len(reconciled)
    for o in reconciled:
        assert o.result["id"] in {a["id"] for a in actions}
