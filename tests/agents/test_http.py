"""The MCP server over streamable HTTP: refused without the bearer token; with it, the SDK's
client reads and proposes, and a proposal starts the playbook *deployment* (run by a served
runner): paused even though the deployment auto-approves High incidents, nothing isolated until
the run is approved through the Prefect API, then exactly one isolation."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run

from prefect_defender.blocks import DefenderAgentPolicy
from tests.agents.conftest import (
    AGENT,
    ROOT,
    HeldClient,
    data,
    serve_command,
    server_env,
)
from tests.agents.test_proposals import REASON, _incident_with_one_device, _isolations, _status

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "mcp-test-token-" + "x" * 24
POLICY = "mcp-deployment"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_for_line(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if needle in line:
                return line
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} within {timeout}s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def runner(blocks: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The contain-incident deployment, served as a worker would run it; it auto-approves High
    incidents, which a proposal must not inherit."""
    log = tmp_path_factory.mktemp("runner") / "runner.log"
    code = (
        "from prefect import serve\n"
        "from prefect_defender.flows.contain_incident import contain_incident\n"
        "serve(contain_incident.to_deployment(name='contain-incident', parameters={"
        f"'credentials': {blocks['app']!r}, 'poll_interval_seconds': 0.2, "
        "'approval': {'auto_approve_severities': ['High'], 'poll_interval_seconds': 1}}))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **server_env(PREFECT_RUNNER_POLL_FREQUENCY="1")},
        cwd=ROOT,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        asyncio.run(_wait_for_deployment("defender-contain-incident/contain-incident", proc))
        yield
    finally:
        _stop(proc)


async def _wait_for_deployment(name: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        async with get_client() as client:
            try:
                await client.read_deployment_by_name(name)
                return
            except Exception:
                if proc.poll() is not None:
                    raise AssertionError(f"runner exited {proc.returncode}") from None
        await asyncio.sleep(0.5)
    raise AssertionError(f"deployment {name} not served")


@pytest.fixture(scope="module")
def url(
    blocks: dict[str, str], emulator: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``mcp serve --http --port 0`` with the token in the environment; its URL."""
    DefenderAgentPolicy(proposal_runs="deployment", proposal_wait_seconds=90).save(
        POLICY, overwrite=True
    )
    log = tmp_path_factory.mktemp("mcp-http") / "server.log"
    args = serve_command(blocks["app"], "--http", "--port", "0", "--policy", POLICY)
    proc = subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, **server_env(PREFECT_DEFENDER_MCP_TOKEN=TOKEN)},
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        line = _wait_for_line(log, "MCP server on http://", proc, 90)
        yield line.split("MCP server on ")[1].split()[0]
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
async def client(url: str) -> AsyncIterator[Client]:
    def connect() -> Client:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        transport = streamable_http_client(url, http_client=http)
        return Client(transport, client_info=AGENT, read_timeout_seconds=120)

    held = HeldClient(connect)
    yield await held.start()
    await held.stop()


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-" + "y" * 20, f"Basic {TOKEN}"])
async def test_http_without_the_token_is_refused(url: str, header: str | None) -> None:
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if header:
        headers["authorization"] = header
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(url, json=body, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert "tools" not in resp.text


async def test_sdk_client_without_the_token_fails(url: str) -> None:
    with pytest.raises(BaseException):  # noqa: B017 - the SDK wraps the 401 in its own groups
        async with Client(url, client_info=AGENT, read_timeout_seconds=20) as anonymous:
            await anonymous.list_tools()


async def test_reads_over_http(client: Client, tenants: dict[str, str]) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) == 18
    listed = data(await client.call_tool("list_incidents", {"limit": 2}))
    assert listed["tenant_id"] == tenants["contoso"] and len(listed["incidents"]) == 2


async def test_proposal_runs_the_deployment_paused_until_approved(
    client: Client, runner: None, emulator: Any, tenants: dict[str, str]
) -> None:
    tid = tenants["contoso"]
    emulator.admin.patch_config(time_scale=300.0, action_outcomes={})
    iid, machine = _incident_with_one_device(emulator, tid, "MCP deployment proposal")
    started = time.perf_counter()
    proposed = data(
        await client.call_tool(
            "propose_incident_containment",
            {"incident_id": iid, "reason": REASON, "evidence": ["hunting: beacon every 60 s"]},
        )
    )
    print(f"propose -> paused deployment run: {time.perf_counter() - started:.2f}s")
    assert proposed["status"] == "awaiting approval", proposed
    async with get_client() as prefect:
        run = await prefect.read_flow_run(UUID(proposed["run_id"]))
    assert run.deployment_id is not None
    # the deployment auto-approves High incidents; the proposal does not inherit that
    assert run.parameters["approval"] == {"auto_approve_severities": [], "poll_interval_seconds": 1}
    await asyncio.sleep(1.0)
    assert _isolations(emulator, tid, machine) == []
    await asyncio.to_thread(
        resume_flow_run, run.id, run_input={"approve": True, "approved_by": "analyst"}
    )
    done = await _status(client, proposed["run_id"], "completed", timeout=120)
    assert len(_isolations(emulator, tid, machine)) == 1
    assert "proposed by agent test-agent 9.1" in done["report"]
    emulator.admin.patch_config(time_scale=1.0)
