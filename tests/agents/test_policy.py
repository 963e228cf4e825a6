"""The agent policy over stdio on a partner block: a denied tool answers why, an hourly cap
holds, only the policy's tenants of the block are reachable (by id or display name)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from prefect_defender.blocks import DefenderAgentPolicy, ToolRule
from tests.agents.conftest import HeldClient, data, error_text, requests_to_emulator, stdio_client

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def client(blocks: dict[str, str], emulator: Any) -> AsyncIterator[Client]:
    # a fresh policy name per run: the hourly cap is a Prefect limit that outlives the server
    name = f"mcp-policy-{uuid.uuid4().hex[:6]}"
    await DefenderAgentPolicy(
        rules=[
            ToolRule(tool="lookup_*", access="denied"),
            ToolRule(tool="get_machine", calls_per_hour=2),
            ToolRule(tool="propose_*", access="denied"),
        ],
        tenants=["Contoso Ltd"],
    ).save(name, overwrite=True)
    held = HeldClient(lambda: stdio_client(blocks["partner"], "--policy", name))
    yield await held.start()
    await held.stop()


async def test_denied_tool_says_why_and_sends_nothing(client: Client, emulator: Any) -> None:
    emulator.admin.reset_stats()
    text = error_text(await client.call_tool("lookup_ip", {"ip": "203.0.113.66"}))
    assert "denied by the agent policy" in text and "lookup_*" in text
    text = error_text(
        await client.call_tool(
            "propose_incident_containment",
            {"incident_id": 1001, "reason": "because of the C2 beacon", "evidence": []},
        )
    )
    assert "denied by the agent policy" in text
    assert requests_to_emulator(emulator) == 0


async def test_hourly_cap(client: Client, emulator: Any, tenants: dict[str, str]) -> None:
    machine = emulator.admin.dump(tenants["contoso"], "machines")[0]["id"]
    args = {"machine": machine, "tenant": "Contoso Ltd"}
    for _ in range(2):
        assert data(await client.call_tool("get_machine", args))["id"] == machine
    text = error_text(await client.call_tool("get_machine", args))
    assert "2 calls per hour" in text and "cap is reached" in text


async def test_only_the_policys_tenants_of_the_block(
    client: Client, emulator: Any, tenants: dict[str, str]
) -> None:
    listed = data(await client.call_tool("list_tenants", {}))
    assert listed["partner"] is True
    assert listed["tenants"] == [{"tenant_id": tenants["contoso"], "display_name": "Contoso Ltd"}]
    by_name = data(await client.call_tool("list_incidents", {"tenant": "contoso ltd", "limit": 2}))
    by_id = data(await client.call_tool("list_incidents", {"tenant": tenants["contoso"]}))
    assert by_name["tenant_id"] == by_id["tenant_id"] == tenants["contoso"]
    emulator.admin.reset_stats()
    # fabrikam is in the block but not in the policy; woodgrove is not in the block
    for tenant in ("Fabrikam Inc", tenants["fabrikam"], tenants["woodgrove"], "Woodgrove"):
        text = error_text(await client.call_tool("list_incidents", {"tenant": tenant}))
        assert "not reachable" in text and tenants["fabrikam"] not in text.split("reachable")[-1]
    text = error_text(await client.call_tool("list_incidents", {}))
    assert "tenant is required" in text
    assert requests_to_emulator(emulator) == 0
