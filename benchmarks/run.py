"""prefect-defender benchmarks against the emulator; every figure is a ratio measured in this run.

Run with ``make bench`` (installs the ``bench`` extra: msgraph-sdk and azure-identity, which are
not runtime dependencies). Writes ``benchmarks/results/<date>.md`` and prints the same table.

1. Rate ceiling: bulk isolation and bulk AV scan of 1,000 machines under the emulator's
   time-scaled MDE limit (100 calls per 2 s); baselines: a naive loop like Microsoft's samples
   (token once, requests in sequence, no pacing) and a client that retries a 429 once (XSOAR).
2. Client overhead: 1,000 ``GET /api/machines/{id}`` through the client vs bare httpx, same
   concurrency, limits off.
3. Token reuse per context: application (20 concurrent workers x 1,000 calls), partner fan-out
   over 10 tenants, user (a device-code sign-in, then 20 workers each with its own block copy).
4. The official SDK: listing 10,000 Graph incidents + one hunting query, msgraph-sdk vs ours.
5. A 100,000-row hunting answer: parse time and peak memory vs the raw JSON size; streaming it
   to a file.
6. Prefect overhead: one task with internal concurrency vs one Prefect task per machine (.map).
7. Mixed-workload pacing: isolation and AV scan at once, each paced at its own API's ceiling,
   vs the same workload paced as one shared Defender for Endpoint budget.

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

from prefect_defender.api import auth, ratelimit  # noqa: E402
from prefect_defender.api import transport as transport_module  # noqa: E402
from prefect_defender.api.client import ClientSettings  # noqa: E402
from prefect_defender.api.models.machine_actions import ActionType  # noqa: E402
from prefect_defender.blocks import (  # noqa: E402
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from prefect_defender.emulator import EmulatorProcess  # noqa: E402
from prefect_defender.tasks.machine_actions import bulk_machine_action  # noqa: E402

SCALE = 30.0  # 100 calls per minute -> 100 calls per 2 s
N = 1000
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


def ideal_wall(n: int, calls: int = 100, window: float = 60.0 / SCALE) -> float:
    """The least time n calls need under ``calls`` per ``window`` (the first burst is free)."""
    return max(window, (-(-n // calls) - 1) * window)


# -- 1. rate ceiling ------------------------------------------------------------------------


async def ours_bulk(
    conn: dict[str, Any], ids: list[str], action: ActionType, **options: Any
) -> tuple[float, list[Any]]:
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=SCALE)
    t0 = time.perf_counter()
    outcomes = await bulk_machine_action.fn(creds, ids, action, "bench", False, 20, None, **options)
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
    ids = [m["id"] for m in emu.admin.dump(tid, "machines")][:N]
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
        fresh_limits(emu)
        wall, outcomes = asyncio.run(ours_bulk(conn, ids, action, **options))
        stats = emu.admin.stats()
        ok = sum(o.status in ("succeeded", "already_in_progress") for o in outcomes)
        actions = [a for a in emu.admin.dump(tid, "machineActions") if a["type"] == action.value]
        per_machine: dict[str, int] = {}
        for a in actions:
            per_machine[a["machineId"]] = per_machine.get(a["machineId"], 0) + 1
        dups = sum(c - 1 for c in per_machine.values() if c > 1)
        record(
            f"1. rate ceiling, bulk {label} x{N} (ours)",
            "achieved rate / ceiling",
            f"{ideal_wall(N) / wall:.3f} ({N / wall:.1f} calls/s, ideal {ideal_wall(N):.1f} s,"
            f" took {wall:.1f} s)",
        )
        record(
            f"1. rate ceiling, bulk {label} x{N} (ours)",
            "429 answered / items completed / duplicates",
            f"{count(stats, route, 429)} / {ok} / {dups}",
        )
    for label, retry, path in (
        ("naive loop (Microsoft sample)", False, "restrictCodeExecution"),
        ("retry-once-on-429 (XSOAR)", True, "collectInvestigationPackage"),
    ):
        fresh_limits(emu)
        wall, done, _failed = naive_loop(conn, ids, path, {}, retry)
        stats = emu.admin.stats()
        route = f"POST /api/machines/{{id}}/{path}"
        record(
            f"1. rate ceiling, baseline: {label}",
            "items completed / 429 answered",
            f"{done}/{N} ({done / N:.1%}) / {count(stats, route, 429)} in {wall:.1f} s",
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
    for _ in range(3):
        raw.append(asyncio.run(overhead_raw(conn, ids, tok)))
        ours.append(asyncio.run(overhead_ours(conn, ids)))
    w_o, c_o = statistics.median(x[0] for x in ours), statistics.median(x[1] for x in ours)
    w_r, c_r = statistics.median(x[0] for x in raw), statistics.median(x[1] for x in raw)
    record(
        f"2. client overhead, {N} GET machine",
        "wall time ours / raw httpx",
        f"{w_o / w_r:.2f}x ({w_o:.2f} s vs {w_r:.2f} s, median of 3)",
    )
    record(
        f"2. client overhead, {N} GET machine",
        "CPU time ours / raw httpx",
        f"{c_o / c_r:.2f}x ({c_o:.2f} s vs {c_r:.2f} s)",
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
        "3. token reuse, 20 workers",
        f"token requests for {calls} calls",
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
    for _ in range(2):
        results["sdk"].append(worker("sdk_list_graph", conn, {"query": HUNT_SMALL}))
        results["ours"].append(worker("ours_list_graph", conn, {"query": HUNT_SMALL}))
    o = {k: statistics.median(r[k] for r in results["ours"]) for k in results["ours"][0]}
    s = {k: statistics.median(r[k] for r in results["sdk"]) for k in results["sdk"][0]}
    label = f"4. official SDK, list {int(o['items'])} Graph incidents + 1 hunting query"
    if o["items"] != s["items"] or o["hunt_rows"] != s["hunt_rows"]:
        record(label, "WARNING", f"results differ: ours {o} sdk {s}")
    record(
        label,
        "wall time ours / msgraph-sdk",
        f"{o['wall_s'] / s['wall_s']:.2f}x ({o['wall_s']:.2f} s vs {s['wall_s']:.2f} s)",
    )
    record(
        label,
        "CPU time ours / msgraph-sdk",
        f"{o['cpu_s'] / s['cpu_s']:.2f}x ({o['cpu_s']:.2f} s vs {s['cpu_s']:.2f} s)",
    )
    record(
        label,
        "peak RSS ours / msgraph-sdk",
        f"{o['peak_rss_mb'] / s['peak_rss_mb']:.2f}x ({o['peak_rss_mb']:.0f} MB vs "
        f"{s['peak_rss_mb']:.0f} MB)",
    )
    record(
        label,
        "import time ours / msgraph-sdk",
        f"{o['import_s'] / s['import_s']:.2f}x ({o['import_s']:.2f} s vs {s['import_s']:.2f} s)",
    )


def bench_big_hunt(emu: Any, conn: dict[str, Any]) -> None:
    fresh_limits(emu, rate_limits_enabled=False, time_scale=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        r = worker("big_hunt", conn, {"query": HUNT_BIG, "dest": f"{tmp}/big.jsonl"})
    label = f"5. hunting answer of {r['rows']} rows ({r['raw_mb']:.1f} MB JSON)"
    record(label, "parse time", f"{r['parse_s']:.2f} s ({r['rows'] / r['parse_s']:.0f} rows/s)")
    record(
        label,
        "parse peak memory / raw JSON size",
        f"{r['parse_peak_mb'] / r['raw_mb']:.2f}x ({r['parse_peak_mb']:.0f} MB)",
    )
    record(
        label,
        "export to file: peak memory / raw JSON size",
        f"{r['export_peak_mb'] / r['raw_mb']:.2f}x ({r['export_rows']} rows, "
        f"{r['file_mb']:.1f} MB file, {r['export_s']:.2f} s incl. the query)",
    )


# -- 6. Prefect overhead ----------------------------------------------------------------------


def bench_prefect(emu: Any, conn: dict[str, Any], tid: str, home: Path) -> None:
    from prefect import flow, unmapped
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.cli.servers import PrefectServer
    from prefect_defender.tasks.machine_actions import isolate_machine

    fresh_limits(emu, rate_limits_enabled=False, time_scale=1.0)
    machines = [m["id"] for m in emu.admin.dump(tid, "machines")]
    n = 300
    batch_ids, map_ids = machines[-2 * n : -n], machines[-n:]
    unlimited = {"mde": [(1_000_000, 60)]}

    @flow(name="bench-one-task")
    def one_task() -> int:
        creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
        return len(bulk_machine_action(creds, batch_ids, "Unisolate", "bench", concurrency=10))

    @flow(name="bench-task-per-machine")
    def per_machine() -> int:
        creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
        futures = isolate_machine.map(unmapped(creds), map_ids, unmapped("bench"))
        return len([f.result() for f in futures])

    with PrefectServer(home) as server, temporary_settings({PREFECT_API_URL: server.api_url}):
        one_task()  # warm the server (flow registration)
        t0 = time.perf_counter()
        a = one_task()
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = per_machine()
        t_map = time.perf_counter() - t0
    record(
        f"6. Prefect overhead, {n} machine actions",
        "one task per machine (.map) / one batched task",
        f"{t_map / t_one:.1f}x ({t_map:.1f} s vs {t_one:.1f} s; {a} and {b} outcomes)",
    )


# -- 7. mixed-workload pacing -----------------------------------------------------------------

MIXED = 500


async def mixed_workload(conn: dict[str, Any], iso: list[str], scan: list[str]) -> float:
    """Isolate ``iso`` and scan ``scan`` at once, each as one bulk task; the wall time."""
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=SCALE)
    t0 = time.perf_counter()
    a, b = await asyncio.gather(
        bulk_machine_action.fn(creds, iso, ActionType.ISOLATE, "bench", False, 20, None),
        bulk_machine_action.fn(
            creds, scan, ActionType.RUN_ANTIVIRUS_SCAN, "bench", False, 20, None, scan_type="Quick"
        ),
    )
    wall = time.perf_counter() - t0
    failed = [o for o in (*a, *b) if o.status not in ("succeeded", "already_in_progress")]
    if failed:
        raise RuntimeError(f"{len(failed)} actions failed: {failed[0].error}")
    return wall


def bench_mixed(emu_mixed: Any) -> None:
    """Isolation and AV scan at once (500 each) at the ceiling of each API, against the same
    workload paced as one shared MDE budget (the previous client), on fresh machines each."""
    conn = emu_mixed.connection
    tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
    ids = [m["id"] for m in emu_mixed.admin.dump(tid, "machines")]
    sets = [ids[i * MIXED : (i + 1) * MIXED] for i in range(4)]
    label = f"7. mixed workload, {MIXED} isolations + {MIXED} AV scans at once"
    results: dict[str, tuple[float, int]] = {}
    for name, per_api, (iso, scan) in (
        ("shared budget", frozenset(), (sets[0], sets[1])),
        ("per API", transport_module.PER_API_FAMILIES, (sets[2], sets[3])),
    ):
        fresh_limits(emu_mixed)
        saved = transport_module.PER_API_FAMILIES
        transport_module.PER_API_FAMILIES = per_api
        try:
            wall = asyncio.run(mixed_workload(conn, iso, scan))
        finally:
            transport_module.PER_API_FAMILIES = saved
        stats = emu_mixed.admin.stats()
        results[name] = (wall, stats["throttled"])
    per_api_wall, per_api_429 = results["per API"]
    shared_wall, shared_429 = results["shared budget"]
    ideal = ideal_wall(MIXED)
    record(
        label,
        "wall time per-API pacing / one shared budget",
        f"{per_api_wall / shared_wall:.2f}x ({per_api_wall:.1f} s vs {shared_wall:.1f} s; "
        f"ideal at each API's ceiling {ideal:.1f} s, one shared budget {ideal_wall(2 * MIXED):.1f}"
        " s)",
    )
    record(
        label,
        "achieved rate / sum of the two ceilings; 429 answered",
        f"{ideal / per_api_wall:.3f} ({2 * MIXED / per_api_wall:.1f} calls/s); "
        f"{per_api_429} per API, {shared_429} shared",
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
        "machines_per_tenant": 1650,
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
                "machines_per_tenant": 4 * MIXED + 10,
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
