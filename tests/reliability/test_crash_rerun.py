"""Kill a bulk playbook with SIGKILL halfway, run it again: no machine gets a second action
and the rest completes (the run key in each action's comment finds the first attempt's work)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.emulator.server import EmulatorServer
from prefect_defender.flows.contain import contain_device
from tests.flows.conftest import start

SCALE = 30.0
N = 400  # 100 per 2 s: the run takes > 6 s, so it can be killed halfway


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    data = tmp_path_factory.mktemp("crash")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data / f.name)
    with EmulatorServer(
        data, 0, {"machines_per_tenant": 640, "time_scale": SCALE, "action_pending_seconds": 30}
    ) as server:
        yield server


CHILD = """
import asyncio, json, sys
from prefect_defender.flows.contain import contain_device
args = json.loads(sys.argv[1])
asyncio.run(contain_device(**args))
"""


def test_sigkill_halfway_then_rerun(prefect_harness: Any, emu: Any, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    conn = emu.connection
    tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=SCALE).save(
        "crash", overwrite=True
    )
    machines = [
        m
        for m in emu.admin.dump(tid, "machines")
        if m["osPlatform"] not in ("Linux", "macOS") and not m["machineTags"]
    ][:N]
    assert len(machines) == N
    (incident,) = emu.admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": "crash test",
                "severity": "High",
                "alerts": [
                    {
                        "id": f"da_crash_{i}",
                        "machineId": m["id"],
                        "title": "t",
                        "computerDnsName": m["computerDnsName"],
                        "entities": [],
                    }
                    for i, m in enumerate(machines)
                ],
            }
        ],
    )
    args = {
        "credentials": "defender-application-credentials/crash",
        "incident_id": incident["incidentId"],
        "comment_on_incident": False,
        "approval": {"auto_approve_severities": ["High"]},
        "safety": {"max_actions_per_run": 1000, "max_actions_per_hour": 10000},
        "poll_interval_seconds": 1.0,
        "wait_timeout_seconds": 120,
    }
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    log = tmp_path / "child.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(args)],
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def isolations() -> Counter[str]:
        return Counter(
            a["machineId"] for a in emu.admin.dump(tid, "machineActions") if a["type"] == "Isolate"
        )

    deadline = time.monotonic() + 120
    while len(isolations()) < N // 4 and time.monotonic() < deadline:
        assert child.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    os.killpg(os.getpgid(child.pid), signal.SIGKILL)  # a real SIGKILL, mid-run
    child.wait(timeout=10)
    first = isolations()
    assert 0 < len(first) < N, f"killed too late or too early: {len(first)} of {N}"
    summary = start(None, contain_device, **args).result(timeout=300)
    after = isolations()
    assert set(after) == {m["id"] for m in machines}  # the remainder completed
    assert max(after.values()) == 1  # nobody got a second isolation
    outcomes = summary["outcomes"]
    assert len(outcomes) == N
    reused = [o for o in outcomes if o.get("reason") == "done by an earlier attempt of this run"]
    assert len(reused) == len(first)
    print(
        f"killed after {len(first)} of {N} isolations; the re-run reused {len(reused)} and "
        f"requested {N - len(reused)}; 0 duplicates"
    )
