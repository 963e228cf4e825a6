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
4. The official SDK: listing 6,000 Graph incidents + one hunting query, msgraph-sdk vs ours,
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
10. The safety rails' cost per write: the same write with the transport's write check off, on
   (the kill switch read and an hourly-cap slot) and as a playbook writes (admission, then the
   request), interleaved in one flow run, with the Prefect API calls per write
   (``benchmarks/write_rails.py``).

Every timed figure is the median of 3 runs, with the range (min-max); each run acts on machines
no other run touched. Peak memory of a process is its own ``VmHWM`` (``ru_maxrss`` would carry
the runner's over ``exec``). Each section starts its own emulator (in its own process) with the
data it needs; the sections that need Prefect share one server.

``python benchmarks/run.py [--only 3,7] [--smoke]``: ``--only`` (or ``BENCH_ONLY=3,7``) runs
some sections and merges them into the newest results file's rows (written as the day's file):
the other sections are kept, with the run that measured them. ``--smoke`` runs every section
once at its smallest size (``benchmarks/sections.py``; ``make test`` does, in
``tests/test_bench_smoke.py``), prints the rows, writes no results file and exits 1 if a
section failed.

Requests, 429s and token requests are counted at the emulator, not in the client.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msal
import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import agents, mssp, write_rails  # noqa: E402, F401  (sections 8, 9, 10)
from benchmarks.results import RESULTS, git_commit, latest, merge_results, spread  # noqa: E402
from benchmarks.sections import SECTIONS, Bench, section  # noqa: E402
from prefect_defender.api import auth, ratelimit  # noqa: E402
from prefect_defender.api.client import ClientSettings, DefenderClient  # noqa: E402
from prefect_defender.api.models.machine_actions import ActionType  # noqa: E402
from prefect_defender.blocks import (  # noqa: E402
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from prefect_defender.emulator.server import EmulatorProcess  # noqa: E402
from prefect_defender.tasks.machine_actions import request_machine_actions  # noqa: E402

SCALE = 30.0  # 100 calls per minute -> 100 calls per 2 s
HUNT_SMALL = 'DeviceNetworkEvents | where RemoteIP == "203.0.113.66" | project DeviceName'
rows: list[tuple[str, str, str]] = []


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def record(section: str, metric: str, value: str) -> None:
    rows.append((section, metric, value))
    say(f"{section}: {metric} = {value}")


def fresh_limits(bench: Bench, emu: EmulatorProcess, **config: Any) -> None:
    """Forget every limiter (client and emulator) and zero the emulator's counters; then wait
    for the emulator's windows to empty (not in a smoke run: no figure is kept)."""
    ratelimit.REGISTRY.clear()
    emu.admin.patch_config(
        rate_limits_enabled=config.pop("rate_limits_enabled", True),
        time_scale=config.pop("time_scale", SCALE),
        **config,
    )
    emu.admin.reset_stats()
    if not bench.smoke:
        time.sleep(2.5)


def contoso(emu: EmulatorProcess) -> str:
    """The tenant id of contoso, the seeded tenant every section acts in."""
    return str(next(t["tenant_id"] for t in emu.connection["tenants"] if t["name"] == "contoso"))


def count(stats: dict[str, Any], route: str, status: int | None = None) -> int:
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["route"] == route and (status is None or r["status"] == status)
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


RATE_ACTIONS = (
    ("isolation", ActionType.ISOLATE, "isolate", {"isolation_type": "Selective"}),
    ("AV scan", ActionType.RUN_ANTIVIRUS_SCAN, "runAntiVirusScan", {"scan_type": "Quick"}),
)


@section(
    1,
    "rate ceiling: bulk isolation and AV scan at the MDE limit, and two baselines",
    full={"machines": 500, "runs": 3},
    smoke={"machines": 3, "runs": 1},
)
def bench_rate_ceiling(bench: Bench, machines: int, runs: int) -> None:
    config = {"machines_per_tenant": runs * machines, "time_scale": SCALE}
    with bench.emulator("rate", {**config, "action_pending_seconds": 3600}) as emu:
        tid = contoso(emu)
        ids = [m["id"] for m in emu.admin.dump(tid, "machines")]
        sets = [ids[i * machines : (i + 1) * machines] for i in range(runs)]
        for label, action, path, options in RATE_ACTIONS:
            _rate_ours(bench, emu, tid, sets, label, action, path, options)
        for label, retry, path in (
            ("naive loop (Microsoft sample)", False, "restrictCodeExecution"),
            ("retry-once-on-429 (XSOAR)", True, "collectInvestigationPackage"),
        ):
            _rate_baseline(bench, emu, sets, label, retry, path)


def _rate_ours(
    bench: Bench,
    emu: EmulatorProcess,
    tid: str,
    sets: list[list[str]],
    label: str,
    action: ActionType,
    path: str,
    options: dict[str, Any],
) -> None:
    n, route, ideal = len(sets[0]), f"POST /api/machines/{{id}}/{path}", ideal_wall(len(sets[0]))
    walls, throttled, completed = [], 0, 0
    for ids in sets:
        fresh_limits(bench, emu)
        wall, outcomes = asyncio.run(ours_bulk(emu.connection, ids, action, **options))
        walls.append(wall)
        throttled += count(emu.admin.stats(), route, 429)
        completed += sum(o.status in ("succeeded", "already_in_progress") for o in outcomes)
    per_machine: dict[str, int] = {}
    for a in emu.admin.dump(tid, "machineActions"):
        if a["type"] == action.value:
            per_machine[a["machineId"]] = per_machine.get(a["machineId"], 0) + 1
    dups = sum(c - 1 for c in per_machine.values() if c > 1)
    section = f"1. rate ceiling, bulk {label} of {n} machines (ours)"
    ratios = [ideal / w for w in walls]
    record(
        section,
        "achieved rate / ceiling",
        f"{spread(ratios, '{:.3f}', '')}; ideal {ideal:.1f} s, took {spread(walls, '{:.1f}')}",
    )
    record(
        section,
        f"429 answered / items completed / duplicates, all {len(sets)} runs",
        f"{throttled} / {completed} of {len(sets) * n} / {dups}",
    )


def _rate_baseline(
    bench: Bench, emu: EmulatorProcess, sets: list[list[str]], label: str, retry: bool, path: str
) -> None:
    n = len(sets[0])
    done_share, throttled_runs, walls = [], [], []
    for ids in sets:
        fresh_limits(bench, emu)
        wall, done, _failed = naive_loop(emu.connection, ids, path, {}, retry)
        done_share.append(done / n)
        throttled_runs.append(count(emu.admin.stats(), f"POST /api/machines/{{id}}/{path}", 429))
        walls.append(wall)
    record(
        f"1. rate ceiling, baseline: {label}, {n} machines",
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


@section(
    2,
    "client overhead: GET machine through the client vs bare httpx",
    full={"gets": 1000, "runs": 3},
    smoke={"gets": 3, "runs": 1},
)
def bench_overhead(bench: Bench, gets: int, runs: int) -> None:
    with bench.emulator("overhead", {"machines_per_tenant": gets}) as emu:
        fresh_limits(bench, emu, rate_limits_enabled=False, time_scale=1.0)
        conn = emu.connection
        ids = [m["id"] for m in emu.admin.dump(contoso(emu), "machines")][:gets]
        creds = DefenderApplicationCredentials.from_emulator(conn)

        async def token() -> str:
            provider = creds.get_client().transport.provider
            return (await provider.get_token(creds.endpoints().mde_scope)).token

        tok = asyncio.run(token())
        ours, raw = [], []
        for _ in range(runs):
            raw.append(asyncio.run(overhead_raw(conn, ids, tok)))
            ours.append(asyncio.run(overhead_ours(conn, ids)))
    w_o, c_o = statistics.median(x[0] for x in ours), statistics.median(x[1] for x in ours)
    w_r, c_r = statistics.median(x[0] for x in raw), statistics.median(x[1] for x in raw)
    label = f"2. client overhead, {len(ids)} GET machine, 10 concurrent, both warmed up"
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

UNLIMITED = {
    "mde": [(1_000_000, 60)],
    "graph_security": [(1_000_000, 60)],
    "xdr_incidents": [(1_000_000, 60)],
}


@section(
    3,
    "token reuse: application, partner and user blocks",
    full={"workers": 20, "calls": 50, "tenants": 10},
    smoke={"workers": 2, "calls": 10, "tenants": 2},
)
def bench_tokens(bench: Bench, workers: int, calls: int, tenants: int) -> None:
    partner_config = {
        "extra_customer_tenants": tenants,
        "machines_per_tenant": 10,
        "incidents_per_tenant": 5,
    }
    with bench.emulator("tokens", {"machines_per_tenant": 50}) as emu:
        fresh_limits(bench, emu, rate_limits_enabled=False, time_scale=1.0)
        _app_tokens(emu, workers, calls)
        _user_tokens(emu, workers)
    with bench.emulator("tokens-partner", partner_config) as emu_partner:
        _partner_tokens(emu_partner)


def _app_tokens(emu: EmulatorProcess, workers: int, calls: int) -> None:
    auth.REGISTRY.clear()
    conn = emu.connection
    ids = [m["id"] for m in emu.admin.dump(contoso(emu), "machines")][:50]

    async def worker(n: int) -> int:
        block = DefenderApplicationCredentials.from_emulator(conn, rate_limits=UNLIMITED)
        async with block.get_client() as c:
            for i in range(calls):
                if i % 10 == 0:
                    await c.graph_incidents.list(limit=1)
                else:
                    await c.machines.get(ids[(n + i) % len(ids)])
        return calls

    async def run() -> int:
        return sum(await asyncio.gather(*(worker(n) for n in range(workers))))

    done = asyncio.run(run())
    tokens = emu.admin.stats()["token_requests"]
    per = {(t["tenant"][:8], t["audience"].split("//")[1]): t["count"] for t in tokens}
    record(
        f"3. token reuse, application block: {workers} concurrent workers, {calls} calls each",
        f"token requests for {done} calls in all",
        f"{sum(per.values())} ({', '.join(f'{a}: {c}' for (_, a), c in per.items())};"
        " expected 1 per audience)",
    )


def _partner_tokens(emu: EmulatorProcess) -> None:
    conn = emu.connection
    auth.REGISTRY.clear()
    emu.admin.reset_stats()
    customers = [t["name"] for t in conn["tenants"] if t["name"].startswith("cust")]
    partner = DefenderPartnerCredentials.from_emulator(
        conn, tenants=customers, rate_limits=UNLIMITED
    )

    async def fan_out() -> None:
        async def one(t: str) -> None:
            async with partner.get_client(t) as c:
                await asyncio.gather(*(c.machines.list(limit=5) for _ in range(5)))

        await asyncio.gather(*(one(t) for t in partner.tenant_ids()))

    asyncio.run(fan_out())
    tokens = emu.admin.stats()["token_requests"]
    record(
        f"3. token reuse, partner fan-out over {len(customers)} tenants",
        "token requests (5 concurrent calls per tenant)",
        f"{sum(t['count'] for t in tokens)} across {len({t['tenant'] for t in tokens})} "
        "tenants (expected 1 per tenant)",
    )


def _user_tokens(emu: EmulatorProcess, workers: int) -> None:
    """A device-code sign-in, then ``workers`` workers each with its own copy of the block (half
    of them the copy stored after msal rotated the cache), each calling MDE, Graph and XDR."""
    conn = emu.connection
    auth.REGISTRY.clear()
    emu.admin.reset_stats()
    signer = DefenderUserCredentials.from_emulator(conn, rate_limits=UNLIMITED)
    user = signer.sign_in_with_device_code(lambda _m: None)
    stored = signer.token_cache.get_secret_value()  # type: ignore[union-attr]
    rotated: list[str] = []

    def copy(cache: str) -> DefenderUserCredentials:
        block = DefenderUserCredentials.from_emulator(
            conn, token_cache=cache, username=user, rate_limits=UNLIMITED
        )
        block.persist_refreshed_cache = False
        return block

    async def worker(block: DefenderUserCredentials) -> int:
        async with block.get_client() as c:
            await c.machines.list(limit=5)
            await c.graph_incidents.list(limit=5)
            await c.xdr_incidents.list(limit=5)  # incidents default to Graph: XDR asked for
        return 3

    async def run() -> int:
        first = copy(stored)
        calls = await worker(first)
        rotated.append(first.token_cache.get_secret_value())  # type: ignore[union-attr]
        done = await asyncio.gather(
            *(worker(copy(stored if i % 2 else rotated[0])) for i in range(workers - 1))
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
        f"3. token reuse, user block (device code) in {workers} workers",
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


def has_sdk() -> bool:
    """Whether msgraph-sdk and azure-identity (the ``bench`` extra) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("msgraph", "azure.identity"))


@section(
    4,
    "the official SDK: Graph incidents and a hunting query, msgraph-sdk vs ours",
    # 6,000: Graph refuses $top + $skip over 6,000 and its nextLink pages by $skip, so the
    # SDK (following nextLink) reads at most that many; ours reads on by time windows
    full={"incidents": 6_000, "runs": 3},
    smoke={"incidents": 20, "runs": 1},
)
def bench_sdk(bench: Bench, incidents: int, runs: int) -> None:
    """Both clients, each in a fresh process; a smoke run without the ``bench`` extra runs ours
    only (``make bench`` installs it; a full run without it fails)."""
    sdk = has_sdk()
    if not sdk and not bench.smoke:
        raise RuntimeError("msgraph-sdk is not installed: pip install -e '.[bench]'")
    with bench.emulator("sdk", {"graph_incidents_per_tenant": incidents}) as emu:
        fresh_limits(bench, emu, rate_limits_enabled=False, time_scale=1.0)
        conn = emu.connection
        results: dict[str, list[dict[str, Any]]] = {"ours": [], "sdk": []}
        for _ in range(runs):  # alternating, each in a fresh process
            if sdk:
                results["sdk"].append(worker("sdk_list_graph", conn, {"query": HUNT_SMALL}))
            results["ours"].append(worker("ours_list_graph", conn, {"query": HUNT_SMALL}))
    o, k = results["ours"], results["sdk"]
    label = (
        f"4. official SDK, list {int(o[0]['items'])} Graph incidents ($top=1000, HTTP/1.1, "
        "both) + 1 hunting query"
    )
    if not sdk:
        record(label, "ours only (msgraph-sdk not installed)", spread([r["wall_s"] for r in o]))
        return
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


@section(
    5,
    "a large hunting answer: parse time and heap, export to a file in a fresh process",
    full={"rows": 100_000, "runs": 3},
    smoke={"rows": 50, "runs": 1},
)
def bench_big_hunt(bench: Bench, rows: int, runs: int) -> None:
    query = f"DeviceProcessEvents | take {rows}"
    with bench.emulator("hunt", {"hunting_big_rows": rows}) as emu:
        fresh_limits(bench, emu, rate_limits_enabled=False, time_scale=1.0)
        conn = emu.connection
        parses = [worker("hunt_parse", conn, {"query": query}) for _ in range(runs)]
        with tempfile.TemporaryDirectory() as tmp:
            exports = [
                worker("hunt_export", conn, {"query": query, "dest": f"{tmp}/big-{i}.jsonl"})
                for i in range(runs)
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


@section(
    6,
    "Prefect overhead: one batched task vs one task per machine (.map)",
    full={"machines": 100, "warm": 5, "runs": 3},
    smoke={"machines": 2, "warm": 1, "runs": 1},
    prefect=True,
)
def bench_prefect(bench: Bench, machines: int, warm: int, runs: int) -> None:
    from prefect import flow, unmapped
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.tasks.machine_actions import isolate_machine
    from prefect_defender.tasks.safety import SafetyPolicy
    from prefect_defender.tasks.write_rails import run_guard

    # both flows under the same safety rails, with caps above the run's writes (the default
    # per-run cap of 25 would stop the 100 isolations of either)
    roomy = SafetyPolicy(max_actions_per_run=10**6, max_actions_per_hour=10**6)
    n, unlimited = machines, {"mde": [(1_000_000, 60)]}
    config = {"machines_per_tenant": 2 * runs * n + 2 * warm}
    with bench.emulator("prefect-overhead", config) as emu:
        fresh_limits(bench, emu, rate_limits_enabled=False, time_scale=1.0)
        conn = emu.connection
        pool = [m["id"] for m in emu.admin.dump(contoso(emu), "machines")]
        chunks = [pool[i * n : (i + 1) * n] for i in range(2 * runs)]
        warm_ids = pool[2 * runs * n :]

        @flow(name="bench-one-task")
        def one_task(ids: list[str]) -> int:
            run_guard(roomy)
            creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
            return len(
                request_machine_actions(creds, ids, ActionType.ISOLATE, "bench", concurrency=10)
            )

        @flow(name="bench-task-per-machine")
        def per_machine(ids: list[str]) -> int:
            run_guard(roomy)
            creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
            futures = isolate_machine.map(unmapped(creds), ids, unmapped("bench"))
            return len([f.result() for f in futures])

        t_one: list[float] = []
        t_map: list[float] = []
        with temporary_settings({PREFECT_API_URL: bench.prefect()["PREFECT_API_URL"]}):
            one_task(warm_ids[:warm])  # warm-up of each: flow registration, task runner, client
            per_machine(warm_ids[warm:])
            for i in range(runs):
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


@section(
    7,
    "mixed workload: isolation and AV scan at once, per-API pacing vs one shared budget",
    full={"machines": 300, "runs": 3},
    smoke={"machines": 3, "runs": 1},
)
def bench_mixed(bench: Bench, machines: int, runs: int) -> None:
    """Isolation and AV scan at once (``machines`` each) at the ceiling of each API, against the
    same workload paced as one shared MDE budget (the previous client), on fresh machines each
    run."""
    config = {
        "machines_per_tenant": 4 * runs * machines + 10,
        "incidents_per_tenant": 5,
        "time_scale": SCALE,
        "action_pending_seconds": 3600,
    }
    walls: dict[str, list[float]] = {"shared budget": [], "per API": []}
    throttled = {"shared budget": 0, "per API": 0}
    with bench.emulator("mixed", config) as emu:
        ids = [m["id"] for m in emu.admin.dump(contoso(emu), "machines")]
        sets = [ids[i * machines : (i + 1) * machines] for i in range(4 * runs)]
        for run in range(runs):
            base = 4 * run
            for name, per_api, (iso, scan) in (
                ("shared budget", frozenset(), (sets[base], sets[base + 1])),
                ("per API", ratelimit.PER_API_FAMILIES, (sets[base + 2], sets[base + 3])),
            ):
                fresh_limits(bench, emu)
                saved = ratelimit.PER_API_FAMILIES
                ratelimit.PER_API_FAMILIES = per_api
                try:
                    walls[name].append(asyncio.run(mixed_workload(emu.connection, iso, scan)))
                finally:
                    ratelimit.PER_API_FAMILIES = saved
                throttled[name] += int(emu.admin.stats()["throttled"])
    _record_mixed(machines, runs, walls, throttled)


def _record_mixed(
    machines: int, runs: int, walls: dict[str, list[float]], throttled: dict[str, int]
) -> None:
    label = f"7. mixed workload, {machines} isolations + {machines} AV scans at once"
    per_api = statistics.median(walls["per API"])
    shared = statistics.median(walls["shared budget"])
    ideal = ideal_wall(machines)
    record(
        label,
        "wall time per-API pacing / one shared budget",
        f"{per_api / shared:.2f}x (per API {spread(walls['per API'], '{:.1f}')}; shared "
        f"{spread(walls['shared budget'], '{:.1f}')}; ideal at each API's ceiling {ideal:.1f} s, "
        f"one shared budget {ideal_wall(2 * machines):.1f} s)",
    )
    record(
        label,
        f"achieved rate / sum of the two ceilings; 429 answered in all {runs} runs",
        f"{spread([ideal / w for w in walls['per API']], '{:.3f}', '')}; "
        f"{throttled['per API']} per API, {throttled['shared budget']} shared",
    )


# -- the run ----------------------------------------------------------------------------------


def run_sections(bench: Bench, only: set[int]) -> list[int]:
    """Run the registered sections (``only`` those when given) in order; a failing section is
    a ``FAILED`` row, not the end of the run. The numbers of the sections that failed."""
    failed = []
    for number, entry in sorted(SECTIONS.items()):
        if only and number not in only:
            continue
        say(f"section {number}: {entry.title}")
        started = time.perf_counter()
        try:
            entry(bench)
        except Exception as exc:  # a failed section is reported in the table, not hidden
            failed.append(number)
            traceback.print_exc()
            record(f"{number}. FAILED", type(exc).__name__, str(exc).splitlines()[0][:200])
        say(f"section {number} took {time.perf_counter() - started:.1f} s")
    return failed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ""),
        help="section numbers to run, comma-separated (default: BENCH_ONLY, else all)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every section once at its smallest size: rows printed, no results file",
    )
    parser.add_argument("--keys", type=Path, help="emulator keys to copy into each emulator")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, load = time.perf_counter(), os.getloadavg()[0]  # the machine's load at the start
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    work = Path(tempfile.mkdtemp(prefix="pd-bench-"))
    only = {int(n) for n in args.only.split(",") if n.strip()}
    say(f"working in {work}")
    bench = Bench(work=work, record=record, smoke=args.smoke, keys=args.keys)
    if args.smoke and any(s.prefect for n, s in SECTIONS.items() if not only or n in only):
        bench.start_prefect()
    try:
        failed = run_sections(bench, only)
    finally:
        bench.close()
    total = time.perf_counter() - started
    now = datetime.now(UTC)
    day = now.strftime("%Y-%m-%d")
    run = f"{now:%Y-%m-%d %H:%M} UTC, commit {git_commit()}, {total:.0f} s, load {load:.1f}"
    if args.smoke:  # the table, printed only: smoke figures are no measurements
        print("\n" + merge_results("", rows, f"smoke, {run}", day))
        say(f"smoke run of {len(only or SECTIONS)} sections in {total:.0f} s; failed: {failed}")
        return 1 if failed else 0
    newest = latest()
    out = RESULTS / f"{day}.md"
    text = merge_results(newest.read_text() if newest else "", rows, run, day)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print("\n" + text)
    say(f"written {out} in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
