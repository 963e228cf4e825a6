"""Block indicators: from a list or an incident's entities, validated, with expiry and action,
for one tenant or every tenant of a partner block; one outcome per indicator and tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prefect import flow

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.input_types import (
    BlockRef,
    IncidentRef,
    IndicatorSpecs,
    LocalInt,
    TenantId,
)
from prefect_defender.api.models.indicators import BATCH, IndicatorInput, coerce_indicators
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.approval import ApprovalPolicy, request_decision
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.proposals import AgentProposal, ProposalDecision, proposal_line
from prefect_defender.flows.reports import markdown_table, write_report
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.indicators import import_indicators, indicators_from_entities
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, error_outcome
from prefect_defender.tasks.safety import AutomationHaltedError, SafetyPolicy, WriteGuard
from prefect_defender.tasks.scope import TenantScope, TenantScopes
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["PLAYBOOK_TITLE_PREFIX", "block_indicators"]

#: titles of indicators created by playbooks start with this (the release playbook finds them)
PLAYBOOK_TITLE_PREFIX = "prefect-defender"
COLUMNS = ["tenant", "indicator", "outcome", "note"]


def _from_list(
    items: list[dict[str, Any]], action: str, expiry: datetime
) -> tuple[list[IndicatorInput], list[ItemOutcome]]:
    """The listed indicators with the flow's defaults; an invalid item is a ``failed`` outcome."""
    valid: list[IndicatorInput] = []
    invalid: list[ItemOutcome] = []
    for i, item in enumerate(items):
        full = {"action": action, "expiration_time": expiry, "severity": "High", **item}
        if full["action"] == "Audit":
            full.setdefault("generate_alert", True)
        full["title"] = f"{PLAYBOOK_TITLE_PREFIX}: {full.get('title', '')}".strip()
        try:
            valid.extend(coerce_indicators([full]))
        except DefenderError as exc:
            invalid.append(
                ItemOutcome(
                    item=f"[{i}] {item.get('value')}", status=OutcomeStatus.FAILED, reason=str(exc)
                )
            )
    return valid, invalid


def _each(
    chunk: list[IndicatorInput],
    status: OutcomeStatus,
    reason: str,
    error: dict[str, Any] | None = None,
) -> list[ItemOutcome]:
    """The same outcome for every indicator of ``chunk``."""
    return [
        ItemOutcome(item=f"{i.type.value}:{i.value}", status=status, reason=reason, error=error)
        for i in chunk
    ]


async def _submit_in(
    scope: TenantScope, valid: list[IndicatorInput], guard: WriteGuard, dry_run: bool
) -> list[ItemOutcome]:
    """Import ``valid`` in one tenant, 500 per call on the scope's client, under the guard.

    A call the guard refuses skips its items; a call that fails marks its items failed and the
    next calls still run.
    """
    outcomes: list[ItemOutcome] = []
    for start in range(0, len(valid), BATCH):
        chunk = valid[start : start + BATCH]
        try:
            refused = await guard.admit(scope.tenant)
        except AutomationHaltedError as exc:
            refused = exc.message
        if refused:
            outcomes += _each(chunk, OutcomeStatus.SKIPPED, refused)
            continue
        try:
            outcomes += await import_indicators(scope.client, [*chunk], dry_run)
        except DefenderError as exc:
            status = error_outcome("", exc).status  # refused by the rails: skipped, not failed
            outcomes += _each(chunk, status, str(exc), exc.to_dict())
    return outcomes


async def _report(
    results: list[dict[str, Any]],
    action: str,
    expires_in_days: int,
    dry_run: bool,
    proposed: str | None = None,
) -> None:
    """The run's markdown artifact: one row per indicator and tenant."""
    rows = [
        {
            "tenant": r["tenant_id"],
            "indicator": r["item"],
            "outcome": r["status"],
            "note": r["reason"] or "",
        }
        for r in results
    ]
    ok = sum(r["outcome"] in ("succeeded", "dry_run") for r in rows)
    await write_report(
        "defender-block-indicators",
        "Block indicators",
        [
            f"Action: {action}, expires in {expires_in_days} days",
            f"Dry run: {dry_run}",
            f"Submitted: {ok}/{len(rows)}",
            *([proposed] if proposed else []),
        ],
        rows,
        COLUMNS,
    )


