"""Section 9 of ``make bench``: the MCP server (``prefect-defender mcp serve``).

Against the emulator (its own process) and a Prefect server (SQLite), same run:

* **Per-call overhead of a read tool**: ``get_machine`` (one ``GET /api/machines/{id}``) called
  20 times as the task function directly (``tasks.machines.get_machine.fn`` on one warmed-up
  client) and 20 times as the MCP tool through the SDK's client over stdio (policy check, audit
  event, JSON-RPC both ways, typed result), interleaved call by call; medians with ranges, the
  difference is the overhead.
* **End to end, a proposal to its paused run**: ``propose_incident_containment`` on a fresh
  one-device incident until the tool answers "awaiting approval" (the run paused on the
  emulator's incident), with the playbook run inside the MCP server (``in_process``) and from
  its deployment served by a runner (``deployment``, the production set-up; runner polling every
  second). Each run is rejected afterwards, so nothing is isolated.

Standalone: ``python benchmarks/agents.py`` prints the rows; ``benchmarks/run.py --only 9``
writes them to the results file.
"""

from __future__ import annotations

import asyncio
import os
import signal
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

CALLS = 20
PROPOSALS = 3
APP = "defender-application-credentials/bench-mcp"


def _client(env: dict[str, str], policy: str) -> Any:
    from mcp import Client, StdioServerParameters
    from mcp_types import Implementation

    args = ["-m", "prefect_defender.cli.main", "mcp", "serve", "--credentials", APP]
    params = StdioServerParameters(
        command=sys.executable, args=[*args, "--policy", policy], env=env, cwd=str(ROOT)
    )
    return Client(
        params, client_info=Implementation(name="bench", version="1"), read_timeout_seconds=300
    )


async def _reads(
    conn: dict[str, Any], env: dict[str, str], machine: str, calls: int
) -> tuple[list[float], list[float]]:
    """``get_machine`` as the task function and as the MCP tool, interleaved call by call so
    both see the same machine load; both warmed up first (token, connections, limiter)."""
    from prefect_defender.blocks import DefenderApplicationCredentials
    from prefect_defender.tasks.machines import get_machine

    client = DefenderApplicationCredentials.from_emulator(conn).get_client()
    direct, tool = [], []
    try:
        async with _client(env, "bench-reads") as mcp:
            for _ in range(3):
                await get_machine.fn(client, machine)
                await mcp.call_tool("get_machine", {"machine": machine})
            for _ in range(calls):
                started = time.perf_counter()
                await get_machine.fn(client, machine)
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                result = await mcp.call_tool("get_machine", {"machine": machine})
                tool.append(time.perf_counter() - started)
                assert not result.is_error, result.content
    finally:
        await client.aclose()
    return direct, tool


def _one_device_incident(emu: Any, tid: str, n: int) -> int:
    machine = [m for m in emu.admin.dump(tid, "machines") if "-ws-" in m["computerDnsName"]][n]
    (incident,) = emu.admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": f"bench proposal {n}",
                "severity": "High",
                "alerts": [
                    {
                        "id": f"da_bench_{n}",
                        "machineId": machine["id"],
                        "severity": "High",
                        "title": "bench",
                        "computerDnsName": machine["computerDnsName"],
                        "entities": [],
                    }
                ],
            }
        ],
    )
    return int(incident["incidentId"])


async def _proposals(env: dict[str, str], policy: str, incidents: list[int]) -> list[float]:
    from prefect.flow_runs import aresume_flow_run

    times = []
    async with _client(env, policy) as client:
        for iid in incidents:
            started = time.perf_counter()
            result = await client.call_tool(
                "propose_incident_containment",
                {"incident_id": iid, "reason": "benchmark proposal, rejected", "evidence": []},
            )
            elapsed = time.perf_counter() - started
            answer = result.structured_content or {}
            assert answer.get("status") == "awaiting approval", result.content
            times.append(elapsed)
            await aresume_flow_run(answer["run_id"], run_input={"approve": False})
    return times


