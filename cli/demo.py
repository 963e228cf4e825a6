"""``prefect-defender demo``: the response loop end to end against the local emulator.

1. Starts the emulator (HTTPS on 127.0.0.1) and a local Prefect server.
2. Creates the three credential blocks (the user block through a real device-code sign-in) and
   checks each one reaches its tenants.
3. Serves the playbook deployments and runs the incident poller, which sees the seeded
   high-severity ransomware incident and emits ``defender.incident.created``.
4. The event triggers triage and contain-incident (the incident names a device and an account:
   one approval for both); the waiting-approval message goes to a local webhook receiver (the
   demo prints its subject and link); the demo approves as an operator would (or waits for you
   in the UI with ``--no-auto-approve``): the device is isolated and the incident's account
   (``jdoe``) is disabled and signed out on Entra ID and on-premises AD.
5. Prints the outcome, the artifacts and the run URLs, the API requests per surface
   (``requests: graph N, mde N, xdr 0``), then stops what it started.

The Defender XDR API is retired in the emulator by default (``--retire xdr``; Microsoft retires
it on 1 February 2027): the whole loop runs on Microsoft Graph plus Defender for Endpoint's
device actions, and the demo fails if anything called a retired API. ``--retire none`` keeps
every surface; ``--retire mde`` shows what still needs Defender for Endpoint (the isolation).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect_defender.cli.demo_inbox import INBOX_BLOCK, DemoInbox
from prefect_defender.cli.demo_runs import (
    Approved,
    DemoRuns,
    deployments_ready,
    forget_identity_runs,
    say,
    wait,
)

__all__ = ["run_demo"]

APP_BLOCK = "defender-application-credentials/demo-soc"
PARTNER_BLOCK = "defender-partner-credentials/demo-mssp"
USER_BLOCK = "defender-user-credentials/demo-analyst"
TIME_SCALE = 30.0  # machine actions finish in seconds, rate limits scaled alike
#: what the demo retires in the emulator unless told otherwise (MC1220762: 1 February 2027)
DEFAULT_RETIRED = ("xdr",)
#: the API surfaces whose requests the demo prints at the end
SURFACES = ("graph", "mde", "xdr")


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
    signed_in = user.sign_in_with_device_code(show=lambda m: say(f"device code: {m}"))
    user.save("demo-analyst", overwrite=True)
    say(f"user block signed in as {signed_in}")
    return {"application": APP_BLOCK, "partner": PARTNER_BLOCK, "user": USER_BLOCK}


def run_demo(
    data_dir: Path,
    *,
    auto_approve: bool = True,
    keep_running: bool = False,
    retire: Sequence[str] = DEFAULT_RETIRED,
) -> int:
    """Run the demo with the ``retire`` surfaces retired in the emulator; return an exit code."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.cli.servers import PrefectServer
    from prefect_defender.emulator.server import EmulatorServer

    started = time.monotonic()
    data_dir = data_dir.resolve()
    emu_config = {
        "time_scale": TIME_SCALE,
        "action_pending_seconds": 30,
        "action_running_seconds": 60,
        "retired_surfaces": list(retire),
    }
    with _sigterm_stops(), EmulatorServer(data_dir / "emulator", 0, emu_config) as emu:
        say(f"emulator on {emu.base_url} ({data_dir / 'emulator' / 'connection.json'})")
        if retire:
            say(f"retired in the emulator (every call answers 404): {', '.join(retire)}")
        with PrefectServer(data_dir / "prefect") as server:
            say(f"Prefect server on {server.ui_url}")
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                code = _run(emu, server, auto_approve=auto_approve)
                code = _surfaces_used(emu, retire, code)
                if keep_running:
                    _keep_running(server, emu)
    say(f"finished in {time.monotonic() - started:.1f}s; emulator and Prefect server stopped")
    return code


class _Stop(KeyboardInterrupt):
    """SIGTERM, turned into what Ctrl-C raises so that every ``with`` unwinds."""


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise _Stop


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """While the demo runs, a SIGTERM (a service manager, ``kill``) stops it as Ctrl-C does,
    so every ``with`` unwinds: the Prefect server runs in its own process group and would
    otherwise outlive the demo. The previous handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _keep_running(server: Any, emu: Any) -> None:
    """Keep the emulator and the Prefect server up until Ctrl-C or SIGTERM; say how to use them
    from another shell first."""
    say(f"open {server.ui_url} - Ctrl-C (or SIGTERM) stops the emulator and the server")
    say("to run flows against them from another shell:")
    say(f"  export PREFECT_API_URL={server.api_url}")
    say(f"  emulator: {emu.data_dir / 'connection.json'}")
    say(f"  saved blocks: {', '.join(_saved_blocks()) or 'none'}")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


def _saved_blocks() -> list[str]:
    """The blocks saved on the Prefect server, as ``<block-type-slug>/<name>`` (what playbooks
    and ``Block.load`` take)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        docs = client.read_block_documents(include_secrets=False)
    named = [d for d in docs if d.block_type and d.name and not d.is_anonymous]
    return sorted(f"{d.block_type.slug}/{d.name}" for d in named if d.block_type)