@notifying
@flow(name="defender-block-indicators", log_prints=True)
@checked_parameters
async def block_indicators(
    credentials: BlockRef = "defender-application-credentials/soc",
    indicators: IndicatorSpecs | None = None,
    incident_id: IncidentRef | None = None,
    incident_tenant_id: TenantId | None = None,
    action: Literal["Block", "BlockAndRemediate", "Audit", "Warn", "Allowed"] = "Block",
    expires_in_days: LocalInt = 30,
    tenant_ids: list[TenantId] | None = None,
    safety: SafetyPolicy | None = None,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
    proposal: AgentProposal | None = None,
    approval: ApprovalPolicy | None = None,
) -> list[dict[str, Any]]:
    """Submit indicators (500 per call) in one tenant or every tenant of a partner block.

    Parameters:
        indicators: ``{"value", "type", "title", "description", ...}`` items (``action`` and
            ``expiration_time`` default to the flow's).
        incident_id: also take the incident's files, IPs, URLs and domains (private IPs are
            reported as skipped).
        tenant_ids: for a partner block, restrict to these tenants (default: all).
        safety: dry run, caps (one import call counts as one write), kill switch.
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).
        proposal: set by the MCP server when an AI agent proposed this run: nothing is
            submitted until an operator approves in the Prefect UI (``approval``'s timeout;
            no answer means no action); the report names the agent and reason.
        approval: the wait for that decision (only used for a proposal).

    An invalid item is reported as failed and the valid ones are still submitted; every
    indicator ends with one outcome per tenant.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.block_indicators import block_indicators

        outcomes = asyncio.run(block_indicators(
            credentials="defender-partner-credentials/mssp",
            indicators=[{"value": "203.0.113.66", "type": "IpAddress", "title": "C2",
                         "description": "IR-7"}],
        ))
        assert {o["status"] for o in outcomes} == {"succeeded"}  # one per indicator and tenant
        ```
    """
    log = task_logger()
    safety = run_guard(safety).policy  # every write of this run passes its guard
    incident_id = check_incident_id(incident_id) if incident_id else None
    results: list[dict[str, Any]] = []
    async with await TenantScopes.load(credentials, tenant_ids) as scopes:
        expiry = datetime.now(UTC) + timedelta(days=expires_in_days)
        valid, invalid = _from_list(indicators or [], action, expiry)
        if incident_id is not None:
            incident = await get_incident(scopes.scope_for(incident_tenant_id).client, incident_id)
            more, bad = indicators_from_entities(
                incident,
                action=action,
                expires_in=timedelta(days=expires_in_days),
                title_prefix=PLAYBOOK_TITLE_PREFIX,
            )
            valid += more
            invalid += bad
        refused = await _refused(proposal, approval, valid, action) if proposal else None
        guard = run_guard(safety)
        for scope in scopes:
            if refused:
                outcomes = _each(valid, OutcomeStatus.SKIPPED, refused) + invalid
            else:
                outcomes = await _submit_in(scope, valid, guard, safety.dry_run) + invalid
            results += [{"tenant_id": scope.tenant, **o.model_dump(mode="json")} for o in outcomes]
            log.info("tenant %s: %d indicator outcome(s)", scope.tenant, len(outcomes))
    await _report(results, action, expires_in_days, safety.dry_run, proposal_line(proposal))
    return results


async def _refused(
    proposal: AgentProposal,
    approval: ApprovalPolicy | None,
    valid: list[IndicatorInput],
    action: str,
) -> str | None:
    """Ask the operator about an agent's proposal; ``None`` when approved, else why not."""
    rows = [{"indicator": f"{i.type.value}:{i.value}", "action": action} for i in valid]
    decision, verdict = await request_decision(
        f"## Approve submitting {len(valid)} indicator(s)?\n\n{proposal.form_text()}\n\n"
        f"{markdown_table(rows[:50], ['indicator', 'action'])}\n\n"
        "Tick **approve** to submit. No answer within the timeout means *do not act*.",
        approval or ApprovalPolicy(),
        form_type=ProposalDecision,
    )
    if decision is None or not decision.approve:
        return f"not approved: {verdict}"
    return None
