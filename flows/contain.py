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

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.approval import ApprovalPolicy, request_decision
from prefect_defender.flows.common import check_machine_ids, load_credentials, own_tenant
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import markdown_table, outcome_rows, write_report
from prefect_defender.tasks.action_plans import (
    apply_machine_actions,
    await_machine_actions,
    plan_machine_actions,
    run_key_for,
)
from prefect_defender.tasks.alerts import get_alert
from prefect_defender.tasks.base import defender_client, task_logger
from prefect_defender.tasks.incidents import add_incident_comment, get_incident
from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard

__all__ = ["contain_device"]

COLUMNS = ["machine", "action", "outcome", "final", "action id", "note"]


@notifying
@flow(name="defender-contain-device", log_prints=True)
async def contain_device(
    credentials: str = "defender-application-credentials/soc",
    incident_id: int | str | None = None,
    alert_id: str | None = None,
    machine_ids: list[str] | None = None,
    tenant_id: str | None = None,
    isolation_type: Literal["Full", "Selective"] = "Selective",
    approval: ApprovalPolicy | None = None,
    safety: SafetyPolicy | None = None,
    wait_timeout_seconds: int = 1800,
    poll_interval_seconds: float = 10.0,
    comment_on_incident: bool = True,
    run_key: str | None = None,
    notify: list[str] | None = None,
    notify_on: NotifyOn = "always",
) -> dict[str, Any]:
    """Isolate the devices of an incident or alert, with an approval step and safety rails.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``.
        incident_id: a Defender XDR incident; its alerts' devices are contained.
        alert_id: an MDE alert; its machine is contained.
        machine_ids: more machines to contain.
        tenant_id: for a partner block, the customer tenant.
        isolation_type: Full or Selective (the form can change it).
        approval: auto-approve severities, tags that always need the form, timeout.
        safety: dry run, caps, protected tags/groups, kill switch variable.
        run_key: idempotency key; default: derived from the inputs and the day, so a re-run
            after a crash never acts twice on a machine (pass a new key to act again today).
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).

    Returns a summary with one outcome per device.

    Example:
        ```python
        from prefect_defender.flows.contain import contain_device

        contain_device(credentials="defender-application-credentials/soc", incident_id=1001)
        ```
    """
    log = task_logger()
    approval = approval or ApprovalPolicy()
    safety = safety or SafetyPolicy()
    incident_id = check_incident_id(incident_id) if incident_id else None
    creds = await load_credentials(credentials)
    tenant = own_tenant(creds, tenant_id)
    incident = await get_incident(creds, incident_id, tenant_id) if incident_id else None
    ids: list[str] = list(incident.device_ids()) if incident else []
    if alert_id:
        alert = await get_alert(creds, alert_id, tenant_id)
        if alert.machine_id:
            ids.append(alert.machine_id)
    ids += check_machine_ids(machine_ids)
    ids = list(dict.fromkeys(i.lower() for i in ids))
    machines: list[Machine] = []
    async with defender_client(creds, tenant_id) as client:
        for mid in ids:
            machines.append(await client.machines.get(mid))
        link = lambda mid: client.portal_link("machine", mid)  # noqa: E731
        plan = plan_machine_actions(
            machines, ActionType.ISOLATE, safety, {"isolation_type": isolation_type}, link
        )
    summary: dict[str, Any] = {
        "incident_id": incident_id,
        "tenant_id": tenant,
        "devices": len(plan),
        "approved": False,
        "outcomes": [],
    }
    if not plan:
        await write_report(
            "defender-contain-device",
            "Contain device: nothing to do",
            ["No device found for the given incident/alert/machines."],
            [],
            COLUMNS,
        )
        return summary
    severity = incident.severity if incident else None
    never_auto = {t.lower() for t in approval.never_auto_tags}
    blocked_auto = [
        m.computer_dns_name for m in machines if never_auto & {t.lower() for t in m.machine_tags}
    ]
    auto = bool(severity and severity in approval.auto_approve_severities and not blocked_auto)
    chosen_type = isolation_type
    allow_protected = False
    if auto:
        verdict = f"auto-approved (severity {severity})"
        approver = "policy"
    else:
        proposal = markdown_table(
            [
                {
                    "device": p.computer_dns_name,
                    "action": f"Isolate ({isolation_type})",
                    "protected": p.protected or "",
                }
                for p in plan
            ],
            ["device", "action", "protected"],
        )
        title = f"incident {incident_id} ({severity})" if incident else "the listed devices"
        decision, verdict = await request_decision(
            f"## Approve containment of {title}?\n\n{proposal}\n\n"
            "Tick **approve** to isolate. Protected devices are only isolated with "
            "**include_protected**. No answer within the timeout means *do not act*.",
            approval,
            isolation_type=isolation_type,
        )
        if decision is None or not decision.approve:
            log.info("containment not approved: %s", verdict)
            summary["verdict"] = verdict
            await write_report(
                "defender-contain-device",
                "Contain device: not approved",
                [f"Incident: {incident_id}", f"Decision: {verdict}"],
                [
                    {
                        "machine": p.computer_dns_name,
                        "action": "Isolate",
                        "outcome": "not approved",
                        "final": "",
                        "action id": "",
                        "note": verdict,
                    }
                    for p in plan
                ],
                COLUMNS,
            )
            if comment_on_incident and incident_id and not safety.dry_run:
                await add_incident_comment(
                    creds, incident_id, f"Containment not performed: {verdict}.", tenant_id
                )
            return summary
        chosen_type = decision.isolation_type
        allow_protected = decision.include_protected
        approver = decision.approved_by or "analyst"
        for p in plan:
            p.options["isolation_type"] = chosen_type
    summary["approved"] = True
    summary["verdict"] = verdict
    guard = WriteGuard(safety)
    comment = f"prefect-defender contain-device (incident {incident_id}, approved by {approver})"
    key = run_key or run_key_for("contain", tenant, incident_id, alert_id, sorted(ids), chosen_type)
    outcomes = await apply_machine_actions(
        creds, plan, comment, guard, tenant_id, allow_protected, run_key=key
    )
    if not safety.dry_run:
        outcomes = await await_machine_actions(
            creds, outcomes, tenant_id, wait_timeout_seconds, poll_interval_seconds
        )
    rows = outcome_rows(plan, outcomes)
    summary["outcomes"] = [o.model_dump(mode="json") for o in outcomes]
    done = [r for r in rows if r["final"] == "Succeeded"]
    if comment_on_incident and incident_id and not safety.dry_run:
        text = "; ".join(
            f"{r['machine'].split(']')[0].lstrip('[')}: {r['outcome']} {r['final']}".strip()
            for r in rows
        )
        try:
            await add_incident_comment(
                creds,
                incident_id,
                f"Containment ({verdict}, {chosen_type}): {text}"[:3900],
                tenant_id,
            )
        except DefenderError as exc:
            log.warning("could not comment on incident %s: %s", incident_id, exc)
    await write_report(
        "defender-contain-device",
        f"Contain device: incident {incident_id}" if incident_id else "Contain device",
        [
            f"Tenant: {tenant}",
            f"Decision: {verdict}",
            f"Isolation: {chosen_type}",
            f"Dry run: {safety.dry_run}",
            f"Isolated: {len(done)}/{len(rows)}",
        ],
        rows,
        COLUMNS,
    )
    return summary
