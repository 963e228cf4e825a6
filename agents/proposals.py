"""The write tools, which only propose: each starts a containment playbook that pauses for an
operator's approval in Prefect (the same form, caps, protected assets and kill switch as a run a
human starts), and answers with the run's link. ``get_proposal_status`` reads where it stands.

No tool approves, raises a cap, includes a protected asset or touches the kill switch: the
arguments here name only the target, the dry run and the agent's reason and evidence; the
playbook's safety parameters are built server-side (``agents.launch``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel, Field

from prefect_defender.agents.launch import PROPOSAL_TAG, Launched, launch, run_url
from prefect_defender.agents.middleware import client_of
from prefect_defender.agents.read_tools import Tenant
from prefect_defender.agents.runtime import AgentRuntime, answers_errors, runtime_of
from prefect_defender.agents.schemas import ProposalResult, ProposalStatus, bounded
from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.api.models.indicators import coerce_indicators
from prefect_defender.api.validation import check_machine_ids, check_user_ref
from prefect_defender.flows.proposals import AgentProposal

__all__ = [
    "PROPOSAL_TOOLS",
    "IndicatorSpec",
    "get_proposal_status",
    "propose_account_containment",
    "propose_device_containment",
    "propose_incident_containment",
    "propose_indicator_block",
]

Reason = Annotated[
    str,
    Field(
        min_length=10,
        max_length=2000,
        description="Why you propose this, in a sentence or two; the operator reads it and it "
        "is recorded on the incident and in the report.",
    ),
]
Evidence = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=500)]],
    Field(
        max_length=20,
        description="What supports it: alert ids, hunting findings, lookups (at most 20).",
    ),
]
DryRun = Annotated[
    bool,
    Field(description="Propose a dry run: once approved, the playbook reports what it would do."),
]
IncidentId = Annotated[int, Field(ge=1, le=2**53, description="The incident id.")]
OfIncident = Annotated[
    int | None, Field(ge=1, le=2**53, description="The incident they belong to, if any.")
]


class IndicatorSpec(BaseModel):
    """One indicator to block."""

    value: str = Field(min_length=1, max_length=2048, description="Hash, IP, domain or URL.")
    type: Literal["FileSha256", "FileSha1", "FileMd5", "IpAddress", "DomainName", "Url"]
    title: str = Field(default="", max_length=200, description="A short name for it.")


def _proposal(ctx: Context, reason: str, evidence: list[str]) -> dict[str, Any]:
    client = client_of(ctx.request_context)
    agent = f"{client['name']} {client['version']}"
    return AgentProposal(agent=agent, reason=reason, evidence=evidence).model_dump()


def _answer(launched: Launched, tenant: str, dry_run: bool) -> ProposalResult:
    waiting = launched.paused
    return ProposalResult(
        run_id=str(launched.run.id),
        run_url=run_url(launched.run.id),
        status="awaiting approval" if waiting else launched.state.lower(),
        state=launched.state,
        playbook=launched.playbook,
        tenant_id=tenant,
        dry_run=dry_run,
        note="An operator approves or rejects it in Prefect; nothing is done before that. "
        "Ask get_proposal_status for the decision and the outcome."
        if waiting
        else "The run has not paused for approval yet (a worker may still have to pick it "
        "up); ask get_proposal_status later.",
    )


async def _propose(
    ctx: Context, tool: str, tenant: str | None, chosen: dict[str, Any], dry_run: bool
) -> ProposalResult:
    runtime = runtime_of(ctx)
    scope = runtime.scope(tenant)
    chosen = {**chosen, **_tenant_parameter(runtime, tool, scope.tenant)}
    launched = await launch(runtime, tool, chosen, dry_run)
    return _answer(launched, scope.tenant, dry_run)


def _tenant_parameter(runtime: AgentRuntime, tool: str, tenant: str) -> dict[str, Any]:
    if not runtime.partner:
        return {}
    if tool == "propose_indicator_block":
        return {"tenant_ids": [tenant], "incident_tenant_id": tenant}
    return {"tenant_id": tenant}


@answers_errors
async def propose_device_containment(
    ctx: Context,
    machine_ids: Annotated[
        list[Annotated[str, Field(pattern=r"^[0-9a-fA-F]{40}$")]],
        Field(min_length=1, max_length=50, description="Machine ids to isolate (1-50)."),
    ],
    reason: Reason,
    evidence: Evidence,
    tenant: Tenant = None,
    incident_id: OfIncident = None,
    isolation_type: Literal["Full", "Selective"] = "Selective",
    dry_run: DryRun = False,
) -> ProposalResult:
    """Propose isolating devices. Starts the contain-device playbook, which pauses until an
    operator approves in Prefect (protected devices stay untouched unless the operator includes
    them). Returns the run link and 'awaiting approval'; nothing is isolated before approval."""
    ids = check_machine_ids(machine_ids)
    chosen = {
        "machine_ids": ids,
        "incident_id": incident_id,
        "isolation_type": isolation_type,
        "proposal": _proposal(ctx, reason, evidence),
    }
    return await _propose(ctx, "propose_device_containment", tenant, chosen, dry_run)


@answers_errors
async def propose_account_containment(
    ctx: Context,
    users: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=320)]],
        Field(min_length=1, max_length=50, description="UPNs or Entra object ids (1-50)."),
    ],
    reason: Reason,
    evidence: Evidence,
    tenant: Tenant = None,
    incident_id: OfIncident = None,
    actions: Annotated[
        list[Literal["disable", "revokeAllSessions", "forcePasswordReset"]] | None,
        Field(description="Default: disable and revokeAllSessions."),
    ] = None,
    dry_run: DryRun = False,
) -> ProposalResult:
    """Propose containing accounts (disable, sign out everywhere). Starts the contain-identity
    playbook, which pauses until an operator approves in Prefect (protected accounts stay
    untouched unless the operator includes them). Returns the run link and 'awaiting
    approval'."""
    who = [check_user_ref(u, "users") for u in users]
    chosen = {
        "users": who,
        "incident_id": incident_id,
        "actions": [IdentityAction(a).value for a in actions] if actions else None,
        "proposal": _proposal(ctx, reason, evidence),
    }
    return await _propose(ctx, "propose_account_containment", tenant, chosen, dry_run)


