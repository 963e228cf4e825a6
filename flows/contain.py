"""Contain device: isolate the devices of an incident or alert after an analyst approves.

1. Look up the devices (from ``incident_id``, ``alert_id`` and/or ``machine_ids``).
2. Ask for approval in the Prefect UI, unless the auto-approve policy covers the incident's
   severity and no device carries a ``never_auto_tags`` tag. No answer means no action.
3. Isolate under the safety rails (kill switch, caps, protected assets, dry run).
4. Wait for each isolation's final state; comment on the incident; write a report artifact.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from prefect_defender.api.input_types import (
    AlertId,
    BlockRef,
    IncidentRef,
    LocalFloat,
    LocalInt,
    MachineId,
    RunKey,
    TenantId,
)
from prefect_defender.api.models.graph_incident_view import alert_from_graph
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.validation import check_incident_id, check_machine_ids
from prefect_defender.flows.approval import (
    ApprovalPolicy,
    ContainmentDecision,
    ask_containment,
)
from prefect_defender.flows.decision_facts import (
    context_for,
    device_facts,
    device_form_rows,
    incident_facts,
)
from prefect_defender.flows.device_actions import act_and_wait, unique_machine_ids
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.proposals import AgentProposal, proposal_line
from prefect_defender.flows.reports import (
    containment_summary,
    outcome_rows,
    report_and_comment,
    write_report,
)
from prefect_defender.flows.run_names import run_name
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_plans import plan_actions, run_key_for
from prefect_defender.tasks.alerts import get_graph_alert
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["contain_device"]

COLUMNS = ["machine", "action", "outcome", "final", "action id", "note"]


@notifying
@flow(name="defender-contain-device", flow_run_name=run_name("contain-device"), log_prints=True)
@checked_parameters
async def contain_device(
    credentials: BlockRef = "defender-application-credentials/soc",
    incident_id: IncidentRef | None = None,
    alert_id: AlertId | None = None,
    machine_ids: list[MachineId] | None = None,
    tenant_id: TenantId | None = None,
    isolation_type: Literal["Full", "Selective"] = "Selective",
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: LocalInt = 1800,
    poll_interval_seconds: LocalFloat = 10.0,
    comment_on_incident: bool = True,
    run_key: RunKey | None = None,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
    proposal: AgentProposal | None = None,
) -> dict[str, Any]:
    """Isolate the devices of an incident or alert, with an approval step and safety rails.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``.
        incident_id: a Defender XDR incident; its alerts' devices are contained.
        alert_id: an alert (read on Graph, alerts_v2); its devices are contained.
        machine_ids: more machines to contain.
        tenant_id: for a partner block, the customer tenant.
        isolation_type: Full or Selective (the form can change it).
        approval: auto-approve severities, tags that always need the form, timeout.
        safety: dry run, caps, protected tags/groups, kill switch variable.
        run_key: idempotency key; default: derived from the inputs and the day, so a re-run
            after a crash never acts twice on a machine (pass a new key to act again today).
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).
        proposal: set by the MCP server when an AI agent proposed this run: the run always
            asks (never auto-approved) and the comment and report name the agent and reason.

    Returns a summary with one outcome per device.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.approval import ApprovalPolicy
        from prefect_defender.flows.contain import contain_device

        # pauses for an analyst's approval in the Prefect UI; here High incidents auto-approve
        report = asyncio.run(contain_device(
            credentials="defender-application-credentials/soc", incident_id=1001,
            approval=ApprovalPolicy(auto_approve_severities=["High"]), poll_interval_seconds=1,
        ))
        assert report["approved"] and report["outcomes"]
        ```
    """
    approval = approval or ApprovalPolicy()
    safety = run_guard(safety).policy  # every write of this run passes its guard
    incident_id = check_incident_id(incident_id) if incident_id else None
    async with await TenantScope.load(credentials, tenant_id) as scope:
        incident, ids = await _devices(scope, incident_id, alert_id, machine_ids)
        plan = await plan_actions(
            scope.client, ids, [ActionType.ISOLATE], safety, {"isolation_type": isolation_type}
        )
        summary = _summary(incident_id, scope.tenant, plan)
        if not plan:
            await write_report(
                "defender-contain-device",
                "Contain device: nothing to do",
                ["No device found for the given incident/alert/machines."],
                [],
                COLUMNS,
            )
            return summary
        decided = await _decide(
            scope, incident, incident_id, plan, isolation_type, approval, safety, proposal
        )
        summary["verdict"] = decided.verdict
        if not decided.approved:
            tell = comment_on_incident and not safety.dry_run
            await _not_approved(scope, incident_id, plan, decided, tell, proposal)
            return summary
        summary["approved"] = True
        key = run_key or run_key_for(
            "contain", scope.tenant, incident_id, alert_id, sorted(ids), decided.isolation_type
        )
        outcomes = await act_and_wait(
            scope,
            plan,
            f"prefect-defender contain-device (incident {incident_id}, approved by "
            f"{decided.approver})",
            safety,
            run_key=key,
            allow_protected=decided.allow_protected,
            wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
            chosen=decided.chosen,
        )
        summary["outcomes"] = [o.model_dump(mode="json") for o in outcomes]
        await _comment_and_report(
            scope, incident_id, plan, outcomes, decided, comment_on_incident, safety, proposal
        )
    return summary


def _summary(incident_id: int | None, tenant: str, plan: list[PlannedAction]) -> dict[str, Any]:
    """The flow's result before anything is decided or done."""
    return {
        "incident_id": incident_id,
        "tenant_id": tenant,
        "devices": len(plan),
        "approved": False,
        "outcomes": [],
    }


async def _devices(
    scope: TenantScope,
    incident_id: int | None,
    alert_id: str | None,
    machine_ids: list[str] | None,
) -> tuple[Incident | None, list[str]]:
    """The incident (if any) and the unique machine ids of the incident, alert and list."""
    incident = await get_incident(scope.client, incident_id) if incident_id else None
    ids: list[str] = list(incident.device_ids()) if incident else []
    if alert_id:  # on Graph (alerts_v2): the devices of its evidence
        ids += alert_from_graph(await get_graph_alert(scope.client, alert_id)).device_ids()
    ids += check_machine_ids(machine_ids)
    return incident, unique_machine_ids(ids)


async def _decide(
    scope: TenantScope,
    incident: Incident | None,
    incident_id: int | None,
    plan: list[PlannedAction],
    isolation_type: str,
    approval: ApprovalPolicy,
    safety: SafetyPolicy,
    proposal: AgentProposal | None = None,
) -> ContainmentDecision:
    """Auto-approve by severity (no ``never_auto_tags`` device, not an agent's proposal), else
    ask in the Prefect UI."""
    severity = incident.severity if incident else None
    auto = approval.auto_approves(severity) and not approval.never_auto_devices(plan)
    if auto and proposal is None:
        return ContainmentDecision(True, f"auto-approved (severity {severity})", isolation_type)
    link = scope.link("incident", incident_id) if incident_id else None
    context = context_for(
        "defender-contain-device",
        scope,
        safety,
        incident=incident_facts(incident, link, plan) if incident else None,
        devices=device_facts(plan, lambda p: f"isolate ({isolation_type})"),
        writes=len(plan),
        proposal=proposal.form_text() if proposal else None,
        instructions=INSTRUCTIONS,
    )
    return await ask_containment(
        context,
        approval,
        isolation_type,
        plan,
        "containment",
        rows=device_form_rows(context.devices),
    )


INSTRUCTIONS = (
    "Switch **approve** on to isolate the devices switched on below; switch a device off to "
    "leave it out. Protected devices are only isolated with **include protected**. No answer "
    "by the deadline means *do not act*."
)


async def _not_approved(
    scope: TenantScope,
    incident_id: int | None,
    plan: list[PlannedAction],
    decided: ContainmentDecision,
    tell_incident: bool,
    proposal: AgentProposal | None = None,
) -> None:
    """One "not approved" row per device; the incident is told (who, when, why) when
    ``tell_incident``."""
    proposed = proposal_line(proposal)
    verdict = decided.verdict
    rows = [
        {
            "machine": p.computer_dns_name,
            "action": "Isolate",
            "outcome": "not approved",
            "final": "",
            "action id": "",
            "note": verdict,
        }
        for p in plan
    ]
    await report_and_comment(
        scope,
        "defender-contain-device",
        "Contain device: not approved",
        [f"Incident: {incident_id}", *decided.heard_lines(), *([proposed] if proposed else [])],
        rows,
        COLUMNS,
        incident_id=incident_id,
        comment=f"Containment not performed: {decided.heard()}."
        f"{f' ({proposed})' if proposed else ''}"
        if tell_incident
        else None,
        acted=False,
    )


async def _comment_and_report(
    scope: TenantScope,
    incident_id: int | None,
    plan: list[PlannedAction],
    outcomes: list[ItemOutcome],
    decided: ContainmentDecision,
    comment_on_incident: bool,
    safety: SafetyPolicy,
    proposal: AgentProposal | None = None,
) -> None:
    """Tell the incident (unless off or a dry run) and write the report of the isolations."""
    proposed = proposal_line(proposal)
    rows = outcome_rows(plan, outcomes)
    done = [r for r in rows if r["final"] == "Succeeded"]
    text = "; ".join(
        f"{r['machine'].split(']')[0].lstrip('[')}: {r['outcome']} {r['final']}".strip()
        for r in rows
    )
    await report_and_comment(
        scope,
        "defender-contain-device",
        f"Contain device: incident {incident_id}" if incident_id else "Contain device",
        containment_summary(
            scope.label,
            decided,
            f"Isolation: {decided.isolation_type}",
            safety.dry_run,
            f"Isolated: {len(done)}/{len(rows)}",
            *([proposed] if proposed else []),
        ),
        rows,
        COLUMNS,
        incident_id=incident_id,
        comment=(
            f"Containment ({decided.isolation_type}{'; ' + proposed if proposed else ''}) "
            f"{decided.heard()}. Results: {text}"
        )[:3900]
        if comment_on_incident and not safety.dry_run
        else None,
        acted=True,
    )
