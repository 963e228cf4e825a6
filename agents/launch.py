"""Starting a proposed playbook run: its parameters built here, never taken from the agent.

The agent chooses only the target (incident, devices, accounts, indicators), the dry run, and its
reason and evidence. Everything that keeps a run safe comes from the playbook deployment's own
parameters and is only ever tightened here:

* ``approval``: the deployment's, with ``auto_approve_severities`` emptied (an agent's proposal
  always waits for the operator; the playbook refuses auto-approval of a proposal too);
* ``safety``: the deployment's (caps, protected assets, kill switch variable), with ``dry_run``
  turned on when the agent asks for a dry run, never off;
* ``credentials``: the MCP server's own block, so the run acts only where the agent could read.

A proposal is refused while the kill switch is on. The run starts from the deployment (a worker
runs it) or, with the policy's ``proposal_runs: in_process``, inside the MCP server process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any
from uuid import UUID

from mcp.server.mcpserver.exceptions import ToolError
from prefect import Flow
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound
from prefect.flow_engine import run_flow_async
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

from prefect_defender.agents.runtime import AgentRuntime
from prefect_defender.flows.block_indicators import block_indicators
from prefect_defender.flows.contain import contain_device
from prefect_defender.flows.contain_identity import contain_identity
from prefect_defender.flows.contain_incident import contain_incident
from prefect_defender.tasks.safety import AutomationHaltedError, SafetyPolicy, ensure_not_halted

__all__ = ["PLAYBOOKS", "PROPOSAL_TAG", "Launched", "launch", "run_url"]

#: the playbook each proposal tool starts
PLAYBOOKS: dict[str, Flow[..., Any]] = {
    "propose_device_containment": contain_device,
    "propose_account_containment": contain_identity,
    "propose_incident_containment": contain_incident,
    "propose_indicator_block": block_indicators,
}
#: every proposed run carries this tag (get_proposal_status reads only such runs)
PROPOSAL_TAG = "defender-mcp-proposal"
_IN_PROCESS: set[threading.Thread] = set()


def run_url(run_id: UUID | str) -> str:
    """The flow run's page in the Prefect UI."""
    ui = PREFECT_UI_URL.value() or str(PREFECT_API_URL.value() or "").removesuffix("/api")
    return f"{str(ui).rstrip('/')}/runs/flow-run/{run_id}"


class Launched:
    """A started proposal: its flow run as last read, and the playbook's name."""

    def __init__(self, run: FlowRun, playbook: str) -> None:
        self.run = run
        self.playbook = playbook

    @property
    def state(self) -> str:
        """The run's state name (``Paused`` once it waits for the operator)."""
        return str(self.run.state.name) if self.run.state else "Pending"

    @property
    def paused(self) -> bool:
        """True once the run waits for the operator's decision."""
        return bool(self.run.state and self.run.state.type == StateType.PAUSED)


def _tightened(defaults: dict[str, Any], chosen: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """The run's parameters: the agent's target, then the safety fields from ``defaults``."""
    params = dict(chosen)
    params["approval"] = {**(defaults.get("approval") or {}), "auto_approve_severities": []}
    if dry_run:
        params["safety"] = {**(defaults.get("safety") or {}), "dry_run": True}
    return params


async def _halted(defaults: dict[str, Any]) -> str | None:
    safety = SafetyPolicy.model_validate(defaults.get("safety") or {})
    try:
        await ensure_not_halted(safety.kill_switch_variable)
    except AutomationHaltedError as exc:
        return f"{exc}: no proposal is started"
    return None


def _run_in_thread(flow: Flow[..., Any], run: FlowRun, params: dict[str, Any]) -> None:
    """Run the playbook in this process, on its own thread and event loop."""

    def body() -> None:
        try:
            asyncio.run(run_flow_async(flow, flow_run=run, parameters=params, return_type="state"))
        finally:
            _IN_PROCESS.discard(thread)

    thread = threading.Thread(target=body, name=f"proposal-{run.id}", daemon=True)
    _IN_PROCESS.add(thread)
    thread.start()


async def _from_deployment(
    client: PrefectClient, runtime: AgentRuntime, tool: str, chosen: dict[str, Any], dry_run: bool
) -> FlowRun:
    name = runtime.policy.deployments.get(tool, "")
    try:
        deployment = await client.read_deployment_by_name(name)
    except (ObjectNotFound, ValueError):
        raise ToolError(
            f"the playbook deployment {name!r} is not on the Prefect server; ask the operator "
            "to deploy it (deployments/prefect.yaml)"
        ) from None
    defaults = dict(deployment.parameters or {})
    halted = await _halted(defaults)
    if halted:
        raise ToolError(halted)
    params = _tightened(defaults, chosen, dry_run)
    return await client.create_flow_run_from_deployment(
        deployment.id, parameters=params, tags=[PROPOSAL_TAG]
    )


async def _in_process(
    client: PrefectClient, tool: str, chosen: dict[str, Any], dry_run: bool
) -> FlowRun:
    halted = await _halted({})
    if halted:
        raise ToolError(halted)
    flow = PLAYBOOKS[tool]
    params = _tightened({}, chosen, dry_run)
    run = await client.create_flow_run(flow, parameters=params, tags=[PROPOSAL_TAG])
    _run_in_thread(flow, run, params)
    return run


async def launch(
    runtime: AgentRuntime, tool: str, chosen: dict[str, Any], dry_run: bool
) -> Launched:
    """Start ``tool``'s playbook with the agent's ``chosen`` target and the server-side safety
    parameters; wait (up to the policy's ``proposal_wait_seconds``) until it pauses for the
    operator."""
    chosen = {**chosen, "credentials": runtime.credentials_ref}
    async with get_client() as client:
        if runtime.policy.proposal_runs == "in_process":
            run = await _in_process(client, tool, chosen, dry_run)
        else:
            run = await _from_deployment(client, runtime, tool, chosen, dry_run)
        launched = Launched(run, PLAYBOOKS[tool].name)
        deadline = time.monotonic() + runtime.policy.proposal_wait_seconds
        while time.monotonic() < deadline:
            launched.run = await client.read_flow_run(run.id)
            if launched.paused or (launched.run.state and launched.run.state.is_final()):
                break
            await asyncio.sleep(0.2)
    return launched
