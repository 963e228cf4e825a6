"""Section 10 of ``make bench``: what the safety rails cost per write.

Against the emulator (its own process, rate limits off on both sides) and a Prefect server
(SQLite, its own process), inside one flow run per measurement run: the same write (``POST
/api/machines/{id}/tags``, adding a tag) sent one at a time, three ways, interleaved call by call
so all three see the same load:

* **rails off**: the transport's write check removed (``api.write_gate``), nothing else changed;
* **rails on**: the check the tasks install (``tasks.write_rails``): the kill switch Variable
  read, then a slot of the tenant's hourly cap (one Prefect API call each);
* **as a playbook writes**: the run's guard admits the action first (``WriteGuard.admit``: the
  kill switch and the caps), then the request passes the check (the kill switch again; the slot
  the admission took).

Per run: the median time per write of each way; the figures are the medians over the runs with
their ranges, the ratio against rails off, and the Prefect API calls counted per write.

Standalone: ``python benchmarks/write_rails.py`` prints the rows; ``benchmarks/run.py --only 10``
merges them into the results file.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results import spread  # noqa: E402
from benchmarks.sections import Bench, section  # noqa: E402

WRITES = 200
RUNS = 3
WARM = 10
WAYS = ("rails off", "rails on", "as a playbook")


@contextmanager
def _counting(calls: Counter[str]) -> Iterator[None]:
    """Count the Prefect API calls the rails make: kill switch Variable reads and slots taken
    (Prefect's own public methods, wrapped for the block)."""
    from prefect.client.orchestration import PrefectClient
    from prefect.variables import Variable

    read, take = Variable.aget, PrefectClient.increment_concurrency_slots

    async def counted_read(name: str, default: Any = None) -> Any:
        calls["variable reads"] += 1
        return await read(name, default=default)

    async def counted_take(self: PrefectClient, *args: Any, **kwargs: Any) -> Any:
        calls["slot calls"] += 1
        return await take(self, *args, **kwargs)

    Variable.aget = counted_read  # type: ignore[method-assign,assignment]
    PrefectClient.increment_concurrency_slots = counted_take  # type: ignore[method-assign]
    try:
        yield
    finally:
        Variable.aget = read  # type: ignore[method-assign]
        PrefectClient.increment_concurrency_slots = take  # type: ignore[method-assign]


async def _one_run(conn: dict[str, Any], machine: str, n: int) -> dict[str, Any]:
    """One flow run: ``n`` writes each way, interleaved; per-way times and API calls."""
    from prefect import flow

    from prefect_defender.api.write_gate import install_write_check, remove_write_check
    from prefect_defender.blocks import DefenderApplicationCredentials
    from prefect_defender.tasks.safety import SafetyPolicy
    from prefect_defender.tasks.write_rails import check_rails, run_guard

    roomy = SafetyPolicy(max_actions_per_run=10**6, max_actions_per_hour=10**6)
    unlimited = {"mde": [(1_000_000, 60)]}

    @flow(name="bench-write-rails")
    async def measure() -> dict[str, Any]:
        guard = run_guard(roomy)
        creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
        times: dict[str, list[float]] = {w: [] for w in WAYS}
        calls: dict[str, Counter[str]] = {w: Counter() for w in WAYS}
        async with creds.get_client() as client:

            async def write(way: str, i: int) -> None:
                started = time.perf_counter()
                with _counting(calls[way]):
                    if way == "as a playbook":
                        assert await guard.admit(client.tenant_id) is None
                    await client.machines.set_tag(machine, f"bench-{i % 7}")
                times[way].append(time.perf_counter() - started)

            for i in range(WARM + n):
                for way in WAYS:
                    if way == "rails off":
                        remove_write_check(check_rails)
                    try:
                        await write(way, i)
                    finally:
                        install_write_check(check_rails)
                if i == WARM - 1:  # the warm-up (token, connections, the cap's limit) is not kept
                    times = {w: [] for w in WAYS}
                    calls = {w: Counter() for w in WAYS}
        return {
            "median": {w: statistics.median(t) for w, t in times.items()},
            "calls": {w: {k: v / n for k, v in c.items()} for w, c in calls.items()},
        }

    return await measure()


@section(
    10,
    "the safety rails' cost per write: rails off, on, as a playbook writes",
    full={"writes": WRITES, "runs": RUNS},
    smoke={"writes": 2, "runs": 1},
    prefect=True,
)
def bench_write_rails(bench: Bench, writes: int, runs: int) -> None:
    """Section 10: the rails' cost per write, rails off / on / as a playbook (see the module)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with bench.emulator("rails", {"rate_limits_enabled": False}) as emu:
        api = bench.prefect()["PREFECT_API_URL"]
        conn = emu.connection
        tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
        machine = emu.admin.dump(tid, "machines")[0]["id"]
        with temporary_settings({PREFECT_API_URL: api}):
            results = [asyncio.run(_one_run(conn, machine, writes)) for _ in range(runs)]
    label = (
        f"10. safety rails, {writes} writes (a machine tag) each way, one at a time, in a flow run"
    )
    med = {w: [r["median"][w] * 1000 for r in results] for w in WAYS}
    off = statistics.median(med["rails off"])
    for way in WAYS:
        ratio = statistics.median(med[way]) / off
        calls = results[-1]["calls"][way]
        said = ", ".join(f"{v:.2f} {k}" for k, v in sorted(calls.items())) or "no Prefect API call"
        bench.record(
            label,
            f"{way}: time per write (x rails off); Prefect API calls per write",
            f"{spread(med[way], '{:.2f}', ' ms')} ({ratio:.2f}x); {said}",
        )
    extra = [a - b for a, b in zip(med["rails on"], med["rails off"], strict=True)]
    bench.record(label, "the rails' cost per write (on - off)", spread(extra, "{:.2f}", " ms"))


def main() -> None:
    """``python benchmarks/write_rails.py``: print the section's rows."""

    def show(section: str, metric: str, value: str) -> None:
        print(f"| {section} | {metric} | {value} |", flush=True)

    bench = Bench(Path(tempfile.mkdtemp(prefix="pd-bench-rails-")), show)
    try:
        bench_write_rails(bench, WRITES, RUNS)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
