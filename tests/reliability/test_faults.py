"""Bulk operations under injected faults: every item ends with exactly one outcome, the emulator
records exactly one action per machine, and nothing escapes as an unhandled exception."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api import auth, ratelimit
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.emulator.server import EmulatorProcess
from prefect_defender.tasks.indicators import import_indicators
from prefect_defender.tasks.machine_actions import request_machine_actions

SCALE = 30.0  # 100 calls per 2 s; tokens expire every 60 scaled seconds (2 s)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    import shutil

    data = tmp_path_factory.mktemp("chaos")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data / f.name)
    config = {
        "machines_per_tenant": 1050,
        "time_scale": SCALE,
        "profile": "bulk-chaos",
        "action_pending_seconds": 3600,
    }
    # its own process, as in production: the client's event loop and the emulator do not share
    # a GIL, so server-side delays look like a real service's
    with EmulatorProcess(data, config=config) as emu:
        yield emu


def _creds(emu: Any) -> DefenderApplicationCredentials:
    auth.REGISTRY.clear()
    ratelimit.REGISTRY.clear()
    return DefenderApplicationCredentials.from_emulator(emu.connection, rate_limit_time_scale=SCALE)


def _tid(emu: Any) -> str:
    return next(t["tenant_id"] for t in emu.connection["tenants"] if t["name"] == "contoso")


@pytest.mark.timeout(900)  # 150-230 s on 2 cores, beside the other test workers
def test_bulk_isolation_of_1000_machines_under_chaos(chaos: Any) -> None:
    tid = _tid(chaos)
    ids = [
        m["id"]
        for m in chaos.admin.dump(tid, "machines")
        if m["osPlatform"] not in ("Linux", "macOS")
    ][:1000]
    assert len(ids) == 1000
    creds = _creds(chaos)
    outcomes = asyncio.run(
        request_machine_actions.fn(
            creds, ids, "Isolate", "chaos", False, 20, None, isolation_type="Full"
        )
    )
    stats = chaos.admin.stats()
    assert [o.item for o in outcomes] == ids  # one outcome per machine, in order
    by_status = Counter(o.status for o in outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    per_machine = Counter(
        a["machineId"] for a in chaos.admin.dump(tid, "machineActions") if a["type"] == "Isolate"
    )
    faults = {r["status"] for r in stats["requests"] if r["status"] in (0, 429, 500, 502, 503)}
    print(
        f"outcomes {dict(by_status)}; injected fault statuses {sorted(faults)}; "
        f"429 answered {stats['throttled']}; token requests "
        f"{sum(t['count'] for t in stats['token_requests'])}"
    )
    for o in failed[:5]:
        print("failed:", o.item, o.reason, o.error, o.result)
    assert {0, 429, 500, 502, 503} <= faults  # the chaos really happened
    assert sum(t["count"] for t in stats["token_requests"]) > 1  # tokens expired mid-run
    assert all(c == 1 for c in per_machine.values()), [m for m, c in per_machine.items() if c > 1]
    # a machine with a failed outcome got no action; every other one got exactly one
    assert set(per_machine) == {o.item for o in outcomes if o.status != "failed"}
    assert len(failed) <= 10, failed[:3]  # only after exhausting retries and reconciliation


def test_indicator_import_of_5000_under_chaos(chaos: Any) -> None:
    tid = _tid(chaos)
    creds = _creds(chaos)
    items = [
        {
            "value": f"{i:064x}",
            "type": "FileSha256",
            "action": "Block",
            "title": "chaos",
            "description": "bulk import under faults",
        }
        for i in range(1, 5001)
    ]
    outcomes = asyncio.run(import_indicators.fn(creds, items))
    assert len(outcomes) == 5000
    assert Counter(o.status for o in outcomes) == {"succeeded": 5000}
    stored = {i["indicatorValue"] for i in chaos.admin.dump(tid, "indicators")}
    assert {i["value"] for i in items} <= stored
    calls = sum(
        r["count"]
        for r in chaos.admin.stats()["requests"]
        if r["route"] == "POST /api/indicators/import" and r["status"] == 200
    )
    assert calls >= 10  # ten batches of 500 (and retried ones after lost answers)


def test_slow_answers_past_the_timeout_are_retried(chaos: Any) -> None:
    from prefect_defender.api.client import ClientSettings, DefenderClient

    chaos.admin.patch_config(profile="calm")
    chaos.admin.patch_config(
        faults={"slow": 0.5, "slow_seconds": 2.0, "routes": ["GET /api/machines/{id}"]}
    )
    try:
        creds = _creds(chaos)
        settings = ClientSettings(
            ca_bundle=creds.ca_bundle,
            timeout=0.5,
            backoff_base=0.05,
            max_attempts=10,
            rate_limit_time_scale=SCALE,
        )
        tid = _tid(chaos)
        ids = [m["id"] for m in chaos.admin.dump(tid, "machines")][:20]

        async def go() -> int:
            client = DefenderClient(
                creds.endpoints(), creds.get_client().transport.provider, settings
            )
            async with client:
                got = [await client.machines.get(m) for m in ids]
                return sum(1 for g in got if g.id in ids) + client.transport.stats.retries * 0

        assert asyncio.run(go()) == 20
    finally:
        chaos.admin.patch_config(profile="bulk-chaos", faults={"slow": 0.0, "routes": None})


@pytest.mark.parametrize(
    ("profile", "final"), [("stuck-actions", "still Pending"), ("timeout-actions", "TimeOut")]
)
def test_actions_that_never_succeed_are_reported_with_their_last_state(
    emulator: Any, profile: str, final: str
) -> None:
    """Machine actions that stay Pending or end in TimeOut are never reported as done, and
    waiting for them costs one list call per 40 actions a round, not one call per action."""
    from prefect_defender.tasks.action_plans import await_machine_actions

    tid = _tid(emulator)
    ids = [
        m["id"]
        for m in emulator.admin.dump(tid, "machines")
        if m["osPlatform"] not in ("Linux", "macOS")
    ]
    ids = ids[:20] if profile == "stuck-actions" else ids[20:40]
    assert len(ids) == 20
    emulator.admin.patch_config(profile=profile, time_scale=SCALE, action_pending_seconds=30)
    try:
        creds = _creds(emulator)
        requested = asyncio.run(
            request_machine_actions.fn(creds, ids, "RunAntiVirusScan", "stuck", scan_type="Quick")
        )
        assert Counter(o.status for o in requested) == {"succeeded": 20}
        emulator.admin.reset_stats()
        as_steps = [  # the playbooks' outcome shape
            o.model_copy(update={"result": {"action_id": o.result["id"]}}) for o in requested
        ]
        waited = asyncio.run(await_machine_actions.fn(creds, as_steps, None, 6.0, 1.0))
        polls = sum(
            r["count"] for r in emulator.admin.stats()["requests"] if "machineactions" in r["route"]
        )
    finally:
        emulator.admin.patch_config(profile="calm", time_scale=1.0)
    assert [o.item for o in waited] == ids
    assert {o.result["final_status"] for o in waited} == {final}
    assert all(o.status == "failed" and final in (o.reason or "") for o in waited)
    assert 1 <= polls <= 6  # one list call (20 ids) a round, at most six rounds in 6 s