def _run(emu: Any, server: Any, *, auto_approve: bool) -> int:
    """Blocks, poller, event-triggered playbooks, approvals and the printed outcome."""
    from prefect.deployments import run_deployment

    conn = dict(emu.connection)
    create_demo_blocks(conn, TIME_SCALE)
    if not _blocks_reach_their_tenants(conn):
        return 1
    contoso = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
    demo = _incident(emu, contoso)
    say(f"seeded incident 1001: {demo['incidentName']} ({demo['severity']}, {demo['status']})")
    # the emulator's world is new on every demo run: forget what earlier demo runs of the day
    # recorded as done (the contain-identity run keys), or their re-run would skip the account
    forgotten = asyncio.run(forget_identity_runs())
    if forgotten:
        say(f"forgot {forgotten} identity run record(s) of earlier demo runs")
    _start_poller_before(contoso, demo["createdTime"])
    with DemoInbox() as inbox:
        proc, log = _serve_playbooks(server, inbox.save_block())
        try:
            _wait_for_deployments(proc, log.name)
            say("running the incident poller")
            poll: Any = run_deployment("defender-incident-poller/incident-poller", timeout=180)
            # the server's clock: runs the poller's events trigger are created after the poller
            runs = DemoRuns(server.ui_url, poll.created or datetime.now(UTC), auto_approve)
            say(f"poller finished: {poll.state.name if poll.state else poll.state}")
            contain = runs.approve(
                "contain-incident-on-incident",
                "contain-incident",
                {
                    "isolation_type": "Selective",
                    "comment": "demo approval: ransomware on jdoe's PC",
                },
                told=lambda: _told(inbox),
            )
            contain.final = runs.finished("contain-incident-on-incident", contain)
            triage = runs.triage_finished()
            emitted = _emitted_at(server.api_url, 1001, poll.start_time or poll.created)
            return _print_outcome(emu, contoso, server.ui_url, emitted, contain, triage)
        finally:
            _stop(proc, log)


def _told(inbox: DemoInbox) -> None:
    """Say where the waiting-approval message went and what it said."""
    message = inbox.wait_for("Approval needed", 60)
    if message is None:
        say(f"no waiting-approval message reached the local receiver ({inbox.url})")
        return
    say(f"waiting-approval message sent to {INBOX_BLOCK} (a local receiver at {inbox.url}):")
    say(f"  {message.get('subject', '')}")
    link = next((ln for ln in str(message.get("text", "")).splitlines() if "http" in ln), "")
    if link:
        say(f"  {link}")


def _surfaces_used(emu: Any, retired: Sequence[str], code: int) -> int:
    """Print the API requests per surface; ``code``, or 1 when a retired surface was called."""
    counts = emu.admin.surface_counts()
    say("requests: " + ", ".join(f"{s} {counts.get(s, 0)}" for s in SURFACES))
    called = [s for s in retired if counts.get(s, 0)]
    if called:
        say(f"FAILED: the demo called the retired {', '.join(called)} API")
        return 1
    return code


def _blocks_reach_their_tenants(conn: dict[str, Any]) -> bool:
    """Run the connectivity check on the three blocks and print a line per tenant; True when
    every tenant but northwind (which never consented, on purpose) answers."""
    from prefect_defender.flows.connectivity import defender_connectivity_check

    northwind = {t["tenant_id"] for t in conn["tenants"] if t["name"] == "northwind"}
    rows = asyncio.run(defender_connectivity_check([APP_BLOCK, PARTNER_BLOCK, USER_BLOCK]))
    for row in rows:
        expected = row["tenant_id"] in northwind
        state = "ok" if row["ok"] else ("no consent (expected)" if expected else "FAILED")
        say(
            f"  {row['block']:<44} {row['tenant_id'][:8]}: {row.get('incidents')} incidents,"
            f" {row.get('machines')} machines [{state}]"
        )
    return all(r["ok"] for r in rows if r["tenant_id"] not in northwind)


