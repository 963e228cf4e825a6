"""``prefect-defender demo``: the response loop end to end against the local emulator.

1. Starts the emulator (HTTPS on 127.0.0.1) and a local Prefect server.
2. Creates the three credential blocks (the user block through a real device-code sign-in) and
   checks each one reaches its tenants.
3. Serves the playbook deployments and runs the incident poller, which sees the seeded
   high-severity ransomware incident and emits ``defender.incident.created``.
4. The event triggers triage, contain-device and contain-identity; both containments pause for
   approval; the demo approves them as an operator would (or waits for you in the UI with
   ``--no-auto-approve``): the device is isolated and the incident's account (``jdoe``) is
   disabled and signed out on Entra ID and on-premises AD.
5. Prints the outcome, the artifacts and the run URLs, then stops what it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

__all__ = ["run_demo"]

APP_BLOCK = "defender-application-credentials/demo-soc"
PARTNER_BLOCK = "defender-partner-credentials/demo-mssp"
USER_BLOCK = "defender-user-credentials/demo-analyst"
TIME_SCALE = 30.0  # machine actions finish in seconds, rate limits scaled alike


def _say(msg: str) -> None:
    typer.echo(f"[demo] {msg}")


def create_demo_blocks(conn: dict[str, Any], time_scale: float = 1.0) -> dict[str, str]:
    """Create and save the three credential blocks for the emulator; return their slugs."""
    from prefect_defender.blocks import (
        DefenderApplicationCredentials,
        DefenderPartnerCredentials,
        DefenderUserCredentials,
    )

    DefenderApplicationCredentials.from_emulator(conn, time_scale=time_scale).save(
        "demo-soc", overwrite=True
    )
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], time_scale=time_scale
    ).save("demo-mssp", overwrite=True)
    user = DefenderUserCredentials.from_emulator(conn, time_scale=time_scale)
    user._block_document_name = "demo-analyst"
    signed_in = user.sign_in_with_device_code(show=lambda m: _say(f"device code: {m}"))
    user.save("demo-analyst", overwrite=True)
    _say(f"user block signed in as {signed_in}")
    return {"application": APP_BLOCK, "partner": PARTNER_BLOCK, "user": USER_BLOCK}


def _wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


async def _deployments_ready(names: list[str]) -> bool:
    """True once every named deployment is registered on the server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async with get_client() as client:
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names))
        )
    return {d.name for d in found} >= set(names)


async def _runs(deployment_name: str, since: datetime) -> list[Any]:
    """The deployment's runs created at or after ``since``, latest first.

    The Prefect server keeps the runs of earlier demo runs in the same data directory; only
    this demo run's runs count (an earlier, finished run must not stand in for one that the
    event has not started yet).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
            limit=20,
            sort=FlowRunSort.START_TIME_DESC,
        )
    return [r for r in runs if r.created is not None and r.created >= since]


async def _forget_identity_runs() -> int:
    """Delete the ``defender_identity_run_*`` variables earlier demo runs left on the server."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        names = [
            v.name
            for v in await client.read_variables()
            if v.name.startswith("defender_identity_run_")
        ]
        for name in names:
            await client.delete_variable_by_name(name)
    return len(names)


