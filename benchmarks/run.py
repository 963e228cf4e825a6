"""prefect-defender benchmarks against the emulator; every figure is a ratio measured in this run.

Run with ``make bench`` (installs the ``bench`` extra: msgraph-sdk and azure-identity, which are
not runtime dependencies). Writes ``benchmarks/results/<date>.md`` and prints the same table.

1. Rate ceiling: bulk isolation and bulk AV scan of 500 machines under the emulator's
   time-scaled MDE limit (100 calls per 2 s); baselines: a naive loop like Microsoft's samples
   (token once, requests in sequence, no pacing) and a client that retries a 429 once (XSOAR).
2. Client overhead: 1,000 ``GET /api/machines/{id}`` through the client vs bare httpx, same
   concurrency, limits off, both warmed up (token and connections).
3. Token reuse per context: application (20 concurrent workers, 50 calls each: 1,000 in all),
   partner fan-out over 10 tenants, user (a device-code sign-in, then 20 workers each with its
   own block copy).
4. The official SDK: listing 10,000 Graph incidents + one hunting query, msgraph-sdk vs ours,
   both with ``$top=1000`` over HTTP/1.1, each in a fresh process.
5. A 100,000-row hunting answer: parse time and heap vs the raw JSON size; streaming it to a
   file in a fresh process (rows/s, resident memory before and at the peak).
6. Prefect overhead: isolating the same number of machines with one task (internal
   concurrency) vs one Prefect task per machine (``.map``), each warmed up first.
7. Mixed-workload pacing: isolation and AV scan at once, each paced at its own API's ceiling,
   vs the same workload paced as one shared Defender for Endpoint budget.
8. MSSP fan-out over 10, 100 and 1,000 customer tenants on one process under ``ulimit -n 256``:
   wall, CPU and memory per tenant, peak open files, requests and tokens per tenant, and the
   emulator's cost per tenant (``benchmarks/mssp.py``).
9. The MCP server: a read tool's per-call overhead over stdio against the same task called
   directly (median of 20 each), and the time from ``propose_incident_containment`` to the run
   paused for approval, in the server and from a served deployment (``benchmarks/agents.py``).

Every timed figure is the median of 3 runs, with the range (min-max); each run acts on machines
no other run touched. Peak memory of a process is its own ``VmHWM`` (``ru_maxrss`` would carry
the runner's over ``exec``).

A partial run (``BENCH_ONLY=3,7``) merges its sections into the day's results file: sections
it did not run are kept as they were, with the run that measured them.

Requests, 429s and token requests are counted at the emulator, not in the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msal
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.agents import bench_agents  # noqa: E402
from benchmarks.mssp import bench_mssp  # noqa: E402
from prefect_defender.api import auth, ratelimit  # noqa: E402
from prefect_defender.api.client import ClientSettings  # noqa: E402
from prefect_defender.api.models.machine_actions import ActionType  # noqa: E402
from prefect_defender.blocks import (  # noqa: E402
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from prefect_defender.emulator import EmulatorProcess  # noqa: E402
from prefect_defender.tasks.machine_actions import request_machine_actions  # noqa: E402

SCALE = 30.0  # 100 calls per minute -> 100 calls per 2 s
N = 1000
N_RATE = 500  # machines per rate-ceiling run (3 runs per action on distinct machines)
RUNS = 3
HUNT_BIG = "DeviceProcessEvents | take 100000"
HUNT_SMALL = 'DeviceNetworkEvents | where RemoteIP == "203.0.113.66" | project DeviceName'
rows: list[tuple[str, str, str]] = []


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def record(section: str, metric: str, value: str) -> None:
    rows.append((section, metric, value))
    say(f"{section}: {metric} = {value}")


def fresh_limits(emu: Any, **config: Any) -> None:
    """Forget every limiter (client and emulator) and zero the emulator's counters."""
    ratelimit.REGISTRY.clear()
    emu.admin.patch_config(
        rate_limits_enabled=config.pop("rate_limits_enabled", True),
        time_scale=config.pop("time_scale", SCALE),
        **config,
    )
    emu.admin.reset_stats()
    time.sleep(2.5)


