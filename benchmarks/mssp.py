"""Section 8 of ``make bench``: the MSSP fan-out over 10, 100 and 1,000 customer tenants.

The flow (``flows/mssp.py``: one hunting query and one indicator per tenant, concurrency 5)
runs in a fresh process per run against a kept Prefect server (SQLite) and the emulator
configured with that many partner tenants (one of them, northwind, has not consented, so every
run has a failure to report). The flow process runs under a soft ``RLIMIT_NOFILE`` of 256 (as
``ulimit -n 256`` sets it). Per run: wall, CPU per tenant, peak resident memory (``VmHWM``) and
its growth per tenant over the resident memory before the run, peak open files, requests and
token requests per tenant (counted at the emulator), and the emulator's own CPU and memory
while it materialises the tenants (its first run is cold).

Standalone: ``python benchmarks/mssp.py 10,50,100,200 [runs] [nofile]`` prints the rows;
``benchmarks/run.py --only 8`` writes them to the results file.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results import spread  # noqa: E402
from benchmarks.sections import Bench, Record, section  # noqa: E402

SIZES = (10, 100, 1000)
RUNS = 3
NOFILE = 256
QUERY = 'DeviceNetworkEvents | where RemoteIP == "203.0.113.66" | count'
BASELINE = [
    {
        "value": "c2-baseline.example",
        "type": "DomainName",
        "action": "Block",
        "title": "MSSP baseline",
        "description": "benchmark baseline indicator",
    }
]


def _proc_figures(pid: int) -> tuple[float, float, float]:
    """CPU seconds, resident and peak resident memory (MiB) of process ``pid``."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    mem = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith(("VmRSS:", "VmHWM:"))
    }
    return cpu, mem.get("VmRSS", 0.0), mem.get("VmHWM", 0.0)


def _worker(args: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The fan-out in a fresh process (it reads the saved block: no connection needed)."""
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "workers.py"),
            "mssp_fanout",
            json.dumps({"conn": {}, "args": args}),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=ROOT,
        env=env,
    )
    if out.returncode != 0:
        raise RuntimeError(f"mssp_fanout worker failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _save_blocks(conn: dict[str, Any], sizes: tuple[int, ...]) -> None:
    from prefect_defender.blocks import DefenderPartnerCredentials

    DefenderPartnerCredentials.from_emulator(conn, tenants=["contoso"]).save(
        "bench-warm", overwrite=True
    )
    for n in sizes:
        names = ["northwind", *(f"cust{i:02d}" for i in range(1, n))]
        DefenderPartnerCredentials.from_emulator(conn, tenants=names).save(
            f"bench-{n}", overwrite=True
        )


@section(
    8,
    "MSSP fan-out over many customer tenants under a file limit",
    full={"sizes": SIZES, "runs": RUNS, "nofile": NOFILE},
    smoke={"sizes": (2,), "runs": 1, "nofile": NOFILE},
    prefect=True,
)
def bench_mssp(bench: Bench, sizes: tuple[int, ...], runs: int, nofile: int) -> None:
    """Measure the fan-out at each size and record the rows of section 8."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    config = {"extra_customer_tenants": max(sizes)}
    emu_started = time.perf_counter()
    with bench.emulator("mssp", config, timeout=1800) as emu:
        emu_start_s = time.perf_counter() - emu_started
        assert emu.proc is not None
        pid = emu.proc.pid
        emu_cpu0, emu_rss0, _ = _proc_figures(pid)
        env = bench.subprocess_env()
        with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
            _save_blocks(emu.connection, sizes)
        args = {"query": QUERY, "baseline": BASELINE, "nofile": nofile}
        for n in sizes:
            results, requests, tokens = [], [], []
            emu_cold: tuple[float, float] | None = None
            for _ in range(runs):
                emu.admin.reset_stats()
                cpu_before = _proc_figures(pid)[0]
                results.append(
                    _worker(
                        {
                            **args,
                            "block": f"defender-partner-credentials/bench-{n}",
                            "warm_block": "defender-partner-credentials/bench-warm",
                        },
                        env,
                    )
                )
                cpu_after, _, emu_hwm = _proc_figures(pid)
                if emu_cold is None:
                    emu_cold = (cpu_after - cpu_before, emu_hwm)
                stats = emu.admin.stats()
                warm = 2  # the warm-up run's query and indicator in contoso
                requests.append(sum(r["count"] for r in stats["requests"]) - warm)
                tokens.append(sum(r["count"] for r in stats["token_requests"]) - warm)
            _record_size(bench.record, n, nofile, results, requests, tokens, emu_cold)
        _, emu_rss, emu_hwm = _proc_figures(pid)
        bench.record(
            f"8. MSSP fan-out, emulator with {max(sizes)} partner tenants",
            "start / resident memory after start, at the end, peak",
            f"{emu_start_s:.1f} s / {emu_rss0:.0f} MiB, {emu_rss:.0f} MiB, {emu_hwm:.0f} MiB "
            f"(CPU at start {emu_cpu0:.1f} s)",
        )


def _record_size(
    record: Record,
    n: int,
    nofile: int,
    results: list[dict[str, Any]],
    requests: list[int],
    tokens: list[int],
    emu_cold: tuple[float, float] | None,
) -> None:
    label = f"8. MSSP fan-out over {n} tenants (query + 1 indicator, concurrency 5)"
    failed = [r["error"] for r in results if r["error"]]
    outcomes = [sum(r["statuses"].values()) for r in results]
    record(
        label,
        f"runs ending with a report / tenants with an outcome (ulimit -n {nofile})",
        f"{len(results) - len(failed)} of {len(results)} / {min(outcomes)} of {n}"
        + (f"; whole run failed: {failed[0]}" if failed else "")
        + f"; statuses {results[-1]['statuses']}",
    )
    record(label, "wall time", spread([r["wall_s"] for r in results], "{:.2f}", " s"))
    record(
        label,
        "CPU per tenant (flow process)",
        spread([1000 * r["cpu_s"] / n for r in results], "{:.1f}", " ms"),
    )
    growth = [(r["peak_rss_mb"] - r["rss_before_mb"]) / n for r in results]
    record(
        label,
        "peak RSS; growth over the RSS before the run, per tenant",
        f"{spread([r['peak_rss_mb'] for r in results], '{:.0f}', ' MiB')}; "
        f"{spread(growth, '{:.3f}', ' MiB')}",
    )
    record(
        label,
        "peak open files (before the run)",
        f"{spread([float(r['peak_fds']) for r in results], '{:.0f}', '')} "
        f"({statistics.median(r['fds_before'] for r in results):.0f})",
    )
    record(
        label,
        "requests / token requests per tenant",
        f"{statistics.median(requests) / n:.2f} / {statistics.median(tokens) / n:.2f}",
    )
    if emu_cold is not None:
        record(
            label,
            "emulator: CPU per tenant in the first (cold) run / its peak RSS",
            f"{1000 * emu_cold[0] / n:.0f} ms / {emu_cold[1]:.0f} MiB",
        )


def main() -> None:
    """``python benchmarks/mssp.py SIZES [RUNS] [NOFILE]``: print the section's rows."""
    sizes = tuple(int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "10,100").split(","))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else RUNS
    nofile = int(sys.argv[3]) if len(sys.argv) > 3 else NOFILE
    work = Path(tempfile.mkdtemp(prefix="pd-bench-mssp-"))

    def show(section: str, metric: str, value: str) -> None:
        print(f"| {section} | {metric} | {value} |", flush=True)

    bench = Bench(work, show)
    try:
        bench_mssp(bench, sizes, runs, nofile)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