def run_demo(data_dir: Path, *, auto_approve: bool = True, keep_running: bool = False) -> int:
    """Run the demo; return a process exit code."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.cli.servers import PrefectServer
    from prefect_defender.emulator import EmulatorServer

    started = time.monotonic()
    data_dir = data_dir.resolve()
    emu_config = {
        "time_scale": TIME_SCALE,
        "action_pending_seconds": 30,
        "action_running_seconds": 60,
    }
    with EmulatorServer(data_dir / "emulator", 0, emu_config) as emu:
        _say(f"emulator on {emu.base_url} ({data_dir / 'emulator' / 'connection.json'})")
        with PrefectServer(data_dir / "prefect") as server:
            _say(f"Prefect server on {server.ui_url}")
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                code = _run(emu, server, auto_approve=auto_approve)
                if keep_running:
                    _say(f"open {server.ui_url} - Ctrl-C to stop")
                    try:
                        while True:
                            time.sleep(1)
                    except KeyboardInterrupt:
                        pass
    _say(f"finished in {time.monotonic() - started:.1f}s; emulator and Prefect server stopped")
    return code


def _run(emu: Any, server: Any, *, auto_approve: bool) -> int:
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run
    from prefect.variables import Variable

    from prefect_defender.flows.connectivity import defender_connectivity_check

    conn = dict(emu.connection)
    create_demo_blocks(conn, TIME_SCALE)
    northwind = {t["tenant_id"] for t in conn["tenants"] if t["name"] == "northwind"}
    rows = asyncio.run(defender_connectivity_check([APP_BLOCK, PARTNER_BLOCK, USER_BLOCK]))
    for row in rows:
        expected = row["tenant_id"] in northwind
        state = "ok" if row["ok"] else ("no consent (expected)" if expected else "FAILED")
        _say(
            f"  {row['block']:<44} {row['tenant_id'][:8]}: {row.get('incidents')} incidents,"
            f" {row.get('machines')} machines [{state}]"
        )
    if not all(r["ok"] for r in rows if r["tenant_id"] not in northwind):
        return 1
    contoso = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
    demo = next(i for i in emu.admin.dump(contoso, "incidents") if i["incidentId"] == 1001)
    _say(f"seeded incident 1001: {demo['incidentName']} ({demo['severity']}, {demo['status']})")
    # the emulator's world is new on every demo run: forget what earlier demo runs of the day
    # recorded as done (the contain-identity run keys), or their re-run would skip the account
    forgotten = asyncio.run(_forget_identity_runs())
    if forgotten:
        _say(f"forgot {forgotten} identity run record(s) of earlier demo runs")
    # the poller starts just before the demo incident was created
    start_at = datetime.fromisoformat(demo["createdTime"][:19]).replace(tzinfo=UTC)
    Variable.set(
        "defender_incident_checkpoint",
        {
            contoso: {
                "last_update": (start_at - timedelta(seconds=1)).isoformat(),
                "ids_at_last_update": [],
            }
        },
        overwrite=True,
    )
    contain = {
        "approval": {"poll_interval_seconds": 1, "timeout_seconds": 900},
        "poll_interval_seconds": 1.0,
    }
    env = {
        **os.environ,
        **server.env(),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    }
    log = (server.home / "serve.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect_defender.deployments.serve",
            "--credentials",
            APP_BLOCK,
            "--partner-credentials",
            PARTNER_BLOCK,
            "--poll-seconds",
            "3600",
            "--contain-parameters",
            json.dumps(contain),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wanted = [
            "incident-poller",
            "triage-on-incident",
            "contain-on-incident",
            "contain-identity-on-incident",
        ]

        def registered() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the serve process exited ({proc.returncode}); see {log.name}")
            return asyncio.run(_deployments_ready(wanted))

        # under load the serve process can take well over a minute to register
        _wait(registered, 300, "the deployments to be registered")
        time.sleep(3)
        _say("running the incident poller")
        poll: Any = run_deployment("defender-incident-poller/incident-poller", timeout=180)
        emitted_at = poll.end_time
        # the server's clock: runs the poller's events trigger are created after the poller run
        since = poll.created or datetime.now(UTC)
        _say(f"poller finished: {poll.state.name if poll.state else poll.state}")

        def paused_or_done(deployment: str) -> Any:
            runs = [
                r
                for r in asyncio.run(_runs(deployment, since))
                if str(r.parameters.get("incident_id")) == "1001"
            ]
            if runs and (runs[0].state.is_paused() or runs[0].state.is_final()):
                return runs[0]
            return None

        def approve(deployment: str, what: str, run_input: dict[str, Any]) -> tuple[Any, str]:
            run = _wait(lambda: paused_or_done(deployment), 180, f"{what} to ask for approval")
            url = f"{server.ui_url}/runs/flow-run/{run.id}"
            if run.state.is_paused():
                if auto_approve:
                    _say(f"{what} is waiting for approval: {url}")
                    _say(f"approving {what} as operator 'demo-operator'")
                    resume_flow_run(
                        run.id,
                        run_input={"approve": True, "approved_by": "demo-operator", **run_input},
                    )
                else:
                    _say(f"approve {what} in the Prefect UI: {url}")
            return run, url

        def finished(deployment: str, run: Any, what: str) -> Any:
            return _wait(
                lambda: (
                    (
                        r := next(
                            (x for x in asyncio.run(_runs(deployment, since)) if x.id == run.id),
                            None,
                        )
                    )
                    and r.state.is_final()
                    and r
                ),
                900,
                f"{what} to finish",
            )

        run, url = approve(
            "contain-on-incident",
            "contain-device",
            {"isolation_type": "Selective", "comment": "demo approval"},
        )
        ident_run, ident_url = approve(
            "contain-identity-on-incident", "contain-identity", {"comment": "demo approval"}
        )
        final = finished("contain-on-incident", run, "contain-device")
        ident_final = finished("contain-identity-on-incident", ident_run, "contain-identity")
        triage = _wait(
            lambda: next(
                (
                    x
                    for x in asyncio.run(_runs("triage-on-incident", since))
                    if str(x.parameters.get("incident_id")) == "1001" and x.state.is_final()
                ),
                None,
            ),
            120,
            "triage to finish",
        )
        latency = (run.start_time - emitted_at).total_seconds() if run.start_time else None
        actions = [a for a in emu.admin.dump(contoso, "machineActions") if a["type"] == "Isolate"]
        incident = next(i for i in emu.admin.dump(contoso, "incidents") if i["incidentId"] == 1001)
        _say("-" * 72)
        _say(f"triage: {triage.state.name}; incident tags now {incident['tags']}")
        _say(
            f"contain-device: {final.state.name}; isolations on the emulator: "
            + ", ".join(f"{a['computerDnsName']} {a['status']}" for a in actions)
        )
        disabled = [
            u["userPrincipalName"]
            for u in emu.admin.dump(contoso, "entra_users")
            if u.get("accountEnabled") is False
        ]
        acted = emu.admin.dump(contoso, "identity_log")
        _say(
            f"contain-identity: {ident_final.state.name}; accounts disabled: "
            + (", ".join(disabled) or "none")
            + f"; identity actions on the emulator: {len(acted)} ("
            + ", ".join(sorted({f"{e['action']}@{e['provider']}" for e in acted}))
            + ")"
        )
        if incident["comments"]:
            _say(f"last incident comment: {incident['comments'][-1]['comment'][:160]}")
        if latency is not None:
            _say(f"event-to-action latency: {latency:.1f}s (poller done -> contain run started)")
        _say(f"report artifacts: {server.ui_url}/artifacts")
        _say(f"contain-device run: {url}")
        _say(f"contain-identity run: {ident_url}")
        _say(f"triage run: {server.ui_url}/runs/flow-run/{triage.id}")
        ok = (
            final.state.is_completed()
            and ident_final.state.is_completed()
            and triage.state.is_completed()
            and any(a["status"] == "Succeeded" for a in actions)
            and bool(disabled)
        )
        return 0 if ok else 1
    finally:
        os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        log.close()