def count(stats: dict[str, Any], route: str, status: int | None = None) -> int:
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["route"] == route and (status is None or r["status"] == status)
    )


def spread(values: list[float], fmt: str = "{:.2f}", unit: str = " s") -> str:
    """``median (min-max, n runs)`` of ``values``."""
    med = statistics.median(values)
    return (
        f"{fmt.format(med)}{unit} (range {fmt.format(min(values))}-{fmt.format(max(values))}"
        f"{unit}, {len(values)} runs)"
    )


def ideal_wall(n: int, calls: int = 100, window: float = 60.0 / SCALE) -> float:
    """The least time n calls need under ``calls`` per ``window`` (the first burst is free)."""
    return max(window, (-(-n // calls) - 1) * window)


# -- 1. rate ceiling ------------------------------------------------------------------------


async def ours_bulk(
    conn: dict[str, Any], ids: list[str], action: ActionType, **options: Any
) -> tuple[float, list[Any]]:
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=SCALE)
    t0 = time.perf_counter()
    outcomes = await request_machine_actions.fn(
        creds, ids, action, "bench", False, 20, None, **options
    )
    return time.perf_counter() - t0, outcomes


def naive_loop(
    conn: dict[str, Any], ids: list[str], path: str, body: dict[str, Any], retry_once: bool
) -> tuple[float, int, int]:
    """Microsoft's sample style: msal token once, requests in sequence, no pacing."""
    app = conn["apps"]["soc"]
    session = requests.Session()
    session.verify = conn["ca_bundle"]
    session.trust_env = False
    cca = msal.ConfidentialClientApplication(
        app["client_id"],
        client_credential=app["client_secret"],
        authority=f"{conn['authority_host']}/{app['tenant_id']}",
        http_client=session,
        instance_discovery=False,
    )
    token = cca.acquire_token_for_client(["https://api.securitycenter.microsoft.com/.default"])[
        "access_token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    done = failed = 0
    t0 = time.perf_counter()
    for mid in ids:
        url = f"{conn['mde_base_url']}/api/machines/{mid}/{path}"
        resp = session.post(url, json={"Comment": "bench", **body}, headers=headers, timeout=30)
        if resp.status_code == 429 and retry_once:
            time.sleep(float(resp.headers.get("Retry-After", "1")))
            resp = session.post(url, json={"Comment": "bench", **body}, headers=headers, timeout=30)
        if resp.status_code in (200, 201):
            done += 1
        else:
            failed += 1
    return time.perf_counter() - t0, done, failed


def bench_rate_ceiling(emu: Any, conn: dict[str, Any], tid: str) -> None:
    machines = [m["id"] for m in emu.admin.dump(tid, "machines")]
    runs = [machines[i * N_RATE : (i + 1) * N_RATE] for i in range(RUNS)]
    ideal = ideal_wall(N_RATE)
    for label, action, route, options in (
        (
            "isolation",
            ActionType.ISOLATE,
            "POST /api/machines/{id}/isolate",
            {"isolation_type": "Selective"},
        ),
        (
            "AV scan",
            ActionType.RUN_ANTIVIRUS_SCAN,
            "POST /api/machines/{id}/runAntiVirusScan",
            {"scan_type": "Quick"},
        ),
    ):
        walls, throttled, completed, dups = [], 0, 0, 0
        for ids in runs:
            fresh_limits(emu)
            wall, outcomes = asyncio.run(ours_bulk(conn, ids, action, **options))
            walls.append(wall)
            throttled += count(emu.admin.stats(), route, 429)
            completed += sum(o.status in ("succeeded", "already_in_progress") for o in outcomes)
        per_machine: dict[str, int] = {}
        for a in emu.admin.dump(tid, "machineActions"):
            if a["type"] == action.value:
                per_machine[a["machineId"]] = per_machine.get(a["machineId"], 0) + 1
        dups = sum(c - 1 for c in per_machine.values() if c > 1)
        section = f"1. rate ceiling, bulk {label} of {N_RATE} machines (ours)"
        ratios = [ideal / w for w in walls]
        record(
            section,
            "achieved rate / ceiling",
            f"{spread(ratios, '{:.3f}', '')}; ideal {ideal:.1f} s, took {spread(walls, '{:.1f}')}",
        )
        record(
            section,
            f"429 answered / items completed / duplicates, all {RUNS} runs",
            f"{throttled} / {completed} of {RUNS * N_RATE} / {dups}",
        )
    baseline_runs = [machines[i * N_RATE : (i + 1) * N_RATE] for i in range(RUNS)]
    for label, retry, path in (
        ("naive loop (Microsoft sample)", False, "restrictCodeExecution"),
        ("retry-once-on-429 (XSOAR)", True, "collectInvestigationPackage"),
    ):
        done_share, throttled_runs, walls = [], [], []
        for ids in baseline_runs:
            fresh_limits(emu)
            wall, done, _failed = naive_loop(conn, ids, path, {}, retry)
            route = f"POST /api/machines/{{id}}/{path}"
            done_share.append(done / N_RATE)
            throttled_runs.append(count(emu.admin.stats(), route, 429))
            walls.append(wall)
        record(
            f"1. rate ceiling, baseline: {label}, {N_RATE} machines",
            "items completed / 429 answered",
            f"{spread([100 * d for d in done_share], '{:.1f}', '%')} / "
            f"{statistics.median(throttled_runs):.0f} per run, in {spread(walls, '{:.1f}')}",
        )


# -- 2. client overhead -----------------------------------------------------------------------


async def overhead_ours(conn: dict[str, Any], ids: list[str]) -> tuple[float, float]:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    settings = ClientSettings(
        ca_bundle=conn["ca_bundle"], rate_limits_enabled=False, max_concurrency=10
    )
    from prefect_defender.api.client import DefenderClient

    client = DefenderClient(creds.endpoints(), creds.get_client().transport.provider, settings)
    async with client:
        await client.machines.get(ids[0])  # token and connections warm
        c0, w0 = time.process_time(), time.perf_counter()
        sem = asyncio.Semaphore(10)

        async def one(mid: str) -> None:
            async with sem:
                await client.machines.get(mid)

        await asyncio.gather(*(one(m) for m in ids))
        return time.perf_counter() - w0, time.process_time() - c0


async def overhead_raw(conn: dict[str, Any], ids: list[str], token: str) -> tuple[float, float]:
    ctx = ssl.create_default_context(cafile=conn["ca_bundle"])
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    async with httpx.AsyncClient(
        verify=ctx, limits=limits, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        await http.get(f"{conn['mde_base_url']}/api/machines/{ids[0]}")
        c0, w0 = time.process_time(), time.perf_counter()
        sem = asyncio.Semaphore(10)

        async def one(mid: str) -> None:
            async with sem:
                r = await http.get(f"{conn['mde_base_url']}/api/machines/{mid}")
                r.raise_for_status()
                r.json()

        await asyncio.gather(*(one(m) for m in ids))
        return time.perf_counter() - w0, time.process_time() - c0


def bench_overhead(emu: Any, conn: dict[str, Any], tid: str) -> None:
    fresh_limits(emu, rate_limits_enabled=False, time_scale=1.0)
    ids = [m["id"] for m in emu.admin.dump(tid, "machines")][:N]
    creds = DefenderApplicationCredentials.from_emulator(conn)

    async def token() -> str:
        return (
            await creds.get_client().transport.provider.get_token(creds.endpoints().mde_scope)
        ).token

    tok = asyncio.run(token())
    ours, raw = [], []
    for _ in range(RUNS):
        raw.append(asyncio.run(overhead_raw(conn, ids, tok)))
        ours.append(asyncio.run(overhead_ours(conn, ids)))
    w_o, c_o = statistics.median(x[0] for x in ours), statistics.median(x[1] for x in ours)
    w_r, c_r = statistics.median(x[0] for x in raw), statistics.median(x[1] for x in raw)
    label = f"2. client overhead, {N} GET machine, 10 concurrent, both warmed up"
    record(
        label,
        "wall time ours / raw httpx",
        f"{w_o / w_r:.2f}x (ours {spread([x[0] for x in ours])}; "
        f"httpx {spread([x[0] for x in raw])})",
    )
    record(
        label,
        "CPU time ours / raw httpx",
        f"{c_o / c_r:.2f}x (ours {spread([x[1] for x in ours])}; "
        f"httpx {spread([x[1] for x in raw])})",
    )


# -- 3. token reuse ---------------------------------------------------------------------------


def bench_tokens(emu: Any, conn: dict[str, Any], tid: str, emu10: Any) -> None:
    fresh_limits(emu, rate_limits_enabled=False, time_scale=1.0)
    auth.REGISTRY.clear()
    ids = [m["id"] for m in emu.admin.dump(tid, "machines")][:50]
    unlimited = {"mde": [(1_000_000, 60)], "graph_security": [(1_000_000, 60)]}

    async def worker(n: int) -> int:
        block = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
        async with block.get_client() as c:
            for i in range(50):
                if i % 10 == 0:
                    await c.graph_incidents.list(limit=1)
                else:
                    await c.machines.get(ids[(n + i) % len(ids)])
        return 50

    async def run() -> int:
        return sum(await asyncio.gather(*(worker(n) for n in range(20))))

    calls = asyncio.run(run())
    tokens = emu.admin.stats()["token_requests"]
    per = {(t["tenant"][:8], t["audience"].split("//")[1]): t["count"] for t in tokens}
    record(
        "3. token reuse, application block: 20 concurrent workers, 50 calls each",
        f"token requests for {calls} calls in all",
        f"{sum(per.values())} ({', '.join(f'{a}: {c}' for (_, a), c in per.items())};"
        " expected 1 per audience)",
    )
    conn10 = emu10.connection
    auth.REGISTRY.clear()
    emu10.admin.reset_stats()
    customers = [t["name"] for t in conn10["tenants"] if t["name"].startswith("cust")]
    partner = DefenderPartnerCredentials.from_emulator(
        conn10, tenants=customers, rate_limits=unlimited
    )

    async def fan_out() -> None:
        async def one(t: str) -> None:
            async with partner.get_client(t) as c:
                await asyncio.gather(*(c.machines.list(limit=5) for _ in range(5)))

        await asyncio.gather(*(one(t) for t in partner.tenant_ids()))

    asyncio.run(fan_out())
    tokens = emu10.admin.stats()["token_requests"]
    record(
        f"3. token reuse, partner fan-out over {len(customers)} tenants",
        "token requests (5 concurrent calls per tenant)",
        f"{sum(t['count'] for t in tokens)} across {len({t['tenant'] for t in tokens})} "
        "tenants (expected 1 per tenant)",
    )
    bench_user_tokens(emu, conn)


def bench_user_tokens(emu: Any, conn: dict[str, Any]) -> None:
    """A device-code sign-in, then 20 workers each with its own copy of the block (half of
    them the copy stored after msal rotated the cache), each calling MDE, Graph and XDR."""
    auth.REGISTRY.clear()
    emu.admin.reset_stats()
    unlimited = {
        "mde": [(1_000_000, 60)],
        "graph_security": [(1_000_000, 60)],
        "xdr_incidents": [(1_000_000, 60)],
    }
    signer = DefenderUserCredentials.from_emulator(conn, rate_limits=unlimited)
    user = signer.sign_in_with_device_code(lambda _m: None)
    stored = signer.token_cache.get_secret_value()  # type: ignore[union-attr]
    rotated: list[str] = []

    def copy(cache: str) -> DefenderUserCredentials:
        block = DefenderUserCredentials.from_emulator(
            conn, token_cache=cache, username=user, rate_limits=unlimited
        )
        block.persist_refreshed_cache = False
        return block

    async def worker(block: DefenderUserCredentials) -> int:
        async with block.get_client() as c:
            await c.machines.list(limit=5)
            await c.graph_incidents.list(limit=5)
            await c.incidents.list(limit=5)
        return 3

    async def run() -> int:
        first = copy(stored)
        calls = await worker(first)
        rotated.append(first.token_cache.get_secret_value())  # type: ignore[union-attr]
        done = await asyncio.gather(
            *(worker(copy(stored if i % 2 else rotated[0])) for i in range(19))
        )
        return calls + sum(done)

    calls = asyncio.run(run())
    stats = emu.admin.stats()
    grants: dict[str, int] = {}
    for t in stats["token_requests"]:
        g = t["grant_type"].rsplit(":", 1)[-1]
        grants[g] = grants.get(g, 0) + t["count"]
    metadata = sum(
        r["count"] for r in stats["discovery_requests"] if r["kind"] == "openid-configuration"
    )
    record(
        "3. token reuse, user block (device code) in 20 workers",
        f"token requests / OpenID metadata downloads for {calls} calls",
        f"{sum(grants.values())} ({', '.join(f'{g}: {c}' for g, c in sorted(grants.items()))};"
        f" expected 1 per audience: 3) / {metadata} (expected 1)",
    )


# -- 4 and 5: subprocess workers --------------------------------------------------------------


def worker(
    name: str, conn: dict[str, Any], args: dict[str, Any], python: str = sys.executable
) -> dict[str, Any]:
    out = subprocess.run(
        [
            python,
            str(ROOT / "benchmarks" / "workers.py"),
            name,
            json.dumps({"conn": conn, "args": args}),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_sdk(emu: Any, conn: dict[str, Any]) -> None:
    fresh_limits(emu, rate_limits_enabled=False, time_scale=1.0)
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "sdk": []}
    for _ in range(RUNS):  # alternating, each in a fresh process
        results["sdk"].append(worker("sdk_list_graph", conn, {"query": HUNT_SMALL}))
        results["ours"].append(worker("ours_list_graph", conn, {"query": HUNT_SMALL}))
    o, k = results["ours"], results["sdk"]
    label = (
        f"4. official SDK, list {int(o[0]['items'])} Graph incidents ($top=1000, HTTP/1.1, "
        "both) + 1 hunting query"
    )
    if {r["items"] for r in o + k} != {o[0]["items"]} or o[0]["hunt_rows"] != k[0]["hunt_rows"]:
        record(label, "WARNING", "the two clients' results differ")

    def ratio(key: str, fmt: str = "{:.2f}", unit: str = " s") -> str:
        mo = statistics.median(r[key] for r in o)
        mk = statistics.median(r[key] for r in k)
        ours_s = spread([r[key] for r in o], fmt, unit)
        sdk_s = spread([r[key] for r in k], fmt, unit)
        return f"{mo / mk:.2f}x (ours {ours_s}; msgraph-sdk {sdk_s})"

    record(label, "wall time ours / msgraph-sdk", ratio("wall_s"))
    record(label, "CPU time ours / msgraph-sdk", ratio("cpu_s"))
    record(label, "peak RSS (VmHWM) ours / msgraph-sdk", ratio("peak_rss_mb", "{:.0f}", " MB"))
    record(label, "import time ours / msgraph-sdk", ratio("import_s"))


def bench_big_hunt(emu: Any, conn: dict[str, Any]) -> None:
    fresh_limits(emu, rate_limits_enabled=False, time_scale=1.0)
    parses = [worker("hunt_parse", conn, {"query": HUNT_BIG}) for _ in range(RUNS)]
    with tempfile.TemporaryDirectory() as tmp:
        exports = [
            worker("hunt_export", conn, {"query": HUNT_BIG, "dest": f"{tmp}/big-{i}.jsonl"})
            for i in range(RUNS)
        ]
    p0, e0 = parses[0], exports[0]
    label = f"5. hunting answer of {p0['rows']} rows ({p0['raw_mb']:.1f} MB JSON)"
    record(
        label,
        "parse time (answer in memory)",
        f"{spread([p['parse_s'] for p in parses])}; "
        f"{statistics.median(p['rows'] / p['parse_s'] for p in parses):.0f} rows/s",
    )
    record(
        label,
        "parse: Python heap allocated / raw JSON size",
        f"{statistics.median(p['heap_peak_mb'] for p in parses) / p0['raw_mb']:.2f}x "
        f"({spread([p['heap_peak_mb'] for p in parses], '{:.0f}', ' MB')})",
    )
    record(
        label,
        "export to a JSON-lines file, fresh process: time incl. the query, rows/s",
        f"{spread([e['export_s'] for e in exports])}; "
        f"{statistics.median(e['rows'] / e['export_s'] for e in exports):.0f} rows/s "
        f"({e0['rows']} rows, {e0['file_mb']:.1f} MB file)",
    )
    record(
        label,
        "export: peak resident memory (VmHWM) / before the call",
        f"{spread([e['peak_rss_mb'] for e in exports], '{:.0f}', ' MB')} / "
        f"{statistics.median(e['rss_before_mb'] for e in exports):.0f} MB",
    )


# -- 6. Prefect overhead ----------------------------------------------------------------------


def bench_prefect(emu: Any, conn: dict[str, Any], tid: str, home: Path) -> None:
    from prefect import flow, unmapped
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.cli.servers import PrefectServer
    from prefect_defender.tasks.machine_actions import isolate_machine

    fresh_limits(emu, rate_limits_enabled=False, time_scale=1.0)
    n, warm = 100, 5
    # the last machines: sections 1 and 2 use the first ones
    pool = [m["id"] for m in emu.admin.dump(tid, "machines")][-(2 * RUNS * n + 2 * warm) :]
    chunks = [pool[i * n : (i + 1) * n] for i in range(2 * RUNS)]
    warm_ids = pool[2 * RUNS * n :]
    unlimited = {"mde": [(1_000_000, 60)]}

    @flow(name="bench-one-task")
    def one_task(ids: list[str]) -> int:
        creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
        return len(request_machine_actions(creds, ids, "Isolate", "bench", concurrency=10))

    @flow(name="bench-task-per-machine")
    def per_machine(ids: list[str]) -> int:
        creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
        futures = isolate_machine.map(unmapped(creds), ids, unmapped("bench"))
        return len([f.result() for f in futures])

    t_one: list[float] = []
    t_map: list[float] = []
    with PrefectServer(home) as server, temporary_settings({PREFECT_API_URL: server.api_url}):
        one_task(warm_ids[:warm])  # warm-up of each: flow registration, task runner, client
        per_machine(warm_ids[warm:])
        for i in range(RUNS):
            t0 = time.perf_counter()
            assert one_task(chunks[2 * i]) == n
            t_one.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert per_machine(chunks[2 * i + 1]) == n
            t_map.append(time.perf_counter() - t0)
    record(
        f"6. Prefect overhead, isolating {n} machines, both warmed up",
        "one task per machine (.map) / one batched task",
        f"{statistics.median(t_map) / statistics.median(t_one):.1f}x (.map {spread(t_map)}; "
        f"batched {spread(t_one)})",
    )


# -- 7. mixed-workload pacing -----------------------------------------------------------------

MIXED = 300


async def mixed_workload(conn: dict[str, Any], iso: list[str], scan: list[str]) -> float:
    """Isolate ``iso`` and scan ``scan`` at once, each as one bulk task; the wall time."""
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=SCALE)
    t0 = time.perf_counter()
    a, b = await asyncio.gather(
        request_machine_actions.fn(creds, iso, ActionType.ISOLATE, "bench", False, 20, None),
        request_machine_actions.fn(
            creds, scan, ActionType.RUN_ANTIVIRUS_SCAN, "bench", False, 20, None, scan_type="Quick"
        ),
    )
    wall = time.perf_counter() - t0
    failed = [o for o in (*a, *b) if o.status not in ("succeeded", "already_in_progress")]
    if failed:
        raise RuntimeError(f"{len(failed)} actions failed: {failed[0].error}")
    return wall


def bench_mixed(emu_mixed: Any) -> None:
    """Isolation and AV scan at once (300 each) at the ceiling of each API, against the same
    workload paced as one shared MDE budget (the previous client), on fresh machines each run."""
    conn = emu_mixed.connection
    tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
    ids = [m["id"] for m in emu_mixed.admin.dump(tid, "machines")]
    sets = [ids[i * MIXED : (i + 1) * MIXED] for i in range(4 * RUNS)]
    label = f"7. mixed workload, {MIXED} isolations + {MIXED} AV scans at once"
    walls: dict[str, list[float]] = {"shared budget": [], "per API": []}
    throttled = {"shared budget": 0, "per API": 0}
    for run in range(RUNS):
        base = 4 * run
        for name, per_api, (iso, scan) in (
            ("shared budget", frozenset(), (sets[base], sets[base + 1])),
            ("per API", ratelimit.PER_API_FAMILIES, (sets[base + 2], sets[base + 3])),
        ):
            fresh_limits(emu_mixed)
            saved = ratelimit.PER_API_FAMILIES
            ratelimit.PER_API_FAMILIES = per_api
            try:
                walls[name].append(asyncio.run(mixed_workload(conn, iso, scan)))
            finally:
                ratelimit.PER_API_FAMILIES = saved
            throttled[name] += int(emu_mixed.admin.stats()["throttled"])
    per_api = statistics.median(walls["per API"])
    shared = statistics.median(walls["shared budget"])
    ideal = ideal_wall(MIXED)
    record(
        label,
        "wall time per-API pacing / one shared budget",
        f"{per_api / shared:.2f}x (per API {spread(walls['per API'], '{:.1f}')}; shared "
        f"{spread(walls['shared budget'], '{:.1f}')}; ideal at each API's ceiling {ideal:.1f} s, "
        f"one shared budget {ideal_wall(2 * MIXED):.1f} s)",
    )
    record(
        label,
        f"achieved rate / sum of the two ceilings; 429 answered in all {RUNS} runs",
        f"{spread([ideal / w for w in walls['per API']], '{:.3f}', '')}; "
        f"{throttled['per API']} per API, {throttled['shared budget']} shared",
    )


def machine_text() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        )
    except (OSError, StopIteration):
        model = cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem:.0f} GiB RAM, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    started = time.perf_counter()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    work = Path(tempfile.mkdtemp(prefix="pd-bench-"))
    config = {
        # sections 1 (first 1,500) and 6 (last 610) never act on the same machine
        "machines_per_tenant": 2200,
        "graph_incidents_per_tenant": 10_000,
        "hunting_big_rows": 100_000,
        "time_scale": SCALE,
        "action_pending_seconds": 3600,
    }
    say(f"starting emulators in {work}")
    with (
        EmulatorProcess(work / "emu", config=config) as emu,
        EmulatorProcess(
            work / "emu10",
            config={
                "extra_customer_tenants": 10,
                "machines_per_tenant": 10,
                "incidents_per_tenant": 5,
            },
        ) as emu10,
        EmulatorProcess(
            work / "emu-mixed",
            config={
                "machines_per_tenant": 4 * RUNS * MIXED + 10,
                "incidents_per_tenant": 5,
                "time_scale": SCALE,
                "action_pending_seconds": 3600,
            },
        ) as emu_mixed,
    ):
        conn = emu.connection
        tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
        sections: list[tuple[str, Any]] = [
            ("1", lambda: bench_rate_ceiling(emu, conn, tid)),
            ("2", lambda: bench_overhead(emu, conn, tid)),
            ("3", lambda: bench_tokens(emu, conn, tid, emu10)),
            ("4", lambda: bench_sdk(emu, conn)),
            ("5", lambda: bench_big_hunt(emu, conn)),
            ("6", lambda: bench_prefect(emu, conn, tid, work / "prefect")),
            ("7", lambda: bench_mixed(emu_mixed)),
            ("8", lambda: bench_mssp(work / "mssp", record)),
            ("9", lambda: bench_agents(work / "agents", record)),
        ]
        only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
        for number, run in sections:
            if only and number not in only:
                continue
            try:
                run()
            except Exception as exc:  # a failed section is reported in the table, not hidden
                record(f"{number}. FAILED", type(exc).__name__, str(exc).splitlines()[0][:200])
    total = time.perf_counter() - started
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    out = ROOT / "benchmarks" / "results" / f"{day}.md"
    run = f"{datetime.now(UTC):%H:%M} UTC, commit {git_commit()}, {total:.0f} s"
    text = merge_results(out.read_text() if out.exists() else "", rows, run, day)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print("\n" + text)
    say(f"written {out} in {total:.0f} s")


def git_commit() -> str:
    """The short commit of the measured code (``+changes`` when the tree is not clean)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{'+changes' if dirty else ''}"


def section_of(benchmark: str) -> str:
    """``"3"`` for ``"3. token reuse, ..."`` (the section number a row belongs to)."""
    return benchmark.split(".", 1)[0].strip()


def merge_results(old: str, new_rows: list[tuple[str, str, str]], run: str, day: str) -> str:
    """The day's results file with ``new_rows`` in place of the sections they measured.

    Rows of sections this run did not measure are kept, with the run that measured them, so a
    partial run (``BENCH_ONLY``) never deletes another section. Rows are ordered by section.

    Examples:
        >>> first = merge_results("", [("1. a", "m", "x"), ("2. b", "m", "y")], "r1", "D")
        >>> again = merge_results(first, [("2. b", "m", "z")], "r2", "D")
        >>> [line for line in again.splitlines() if line[:3] in ("| 1", "| 2")]
        ['| 1. a | m | x | r1 |', '| 2. b | m | z | r2 |']
    """
    ran = {section_of(b) for b, _, _ in new_rows}
    kept: list[tuple[str, str, str, str]] = []
    for line in old.split("\n"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not line.startswith("| ") or cells[0] in ("benchmark", "---"):
            continue
        if set(cells[0]) <= {"-"} or section_of(cells[0]) in ran:
            continue
        kept.append((cells[0], cells[1], cells[2], cells[3]))
    merged = kept + [(b, m, v, run) for b, m, v in new_rows]

    def order(row: tuple[str, str, str, str]) -> int:
        number = section_of(row[0])
        return int(number) if number.isdigit() else 99

    merged.sort(key=order)  # stable: a section's rows keep their order
    table = ["| benchmark | metric | result | run |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {r} |" for a, b, c, r in merged]
    return (
        f"# Benchmarks {day}\n\nMachine: {machine_text()}\n\nCommand: `make bench` "
        "(`BENCH_ONLY=1,3` runs some sections and merges them in). Emulator in its own process; "
        "counts taken at the emulator. The run column names when, on which commit and in how "
        "long each row was measured.\n\n" + "\n".join(table) + "\n"
    )


if __name__ == "__main__":
    main()
