"""On a real local Prefect server: the poller's event triggers triage and contain-device from a
served deployment, which isolates the device on the emulator; and prefect.yaml deploys."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.cli.servers import PrefectServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with PrefectServer(tmp_path_factory.mktemp("prefect-server")) as srv:
        yield srv


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _deployments(api: str) -> dict[str, Any]:
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api) as client:
        deps = await client.read_deployments()
        flows = {f.id: f.name for f in await client.read_flows()}
        return {f"{flows[d.flow_id]}/{d.name}": d for d in deps}


async def _runs_of(api: str, deployment_id: Any) -> list[Any]:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    async with PrefectClient(api) as client:
        return list(
            await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                limit=20,
                sort=FlowRunSort.START_TIME_DESC,
            )
        )


def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_event_triggers_triage_and_containment(server, conn, tenants) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.variables import Variable

    from prefect_defender.blocks import DefenderApplicationCredentials
    from prefect_defender.emulator.server import Admin

    admin = Admin(conn["base_url"], conn["ca_bundle"])
    admin.patch_config(time_scale=300.0, action_outcomes={})
    tid = tenants["contoso"]
    api = server.api_url
    env = {
        **os.environ,
        **server.env(),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    }
    with temporary_settings({PREFECT_API_URL: api}):
        DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
            "soc", overwrite=True
        )
        # only what changes from now on is new to the poller
        Variable.set(
            "defender_incident_checkpoint",
            {tid: {"last_update": datetime.now(UTC).isoformat(), "ids_at_last_update": []}},
            overwrite=True,
        )
    contain = {"approval": {"auto_approve_severities": ["High"]}, "poll_interval_seconds": 0.2}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect_defender.deployments.serve",
            "--credentials",
            "defender-application-credentials/soc",
            "--poll-seconds",
            "3600",
            "--contain-parameters",
            json.dumps(contain),
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=(server.home / "serve.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:

        def served() -> dict[str, Any] | None:
            found: dict[str, Any] = _run(_deployments(api))
            return found if len(found) >= 10 else None

        deps = _wait(served, 90, "served deployments")
        machine = next(
            m
            for m in admin.dump(tid, "machines")
            if "-ws-" in m["computerDnsName"] and m["isolationState"] == "NotIsolated"
        )
        (incident,) = admin.upsert_incidents(
            tid,
            [
                {
                    "incidentName": "Event path test",
                    "severity": "High",
                    "alerts": [
                        {
                            "id": "da_eventpath_1",
                            "machineId": machine["id"],
                            "severity": "High",
                            "title": "Event path",
                            "computerDnsName": machine["computerDnsName"],
                            "entities": [],
                        }
                    ],
                }
            ],
        )
        with temporary_settings({PREFECT_API_URL: api}):
            from prefect.deployments import run_deployment

            poll = run_deployment("defender-incident-poller/incident-poller", timeout=120)
        assert poll.state.is_completed()
        contain_dep = deps["defender-contain-device/contain-on-incident"]
        triage_dep = deps["defender-triage-incident/triage-on-incident"]

        def finished(dep: Any) -> Any:
            runs = [
                r
                for r in _run(_runs_of(api, dep.id))
                if str(r.parameters.get("incident_id")) == str(incident["incidentId"])
            ]
            return runs[0] if runs and runs[0].state.is_final() else None

        contain_run = _wait(lambda: finished(contain_dep), 120, "contain-device run")
        triage_run = _wait(lambda: finished(triage_dep), 120, "triage run")
        assert contain_run.state.is_completed(), contain_run.state
        assert triage_run.state.is_completed(), triage_run.state
        actions = [
            a
            for a in admin.dump(tid, "machineActions")
            if a["machineId"] == machine["id"] and a["type"] == "Isolate"
        ]
        assert len(actions) == 1
        stored = next(
            i for i in admin.dump(tid, "incidents") if i["incidentId"] == incident["incidentId"]
        )
        assert "pd-triaged" in stored["tags"]
        comments = [c["comment"] for c in stored["comments"]]
        assert any(c.startswith("Containment (Selective) auto-approved") for c in comments)
        # the latency is reported, not asserted: wall-clock limits belong in benchmarks/
        latency = (contain_run.start_time - poll.end_time).total_seconds()
        print(f"event-to-action latency: {latency:.1f}s (poller end -> contain run start)")
    finally:
        os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        admin.patch_config(time_scale=1.0)
        admin.close()


def test_prefect_yaml_deploys_the_same_deployments(server) -> None:
    env = {**os.environ, **server.env(), "PREFECT_DEFENDER_HOME": str(ROOT)}
    prefect = [sys.executable, "-m", "prefect"]
    subprocess.run(
        [*prefect, "work-pool", "create", "defender-process", "--type", "process"],
        env=env,
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=120,
    )
    out = subprocess.run(
        [*prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    deps = _run(_deployments(server.api_url))
    from prefect_defender.deployments.serve import build_deployments

    served = {
        f"{d.flow_name}/{d.name}"
        for d in build_deployments(
            "defender-application-credentials/soc", "defender-partner-credentials/mssp"
        )
    }
    assert served <= set(deps), served - set(deps)
    contain = deps["defender-contain-device/contain-on-incident"]
    assert contain.work_pool_name == "defender-process"
