"""Scale-out on a real stack: PostgreSQL, a Prefect server on it, a process work pool and two
process workers. The incident poller's events for 50 new High-severity incidents trigger 50
contain-device runs at once (auto-approve policy, so no human step).

This is the layout of ``docker-compose.yml`` with the same pool, commands and environment
variables; only hosts, ports and the generated secrets differ, plus three test-only steps: the
server's scheduler is off (the test starts the poller itself, so counts are deterministic),
contain-on-incident is redeployed with the auto-approve policy (the operator's opt-in that
docs/production.md shows) and an hourly write cap of exactly the burst's writes (each run
isolates and comments: 100 writes in one tenant, the default cap), and the triage automation is
paused (the burst measures containment alone).

Asserted: every run completes, exactly once (one Running and one Completed state each, one run
per incident, even after the same 50 events are delivered a second time); each device is
isolated exactly once and each incident commented once at the emulator, so the cap counted
every write once (a device not isolated must have its reason in its run's report, and the
failure names it); both workers took runs; the server's data is in PostgreSQL (rows queried
there) and no SQLite file was created anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from prefect_defender.cli.servers import PrefectServer
from tests.scale.conftest import TIME_SCALE
from tests.scale.postgres import PostgresCluster
from tests.scale.run_reports import run_outcome

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
POOL = "defender-process"  # as in deployments/prefect.yaml and docker-compose.yml
WORKERS = ("worker-a", "worker-b")
WORKER_LIMIT = 5  # concurrent flow runs per worker (docker-compose.yml: --limit 5)
RUNS = 50
POLLER = "defender-incident-poller/incident-poller"
CONTAIN = "defender-contain-device/contain-on-incident"
TRIAGE_AUTOMATION = "defender-incident-created-triage"
#: what each contain run writes in the tenant: the isolation and the comment on the incident
WRITES_PER_RUN = 2
#: the burst's writes within the hour, all in one tenant
BURST_WRITES = RUNS * WRITES_PER_RUN
#: what an operator sets on contain-on-incident: the policy approves High incidents, and the
#: tenant's hourly write cap is what a burst of RUNS incidents writes (100, the default), so a
#: write counted twice refuses the last isolation
AUTO_APPROVE = {
    "approval": {"auto_approve_severities": ["High"]},
    "safety": {"max_actions_per_hour": BURST_WRITES},
    "poll_interval_seconds": 0.5,
}
CONTAIN_REPORT = "defender-contain-device"
#: worker settings shared with docker-compose.yml
WORKER_ENV = {"PREFECT_WORKER_QUERY_SECONDS": "2"}
#: the deploy service of docker-compose.yml: ``prefect <args>`` for each
DEPLOY_COMMANDS = (
    ("work-pool", "create", POOL, "--type", "process", "--overwrite"),
    ("--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"),
)


def worker_command(name: str) -> list[str]:
    """``prefect <args>`` of a worker service of docker-compose.yml."""
    return [
        "worker",
        "start",
        "--pool",
        POOL,
        "--type",
        "process",
        "--name",
        name,
        "--limit",
        str(WORKER_LIMIT),
    ]


@dataclass
class Stack:
    """The running stack and what the test needs to reach it."""

    postgres: PostgresCluster
    server: PrefectServer
    auth: str
    home: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return str(self.server.api_url)

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        """Environment of a Prefect client process (CLI, worker): API URL and auth, no DB URL."""
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            {
                "PREFECT_API_URL": self.api,
                "PREFECT_API_AUTH_STRING": self.auth,
                "PREFECT_HOME": str(home),
                "PREFECT_DEFENDER_HOME": str(ROOT),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                **extra,
            }
        )
        return env

    def settings(self) -> Any:
        """``temporary_settings`` pointing this process's Prefect client at the server."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        return temporary_settings({PREFECT_API_URL: self.api, PREFECT_API_AUTH_STRING: self.auth})

    def cli(self, *args: str, timeout: float = 180) -> str:
        """``prefect <args>`` as the deploy service of docker-compose.yml runs it."""
        out = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            env=self.client_env(self.home / "cli"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert out.returncode == 0, (
            f"prefect {' '.join(args)}:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
        )
        return out.stdout


def _wait(pred: Callable[[], Any], timeout: float, what: str, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def _wait_progress(
    count: Callable[[], tuple[int, Any]], target: int, stall: float, what: str, every: float = 2.0
) -> Any:
    """Wait until ``count()`` reaches ``target``, failing only when it stops moving for
    ``stall`` seconds: how long 50 process starts take depends on the host's cores (the burst
    is CPU-bound), whether the runs keep finishing does not."""
    best, deadline = -1, time.monotonic() + stall
    while True:
        n, value = count()
        if n >= target:
            return value
        if n > best:
            best, deadline = n, time.monotonic() + stall
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no progress for {stall:.0f}s waiting for {what}: {best} of {target}"
            )
        time.sleep(every)


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGINT to the process group we started, SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    pgid = os.getpgid(proc.pid)
    os.killpg(pgid, signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)


def _start_worker(stack: Stack, name: str) -> subprocess.Popen[bytes]:
    log = (stack.home / f"{name}.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", *worker_command(name)],
            env=stack.client_env(stack.home / name, **WORKER_ENV),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


async def _online_workers() -> set[str]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        workers = await client.read_workers_for_work_pool(POOL, offset=0, limit=50)
        return {w.name for w in workers if str(getattr(w.status, "value", w.status)) == "ONLINE"}


async def _pause_automation(name: str) -> int:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        found = await client.read_automations_by_name(name)
        for automation in found:
            await client.pause_automation(automation.id)
        return len(found)


async def _runs_of(name: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        dep = await client.read_deployment_by_name(name)
        return list(
            await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
                limit=200,
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            )
        )


@pytest.fixture(scope="module")
def stack(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Server on PostgreSQL, the pool, the deployments of prefect.yaml, two process workers."""
    home = tmp_path_factory.mktemp("scale-out")
    auth = f"defender:{secrets.token_urlsafe(18)}"
    t0 = time.monotonic()
    server = PrefectServer(
        home / "server",
        database_url=postgres.url,
        extra_env={
            "PREFECT_SERVER_API_AUTH_STRING": auth,
            # block secrets encrypted with a key kept outside the database
            "PREFECT_SERVER_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        },
    )
    with server:
        st = Stack(postgres=postgres, server=server, auth=auth, home=home)
        st.timings["server start (migrations on PostgreSQL)"] = time.monotonic() - t0
        t1 = time.monotonic()
        for command in DEPLOY_COMMANDS:  # the deploy service of docker-compose.yml
            st.cli(*command)
        # the operator's opt-in to auto-approval of High incidents (docs/production.md)
        st.cli(
            "--no-prompt",
            "deploy",
            "--prefect-file",
            "deployments/prefect.yaml",
            "--name",
            "contain-on-incident",
            "--params",
            json.dumps(AUTO_APPROVE),
        )
        st.timings["pool + deploy (3 CLI calls)"] = time.monotonic() - t1
        t2 = time.monotonic()
        try:
            for name in WORKERS:
                st.workers[name] = _start_worker(st, name)
            with st.settings():
                _wait(
                    lambda: asyncio.run(_online_workers()) >= set(WORKERS),
                    90,
                    "both workers to come online",
                )
            st.timings["two workers online"] = time.monotonic() - t2
            yield st
        finally:
            for proc in st.workers.values():
                _stop_group(proc)


def test_fifty_triggered_containments_on_two_workers(
    emulator: Any, conn: Any, stack: Stack
) -> None:
    # the emulator first: its seed data must be older than the poller's checkpoint
    from prefect.deployments import run_deployment
    from prefect.variables import Variable

    from prefect_defender.blocks import DefenderApplicationCredentials

    admin = emulator.admin
    tid = conn["apps"]["soc"]["tenant_id"]
    pg = stack.postgres
    with stack.settings():
        assert asyncio.run(_pause_automation(TRIAGE_AUTOMATION)) == 1
        DefenderApplicationCredentials.from_emulator(conn, time_scale=TIME_SCALE).save(
            "soc", overwrite=True
        )
        # the poller reports what changes from now on (whole seconds, like Defender's clock)
        time.sleep(1.0)
        since = datetime.now(UTC).replace(microsecond=0)
        Variable.set(
            "defender_incident_checkpoint",
            {tid: {"last_update": since.isoformat(), "ids_at_last_update": []}},
            overwrite=True,
        )
    protected = {"domaincontroller", "tier0", "donotisolate"}
    machines = sorted(
        (
            m
            for m in admin.dump(tid, "machines")
            if "-ws-" in m["computerDnsName"]
            and m["isolationState"] == "NotIsolated"
            and not protected & {t.lower() for t in m["machineTags"]}
        ),
        key=lambda m: m["computerDnsName"],
    )[:RUNS]
    assert len(machines) == RUNS
    incidents = admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": f"Scale-out burst {k:02d}",
                "severity": "High",
                "alerts": [
                    {
                        "id": f"da_scale_{k:02d}",
                        "machineId": m["id"],
                        "severity": "High",
                        "title": "Scale-out burst",
                        "computerDnsName": m["computerDnsName"],
                        "entities": [],
                    }
                ],
            }
            for k, m in enumerate(machines)
        ],
    )
    device_of = {str(i["incidentId"]): m["id"] for i, m in zip(incidents, machines, strict=True)}

    # -- the burst: one poller run emits 50 events; the trigger starts 50 contain runs --------
    burst_start = time.monotonic()
    with stack.settings():
        poll: Any = run_deployment(POLLER, timeout=180, poll_interval=1)
    assert poll.state.is_completed(), poll.state

    def created_events() -> list[dict[str, Any]] | None:
        rows = pg.query(
            "SELECT id, occurred, event, resource::text AS resource, payload::text AS payload "
            "FROM events WHERE event = $1",
            "defender.incident.created",
        )
        return rows if len(rows) >= RUNS else None

    emitted = _wait(created_events, 60, "the poller's events in PostgreSQL")
    assert len(emitted) == RUNS
    # a re-run after a crash delivers the same events again: they must start nothing
    replay = [
        {
            "id": str(r["id"]),
            "occurred": r["occurred"].isoformat(),
            "event": r["event"],
            "resource": json.loads(r["resource"]),
            "payload": json.loads(r["payload"]),
        }
        for r in emitted
    ]
    user, password = stack.auth.split(":", 1)
    resp = httpx.post(f"{stack.api}/events", json=replay, auth=(user, password), timeout=30)
    assert resp.status_code == 204, resp.text

    def final_runs() -> tuple[int, list[Any]]:
        with stack.settings():
            runs = asyncio.run(_runs_of(CONTAIN))
        done = [r for r in runs if r.state and r.state.is_final()]
        # all RUNS created and every created run final (a 51st would fail the asserts below)
        return (len(done) if len(done) == len(runs) else min(len(done), RUNS - 1)), runs

    runs: list[Any] = _wait_progress(final_runs, RUNS, 180, f"{RUNS} contain-device runs to finish")
    burst_seconds = time.monotonic() - burst_start
    time.sleep(5)  # anything the replayed events could still start would show up by now
    with stack.settings():
        runs = asyncio.run(_runs_of(CONTAIN))

    # -- exactly once, from the API ---------------------------------------------------------
    by_incident = Counter(str(r.parameters.get("incident_id")) for r in runs)
    lost = sorted(set(device_of) - set(by_incident))
    duplicated = sorted(i for i, n in by_incident.items() if n > 1)
    not_completed = [f"{r.name}: {r.state.name}" for r in runs if not r.state.is_completed()]

    # -- exactly once, from PostgreSQL: state history and which worker submitted each run ---
    ids = [r.id for r in runs]
    states = pg.query(
        "SELECT flow_run_id, type::text AS type, count(*) AS n FROM flow_run_state "
        "WHERE flow_run_id = ANY($1::uuid[]) AND type::text IN ('RUNNING', 'COMPLETED') "
        "GROUP BY 1, 2",
        ids,
    )
    twice = [(s["flow_run_id"], s["type"]) for s in states if s["n"] != 1]
    id_set = {str(i) for i in ids}

    def executions() -> list[tuple[str, str]] | None:
        # emitted by a worker only after the server granted it the run's Pending state
        rows = pg.query(
            "SELECT resource::text AS resource, related::text AS related FROM events "
            "WHERE event = 'prefect.worker.submitted-flow-run'"
        )
        found = []
        for row in rows:
            worker = json.loads(row["resource"]).get("prefect.resource.name", "?")
            for rel in json.loads(row["related"]):
                rid = str(rel.get("prefect.resource.id", ""))
                if rel.get("prefect.resource.role") == "flow-run":
                    run_id = rid.removeprefix("prefect.flow-run.")
                    if run_id in id_set:
                        found.append((str(worker), run_id))
        return found if len({r for _, r in found}) >= len(ids) else None

    executed = _wait(executions, 60, "the workers' submitted-flow-run events in PostgreSQL")
    per_worker = Counter(w for w, _ in executed)
    executed_twice = [r for r, n in Counter(r for _, r in executed).items() if n > 1]
    # both workers may try to claim the same run; the server grants Pending once, the other
    # worker logs "Aborted submission" and skips it
    attempts = Counter(
        str(r["flow_run_id"])
        for r in pg.query(
            "SELECT flow_run_id FROM log WHERE flow_run_id = ANY($1::uuid[]) "
            "AND message LIKE 'Worker %submitting flow run%'",
            ids,
        )
    )
    aborted = Counter(
        str(r["flow_run_id"])
        for r in pg.query(
            "SELECT flow_run_id FROM log WHERE flow_run_id = ANY($1::uuid[]) "
            "AND message LIKE 'Aborted submission of flow run%'",
            ids,
        )
    )
    claims_won = {r: attempts[r] - aborted[r] for r in id_set}
    db_runs = pg.query(
        "SELECT count(*) AS n FROM flow_run fr JOIN deployment d ON d.id = fr.deployment_id "
        "WHERE d.name = 'contain-on-incident'"
    )[0]["n"]

    # -- exactly once, at Defender (the emulator) --------------------------------------------
    isolations = Counter(
        a["machineId"]
        for a in admin.dump(tid, "machineActions")
        if a["type"] == "Isolate" and a["machineId"] in set(device_of.values())
    )
    succeeded = {
        a["machineId"]
        for a in admin.dump(tid, "machineActions")
        if a["type"] == "Isolate" and a["status"] == "Succeeded"
    }
    isolated_twice = [m for m, n in isolations.items() if n > 1]
    never_isolated = [m for m in device_of.values() if m not in isolations]
    # a device not isolated: what its run recorded (state, report row, warnings)
    run_of = {str(r.parameters.get("incident_id")): r for r in runs}
    why_not = {
        m: run_outcome(pg, run_of[i], CONTAIN_REPORT) if i in run_of else None
        for i, m in device_of.items()
        if m in never_isolated
    }
    commented = Counter(
        str(i["incidentId"])
        for i in admin.dump(tid, "incidents")
        if str(i["incidentId"]) in device_of
        for c in i.get("comments") or []
        if str(c.get("comment", "")).startswith("Containment (")
    )
    not_commented = sorted(set(device_of) - set(commented))

    # -- figures -------------------------------------------------------------------------------
    stamps: dict[str, dict[str, datetime]] = {}
    for row in pg.query(
        "SELECT flow_run_id, type::text AS type, min(timestamp) AS ts FROM flow_run_state "
        "WHERE flow_run_id = ANY($1::uuid[]) GROUP BY 1, 2",
        ids,
    ):
        stamps.setdefault(str(row["flow_run_id"]), {})[row["type"]] = row["ts"]

    def phase(a: str, b: str) -> tuple[float, float] | None:
        spans = [(st[b] - st[a]).total_seconds() for st in stamps.values() if a in st and b in st]
        return (round(statistics.median(spans), 1), round(max(spans), 1)) if spans else None

    created = [r.created for r in runs if r.created]
    ended = [r.end_time for r in runs if r.end_time]
    durations = [r.total_run_time.total_seconds() for r in runs]
    waits = [(r.start_time - r.created).total_seconds() for r in runs if r.start_time and r.created]
    span = (max(ended) - min(created)).total_seconds() if created and ended else float("nan")
    figures = {
        "prefect": _prefect_version(),
        "postgres": pg.query("SHOW server_version")[0]["server_version"],
        **{k: round(v, 1) for k, v in stack.timings.items()},
        "runs": len(runs),
        "completed": len(runs) - len(not_completed),
        "lost": len(lost),
        "duplicated (runs per incident > 1)": len(duplicated),
        "run twice (Running/Completed states != 1)": len(twice),
        "executed by two workers": len(executed_twice),
        "claim races (both workers tried; server granted one)": sum(aborted.values()),
        "devices isolated": len(isolations),
        "devices isolated twice": len(isolated_twice),
        "incidents commented": len(commented),
        "writes (hourly cap)": f"{sum(isolations.values()) + sum(commented.values())} "
        f"({BURST_WRITES})",
        "per worker": dict(sorted(per_worker.items())),
        "burst: poller start -> last run final (s)": round(burst_seconds, 1),
        "first run created -> last run ended (s)": round(span, 1),
        "throughput (runs/min)": round(len(runs) / span * 60, 1) if span else None,
        "run time median / max (s)": (
            round(statistics.median(durations), 1),
            round(max(durations), 1),
        ),
        "queued: scheduled -> pending median / max (s)": phase("SCHEDULED", "PENDING"),
        "process start: pending -> running median / max (s)": phase("PENDING", "RUNNING"),
        "flow: running -> completed median / max (s)": phase("RUNNING", "COMPLETED"),
        "created -> running median / max (s)": (
            round(statistics.median(waits), 1),
            round(max(waits), 1),
        )
        if waits
        else None,
    }
    print("\nscale-out figures:")
    for key, value in figures.items():
        print(f"  {key}: {value}")

    assert not lost, f"incidents without a contain run: {lost}"
    assert not duplicated, f"incidents contained by more than one run: {duplicated}"
    assert not not_completed, not_completed
    assert len(runs) == RUNS and db_runs == RUNS
    assert not twice, f"runs with a repeated Running/Completed state: {twice}"
    assert not executed_twice, executed_twice
    assert all(n == 1 for n in claims_won.values()), claims_won
    assert set(per_worker) == set(WORKERS), f"both workers should take runs: {per_worker}"
    assert not isolated_twice, f"devices isolated more than once: {isolated_twice}"
    # a run that completed without isolating says why in its report (never silently nothing)
    untold = {m: str(o) for m, o in why_not.items() if o is None or not o.reason()}
    assert not untold, f"devices not isolated, no reason recorded: {untold}"
    assert not never_isolated, "devices not isolated: " + "; ".join(
        f"{m}: {o}" for m, o in why_not.items()
    )
    assert not not_commented, "incidents not commented: " + "; ".join(
        f"{i}: {run_outcome(pg, run_of[i], CONTAIN_REPORT)}" for i in not_commented
    )
    assert all(n == 1 for n in commented.values()), commented
    assert set(device_of.values()) <= succeeded
    machines_now = {m["id"]: m for m in admin.dump(tid, "machines")}
    assert all(machines_now[m]["isolationState"] == "Isolated" for m in device_of.values())


def test_the_server_kept_its_data_in_postgresql(stack: Stack, conn: Any) -> None:
    from prefect_defender.blocks import DefenderApplicationCredentials

    pg = stack.postgres
    with stack.settings():
        DefenderApplicationCredentials.from_emulator(conn, time_scale=TIME_SCALE).save(
            "soc", overwrite=True
        )
    # block secrets are encrypted in PostgreSQL, and the key is not there (it comes from
    # PREFECT_SERVER_ENCRYPTION_KEY): the database or its backups alone reveal no secret
    secret = conn["apps"]["soc"]["client_secret"]
    stored = pg.query("SELECT data::text AS data FROM block_document WHERE name = 'soc'")
    assert stored and all(secret not in r["data"] for r in stored)
    keys = pg.query("SELECT key FROM configuration")
    assert "ENCRYPTION_KEY" not in {r["key"] for r in keys}
    tables = {
        r["tablename"]
        for r in pg.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert {
        "flow_run",
        "deployment",
        "work_pool",
        "events",
        "automation",
        "block_document",
    } <= tables
    deployments = {r["name"] for r in pg.query("SELECT name FROM deployment")}
    assert {"incident-poller", "contain-on-incident", "triage-on-incident"} <= deployments
    pools = {r["name"] for r in pg.query("SELECT name FROM work_pool")}
    assert POOL in pools
    workers = {
        r["name"]
        for r in pg.query(
            "SELECT w.name FROM worker w JOIN work_pool p ON p.id = w.work_pool_id "
            "WHERE p.name = $1",
            POOL,
        )
    }
    assert set(WORKERS) <= workers
    assert pg.query("SELECT version_num FROM alembic_version")
    # nothing fell back to a local SQLite database (server, CLI or worker homes)
    sqlite_files = [
        str(p) for p in stack.home.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3")
    ]
    assert not sqlite_files, sqlite_files
    # and the server refuses clients without the API auth string
    assert httpx.get(f"{stack.api}/work_pools/{POOL}", timeout=10).status_code == 401


def test_the_hourly_cap_counts_concurrent_writes_once(stack: Stack) -> None:
    """As many writes at once as a tenant's hourly cap allows, from as many runs (guards), on
    the Prefect server on PostgreSQL: every one is admitted and the next is refused. With one
    slot per write, a transaction that began before another's commit added a slot (29 to 33 of
    40 were admitted)."""
    from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard

    cap = 40
    policy = SafetyPolicy(max_actions_per_hour=cap)
    tenant = f"hourly-cap-{secrets.token_hex(8)}"  # a limit of its own

    async def burst() -> tuple[list[str | None], str | None]:
        at_once = await asyncio.gather(*(WriteGuard(policy).admit(tenant) for _ in range(cap)))
        return list(at_once), await WriteGuard(policy).admit(tenant)

    with stack.settings():
        admitted, after = asyncio.run(burst())
    refused = [r for r in admitted if r is not None]
    assert not refused, f"{len(refused)} of {cap} writes refused at a cap of {cap}: {refused[0]}"
    assert after is not None and f"hourly cap of {cap} " in after, after


def _prefect_version() -> str:
    import prefect

    return str(prefect.__version__)


MSSP = "defender-mssp-fanout/mssp-fanout"
MSSP_TENANTS = 20  # plus northwind, which has not consented
#: six groups: the worker running the coordinator has 4 slots left, so the other takes 2 or more
GROUP_SIZE = 4


def test_an_mssp_sweep_in_groups_shared_by_two_workers(
    emulator: Any, conn: Any, stack: Stack
) -> None:
    """The mssp-fanout deployment of prefect.yaml over 21 tenants in groups of 4: six group
    runs on the pool, taken by both workers, and one merged report listing every tenant once."""
    from prefect.deployments import run_deployment

    from prefect_defender.blocks import DefenderPartnerCredentials
    from prefect_defender.flows.mssp_groups import GROUP_TAG
    from prefect_defender.flows.mssp_report import TABLE_KEY
    from tests.flows.conftest import run_artifact

    names = ["northwind", *(f"cust{i:02d}" for i in range(1, MSSP_TENANTS + 1))]
    baseline = {"value": "mssp-groups.example", "type": "DomainName", "action": "Block"}
    baseline |= {"title": "MSSP groups", "description": "scale-out test"}
    t0 = time.monotonic()
    with stack.settings():
        block = DefenderPartnerCredentials.from_emulator(conn, tenants=names, time_scale=TIME_SCALE)
        block.save("mssp", overwrite=True)  # the deployment's credentials
        parent: Any = run_deployment(
            MSSP,
            parameters={"query": "DeviceInfo | count", "indicator_baseline": [baseline]}
            | {"group_size": GROUP_SIZE},
            timeout=600,
            poll_interval=1,
        )
        groups = asyncio.run(_runs_tagged(GROUP_TAG))
        merged = json.loads(asyncio.run(run_artifact(parent.id, TABLE_KEY)))
    seconds = time.monotonic() - t0
    assert parent.state.is_completed(), parent.state
    assert len(groups) == 6 and all(g.state.is_completed() for g in groups)
    assert all(g.parent_task_run_id is not None for g in groups)  # under the coordinating run
    ids = [t.tenant_id for t in block.tenants]
    assert sorted(r["tenant_id"] for r in merged) == sorted(ids)  # every tenant, once
    by = {r["tenant_id"]: r for r in merged}
    northwind = by[ids[0]]
    assert northwind["status"] == "failed" and "adminconsent" in northwind["consent_link"]
    assert all(by[t]["status"] == "ok" and by[t]["indicators"] == "1/1" for t in ids[1:])
    # the groups ran on both workers
    run_ids = {str(g.id) for g in groups}
    workers = Counter(w for w, r in _submitted(stack.postgres) if r in run_ids)
    assert set(workers) == set(WORKERS), workers
    # each customer got the indicator exactly once
    for tenant_id in ids[1:]:
        made = [
            i
            for i in emulator.admin.dump(tenant_id, "indicators")
            if i["indicatorValue"] == baseline["value"]
        ]
        assert len(made) == 1, (tenant_id, made)
    print(f"\nMSSP sweep in {len(groups)} groups over {len(ids)} tenants: {seconds:.1f} s")


async def _runs_tagged(tag: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    async with get_client() as client:
        return list(
            await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])), limit=50
            )
        )


def _submitted(pg: PostgresCluster) -> list[tuple[str, str]]:
    """(worker, flow run id) of every run a worker submitted (the server granted it)."""
    out = []
    for row in pg.query(
        "SELECT resource::text AS resource, related::text AS related FROM events "
        "WHERE event = 'prefect.worker.submitted-flow-run'"
    ):
        worker = json.loads(row["resource"]).get("prefect.resource.name", "?")
        for rel in json.loads(row["related"]):
            if rel.get("prefect.resource.role") == "flow-run":
                out.append((str(worker), str(rel["prefect.resource.id"]).split(".")[-1]))
    return out