@answers_errors
async def propose_incident_containment(
    ctx: Context,
    incident_id: IncidentId,
    reason: Reason,
    evidence: Evidence,
    tenant: Tenant = None,
    isolation_type: Literal["Full", "Selective"] = "Selective",
    dry_run: DryRun = False,
) -> ProposalResult:
    """Propose containing an incident: isolate its devices and contain its accounts, in one
    approval. Starts the contain-incident playbook, which pauses until an operator approves in
    Prefect. Returns the run link and 'awaiting approval'."""
    chosen = {
        "incident_id": incident_id,
        "isolation_type": isolation_type,
        "proposal": _proposal(ctx, reason, evidence),
    }
    return await _propose(ctx, "propose_incident_containment", tenant, chosen, dry_run)


@answers_errors
async def propose_indicator_block(
    ctx: Context,
    indicators: Annotated[list[IndicatorSpec], Field(min_length=1, max_length=100)],
    reason: Reason,
    evidence: Evidence,
    tenant: Tenant = None,
    action: Literal["Block", "BlockAndRemediate", "Warn", "Audit"] = "Block",
    expires_in_days: Annotated[int, Field(ge=1, le=90)] = 30,
    dry_run: DryRun = False,
) -> ProposalResult:
    """Propose blocking indicators (file hashes, IPs, domains, URLs) as Defender custom
    indicators. Starts the block-indicators playbook, which submits nothing until an operator
    approves in Prefect. Returns the run link and 'awaiting approval'."""
    items = [
        {
            "value": i.value,
            "type": i.type,
            "title": i.title or f"{i.type} {i.value}"[:100],
            "description": f"Proposed by an AI agent: {reason}"[:1000],
        }
        for i in indicators
    ]
    expiry = datetime.now(UTC) + timedelta(days=expires_in_days)
    coerce_indicators([{**i, "action": action, "expiration_time": expiry} for i in items])
    chosen = {
        "indicators": items,
        "action": action,
        "expires_in_days": expires_in_days,
        "proposal": _proposal(ctx, reason, evidence),
    }
    return await _propose(ctx, "propose_indicator_block", tenant, chosen, dry_run)


def _ours(runtime: AgentRuntime, tags: list[str], params: dict[str, Any]) -> bool:
    """True for a proposal of this server's block in a tenant the agent may reach."""
    if PROPOSAL_TAG not in tags or params.get("credentials") != runtime.credentials_ref:
        return False
    tenant = params.get("tenant_id") or (params.get("tenant_ids") or [None])[0]
    try:
        runtime.resolve(tenant)
    except ToolError:
        return False
    return True


def _status(state_type: str, paused: bool) -> str:
    if paused:
        return "awaiting approval"
    return {
        "COMPLETED": "completed",
        "FAILED": "failed",
        "CRASHED": "failed",
        "CANCELLED": "cancelled",
        "CANCELLING": "cancelled",
        "RUNNING": "running",
    }.get(state_type, "pending")


async def get_proposal_status(
    ctx: Context,
    run_id: Annotated[UUID, Field(description="The run_id a propose_* tool returned.")],
) -> ProposalStatus:
    """Where a proposal stands: awaiting approval, running, completed (with the operator's
    decision and the playbook's report of what was done), failed or cancelled."""
    runtime = runtime_of(ctx)
    async with get_client() as client:
        try:
            run = await client.read_flow_run(run_id)
        except ObjectNotFound:
            raise ToolError(f"no proposal {run_id}") from None
        params = run.parameters or {}
        if not _ours(runtime, run.tags, params):
            raise ToolError(f"no proposal {run_id}")
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    report = next((str(a.data) for a in artifacts if a.type == "markdown" and a.data), None)
    decision = next(
        (line[2:] for line in (report or "").splitlines() if line.startswith("- Decision:")),
        None,
    )
    state = run.state
    paused = bool(state and state.is_paused())
    return ProposalStatus(
        run_id=str(run.id),
        run_url=run_url(run.id),
        state=state.name if state else "Pending",
        status=_status(state.type.value if state else "PENDING", paused),
        decision=bounded(decision, 500),
        report=bounded(report, 8000),
    )


#: the write tools (they only propose) and the status tool, in the order the server lists them
PROPOSAL_TOOLS = (
    propose_device_containment,
    propose_account_containment,
    propose_incident_containment,
    propose_indicator_block,
    get_proposal_status,
)