def _incident(emu: Any, tenant: str) -> dict[str, Any]:
    """The demo incident (1001) as the emulator holds it now."""
    return dict(next(i for i in emu.admin.dump(tenant, "incidents") if i["incidentId"] == 1001))


def _start_poller_before(tenant: str, created_time: str) -> None:
    """Set the poller's checkpoint to just before the demo incident was created."""
    from prefect.variables import Variable

    start_at = datetime.fromisoformat(created_time[:19]).replace(tzinfo=UTC)
    Variable.set(
        "defender_incident_checkpoint",
        {
            tenant: {
                "last_update": (start_at - timedelta(seconds=1)).isoformat(),
                "ids_at_last_update": [],
            }
        },
        overwrite=True,
    )


def _serve_playbooks(server: Any, approvals: str) -> tuple[subprocess.Popen[bytes], Any]:
    """Start ``deployments.serve`` in its own process group, logging to ``serve.log``; the
    containments tell ``approvals`` (a notification block) that a decision waits."""
    contain = {
        "approval": {"poll_interval_seconds": 1, "timeout_seconds": 900, "notify": [approvals]},
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
    return proc, log


def _wait_for_deployments(proc: subprocess.Popen[bytes], log_name: str) -> None:
    """Wait until the serve process has registered the deployments the demo runs."""
    wanted = [
        "incident-poller",
        "triage-on-incident",
        "contain-incident-on-incident",
    ]

    def registered() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the serve process exited ({proc.returncode}); see {log_name}")
        return asyncio.run(deployments_ready(wanted))

    # under load the serve process can take well over a minute to register
    wait(registered, 300, "the deployments to be registered")
    time.sleep(3)


def _stop(proc: subprocess.Popen[bytes], log: Any) -> None:
    """Stop the serve process group (SIGTERM, then SIGKILL after 20 s) and close its log."""
    os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
    log.close()


def _emitted_at(api_url: str, incident_id: int, since: datetime | None) -> datetime | None:
    """When the poller emitted ``defender.incident.created`` for the incident: the event's own
    ``occurred`` time, stamped by the poller's process. The contain run's start time is stamped
    the same way on the same host, and the run can only start after the event, so their
    difference is the event-to-action latency. (The poller run's end was not: its events start
    containment while it is still running, which once printed a negative latency.)"""
    import httpx

    window = {"since": (since or datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    window["until"] = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    body = {"filter": {"event": {"name": ["defender.incident.created"]}, "occurred": window}}
    resp = httpx.post(f"{api_url}/events/filter", json={**body, "limit": 50}, timeout=30)
    resp.raise_for_status()
    times = [
        datetime.fromisoformat(e["occurred"])
        for e in resp.json().get("events", [])
        if e["resource"].get("defender.incident.id") == str(incident_id)
    ]
    return min(times) if times else None


def _print_outcome(
    emu: Any,
    contoso: str,
    ui_url: str,
    emitted_at: datetime | None,
    contain: Approved,
    triage: Any,
) -> int:
    """Print what happened on the emulator and where to look; 0 when it all worked."""
    run = contain.run
    started = run.start_time
    latency = (started - emitted_at).total_seconds() if started and emitted_at else None
    actions = [a for a in emu.admin.dump(contoso, "machineActions") if a["type"] == "Isolate"]
    incident = _incident(emu, contoso)
    say("-" * 72)
    say(f"triage: {triage.state.name}; incident tags now {incident['tags']}")
    say(
        f"contain-incident: {contain.final.state.name}; isolations on the emulator: "
        + ", ".join(f"{a['computerDnsName']} {a['status']}" for a in actions)
    )
    disabled = [
        u["userPrincipalName"]
        for u in emu.admin.dump(contoso, "entra_users")
        if u.get("accountEnabled") is False
    ]
    acted = emu.admin.dump(contoso, "identity_log")
    say(
        "accounts disabled: "
        + (", ".join(disabled) or "none")
        + f"; identity actions on the emulator: {len(acted)} ("
        + ", ".join(sorted({f"{e['action']}@{e['provider']}" for e in acted}))
        + ")"
    )
    if incident["comments"]:
        say(f"last incident comment: {incident['comments'][-1]['comment'][:240]}")
    if latency is not None:
        say(f"event-to-action latency: {latency:.1f}s (event emitted -> contain run started)")
    say(f"report artifacts: {ui_url}/artifacts")
    say(f"contain-incident run: {contain.url}")
    say(f"triage run: {ui_url}/runs/flow-run/{triage.id}")
    ok = (
        contain.final.state.is_completed()
        and triage.state.is_completed()
        and any(a["status"] == "Succeeded" for a in actions)
        and bool(disabled)
    )
    return 0 if ok else 1
