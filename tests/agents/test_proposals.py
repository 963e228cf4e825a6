"""The write tools only propose: over stdio, a proposal is a paused playbook run; nothing reaches
the emulator until the run is approved through the Prefect API, then exactly one isolation does;
the agent's extra arguments cannot loosen the run's safety; the kill switch refuses proposals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from mcp import Client
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run
from prefect.variables import Variable

from prefect_defender.blocks import DefenderAgentPolicy
from tests.agents.conftest import HeldClient, data, error_text, stdio_client

pytestmark = pytest.mark.asyncio(loop_scope="session")

REASON = "C2 beacon to 203.0.113.66 from this device, seen in hunting"


@pytest.fixture(scope="module")
async def client(blocks: dict[str, str], emulator: Any) -> AsyncIterator[Client]:
    await DefenderAgentPolicy(proposal_runs="in_process", proposal_wait_seconds=60).save(
        "mcp-in-process", overwrite=True
    )
    emulator.admin.patch_config(time_scale=300.0, action_outcomes={})
    held = HeldClient(lambda: stdio_client(blocks["app"], "--policy", "mcp-in-process"))
    yield await held.start()
    await held.stop()
    emulator.admin.patch_config(time_scale=1.0)


def _isolations(emulator: Any, tenant: str, machine_id: str) -> list[dict[str, Any]]:
    return [
        a
        for a in emulator.admin.dump(tenant, "machineActions")
        if a["machineId"] == machine_id and a["type"] == "Isolate"
    ]


def _incident_with_one_device(emulator: Any, tenant: str, title: str) -> tuple[int, str]:
    machine = next(
        m
        for m in emulator.admin.dump(tenant, "machines")
        if "-ws-" in m["computerDnsName"]
        and m["isolationState"] == "NotIsolated"
        and not _isolations(emulator, tenant, m["id"])
    )
    (incident,) = emulator.admin.upsert_incidents(
        tenant,
        [
            {
                "incidentName": title,
                "severity": "High",
                "alerts": [
                    {
                        "id": f"da_mcp_{machine['id'][:8]}",
                        "machineId": machine["id"],
                        "severity": "High",
                        "title": title,
                        "computerDnsName": machine["computerDnsName"],
                        "entities": [],
                    }
                ],
            }
        ],
    )
    return int(incident["incidentId"]), machine["id"]


async def _status(client: Client, run_id: str, want: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = data(await client.call_tool("get_proposal_status", {"run_id": run_id}))
        if status["status"] == want:
            return status
        await asyncio.sleep(0.5)
    raise AssertionError(f"proposal {run_id} never reached {want!r}: {status}")


async def test_proposal_pauses_and_acts_once_after_approval(
    client: Client, emulator: Any, tenants: dict[str, str]
) -> None:
    tid = tenants["contoso"]
    iid, machine = _incident_with_one_device(emulator, tid, "MCP proposal test")
    started = time.perf_counter()
    proposed = data(
        await client.call_tool(
            "propose_incident_containment",
            {"incident_id": iid, "reason": REASON, "evidence": ["alert da_mcp", "hunt: 3 rows"]},
        )
    )
    print(f"propose_incident_containment -> paused run: {time.perf_counter() - started:.2f}s")
    assert proposed["status"] == "awaiting approval" and proposed["state"] == "Paused"
    assert proposed["run_url"].endswith(f"/runs/flow-run/{proposed['run_id']}")
    await asyncio.sleep(1.0)
    assert _isolations(emulator, tid, machine) == []  # nothing before the approval
    async with get_client() as prefect:
        run = await prefect.read_flow_run(UUID(proposed["run_id"]))
    assert run.parameters["approval"]["auto_approve_severities"] == []
    assert run.parameters["proposal"]["agent"] == "test-agent 9.1"
    waiting = data(await client.call_tool("get_proposal_status", {"run_id": proposed["run_id"]}))
    assert waiting["status"] == "awaiting approval"

    await asyncio.to_thread(
        resume_flow_run, run.id, run_input={"approve": True, "approved_by": "analyst"}
    )
    done = await _status(client, proposed["run_id"], "completed")
    assert len(_isolations(emulator, tid, machine)) == 1
    assert done["decision"].startswith("Decision: approved by analyst")
    assert f"proposed by agent test-agent 9.1: {REASON}" in done["report"]
    stored = next(i for i in emulator.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    assert any("proposed by agent test-agent 9.1" in c["comment"] for c in stored["comments"])


async def test_agent_arguments_cannot_loosen_the_run(
    client: Client, emulator: Any, tenants: dict[str, str]
) -> None:
    tid = tenants["contoso"]
    iid, machine = _incident_with_one_device(emulator, tid, "MCP loosening test")
    result = await client.call_tool(
        "propose_device_containment",
        {
            "machine_ids": [machine],
            "incident_id": iid,
            "reason": REASON,
            "evidence": [],
            "dry_run": True,
            # none of these is a parameter of the tool: they must not reach the run
            "approval": {"auto_approve_severities": ["High"]},
            "safety": {"max_actions_per_run": 10_000, "dry_run": False},
            "include_protected": True,
            "credentials": "defender-application-credentials/other",
        },
    )
    proposed = data(result)
    assert proposed["dry_run"] is True and proposed["status"] == "awaiting approval"
    async with get_client() as prefect:
        run = await prefect.read_flow_run(UUID(proposed["run_id"]))
    assert run.parameters["approval"]["auto_approve_severities"] == []
    assert run.parameters["safety"] == {"dry_run": True}
    assert run.parameters["credentials"] == "defender-application-credentials/mcp-soc"
    assert "include_protected" not in run.parameters
    await asyncio.to_thread(resume_flow_run, run.id, run_input={"approve": False})
    done = await _status(client, proposed["run_id"], "completed")
    assert done["decision"].startswith("Decision: rejected")
    assert _isolations(emulator, tid, machine) == []


async def test_kill_switch_refuses_proposals(client: Client, emulator: Any) -> None:
    await Variable.aset("defender_automation_halted", "true", overwrite=True)
    try:
        emulator.admin.reset_stats()
        text = error_text(
            await client.call_tool(
                "propose_incident_containment",
                {"incident_id": 1001, "reason": REASON, "evidence": []},
            )
        )
    finally:
        await Variable.aset("defender_automation_halted", "false", overwrite=True)
    assert "halted" in text


async def test_indicator_and_account_proposals_wait_for_the_operator(
    client: Client, emulator: Any, tenants: dict[str, str]
) -> None:
    tid = tenants["contoso"]
    value = "c2-mcp-proposal.example"
    proposed = data(
        await client.call_tool(
            "propose_indicator_block",
            {
                "indicators": [{"value": value, "type": "DomainName", "title": "C2"}],
                "reason": REASON,
                "evidence": ["lookup_domain: 3 devices"],
            },
        )
    )
    assert proposed["status"] == "awaiting approval"
    blocked = [i for i in emulator.admin.dump(tid, "indicators") if i["indicatorValue"] == value]
    assert blocked == []  # nothing before the approval
    await asyncio.to_thread(resume_flow_run, UUID(proposed["run_id"]), run_input={"approve": True})
    done = await _status(client, proposed["run_id"], "completed")
    blocked = [i for i in emulator.admin.dump(tid, "indicators") if i["indicatorValue"] == value]
    assert len(blocked) == 1 and blocked[0]["action"] == "Block"
    assert "proposed by agent test-agent 9.1" in done["report"]

    account = data(
        await client.call_tool(
            "propose_account_containment",
            {"users": ["jdoe@contoso.example"], "reason": REASON, "evidence": []},
        )
    )
    assert account["status"] == "awaiting approval"
    await asyncio.to_thread(resume_flow_run, UUID(account["run_id"]), run_input={})
    refused = await _status(client, account["run_id"], "completed")
    assert refused["decision"].startswith("Decision: rejected")