def _serve_runner(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    code = (
        "from prefect import serve\n"
        "from prefect_defender.flows.contain_incident import contain_incident\n"
        "serve(contain_incident.to_deployment(name='contain-incident', "
        f"parameters={{'credentials': {APP!r}, 'approval': {{'poll_interval_seconds': 1}}}}))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**env, "PREFECT_RUNNER_POLL_FREQUENCY": "1"},
        cwd=ROOT,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _deployment_ready(name: str) -> None:
    from prefect.client.orchestration import get_client

    for _ in range(240):
        async with get_client() as client:
            try:
                await client.read_deployment_by_name(name)
                return
            except Exception:
                await asyncio.sleep(0.5)
    raise RuntimeError(f"deployment {name} was not served")


def _record_reads(record: Record, direct: list[float], tool: list[float]) -> None:
    label = f"9. MCP read tool get_machine vs the task called directly, {len(direct)} calls each"
    ms_direct, ms_tool = [t * 1000 for t in direct], [t * 1000 for t in tool]
    overhead = statistics.median(ms_tool) - statistics.median(ms_direct)
    ratio = statistics.median(ms_tool) / statistics.median(ms_direct)
    record(label, "task function directly", spread(ms_direct, "{:.1f}", " ms"))
    record(
        label,
        "MCP tool over stdio (policy, audit event, JSON-RPC)",
        spread(ms_tool, "{:.1f}", " ms"),
    )
    record(
        label,
        "per-call overhead (median tool - median direct) / ratio",
        f"{overhead:.1f} ms / {ratio:.1f}x",
    )


@section(
    9,
    "the MCP server: a read tool's overhead, a proposal to its paused run",
    full={"calls": CALLS, "proposals": PROPOSALS},
    smoke={"calls": 1, "proposals": 1},
    prefect=True,
)
def bench_agents(bench: Bench, calls: int, proposals: int) -> None:
    """Measure the MCP server and record the rows of section 9."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.blocks import DefenderAgentPolicy, DefenderApplicationCredentials

    with bench.emulator("agents", {"time_scale": 300.0}) as emu:
        conn = emu.connection
        tid = next(t["tenant_id"] for t in conn["tenants"] if t["name"] == "contoso")
        env = bench.subprocess_env(PYTHONPATH=str(ROOT))
        with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
            DefenderApplicationCredentials.from_emulator(conn).save("bench-mcp", overwrite=True)
            DefenderAgentPolicy(rules=[]).save("bench-reads", overwrite=True)
            DefenderAgentPolicy(rules=[], proposal_runs="in_process").save(
                "bench-in-process", overwrite=True
            )
            DefenderAgentPolicy(rules=[], proposal_wait_seconds=120).save(
                "bench-deployment", overwrite=True
            )
            machine = emu.admin.dump(tid, "machines")[0]["id"]
            direct, tool = asyncio.run(_reads(conn, env, machine, calls))
            _record_reads(bench.record, direct, tool)
            incidents = [_one_device_incident(emu, tid, n) for n in range(2 * proposals)]
            in_process = asyncio.run(_proposals(env, "bench-in-process", incidents[:proposals]))
            runner = _serve_runner(env, bench.work / "runner.log")
            try:
                asyncio.run(_deployment_ready("defender-contain-incident/contain-incident"))
                deployed = asyncio.run(_proposals(env, "bench-deployment", incidents[proposals:]))
            finally:
                os.killpg(os.getpgid(runner.pid), signal.SIGTERM)
                runner.wait(timeout=30)
    label = "9. MCP propose_incident_containment -> run paused for approval (one device)"
    bench.record(label, "playbook run inside the MCP server", spread(in_process, "{:.2f}", " s"))
    bench.record(
        label,
        "playbook deployment, served runner polling every 1 s",
        spread(deployed, "{:.2f}", " s"),
    )


def main() -> None:
    """``python benchmarks/agents.py``: print the section's rows."""
    work = Path(tempfile.mkdtemp(prefix="pd-bench-agents-"))

    def show(section: str, metric: str, value: str) -> None:
        print(f"| {section} | {metric} | {value} |", flush=True)

    bench = Bench(work, show)
    try:
        bench_agents(bench, CALLS, PROPOSALS)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
