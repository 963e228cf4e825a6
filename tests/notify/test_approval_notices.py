"""Told that a decision waits: contain-device on the Prefect harness against the emulator,
its approval messages delivered through Prefect's Custom Webhook block to a local receiver.

One message per decision (two devices, one message), with the run link, the incident, what
will be done and the deadline; a reminder before the deadline; on timeout the timeout message,
the escalation to the second channel, and the incident told.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.contain import contain_device
from tests.flows.conftest import resume, run_artifact, start, wait_paused
from tests.notify.servers import Receiver
from tests.notify.test_notify import SECRET, run_id_of, save_webhook


def _incident(emulator: Any, tid: str, n: int, tag: str) -> tuple[int, list[dict[str, Any]]]:
    machines = [
        m
        for m in emulator.admin.dump(tid, "machines")
        if "-ws-" in m["computerDnsName"] and m["isolationState"] == "NotIsolated"
    ][40 : 40 + n]
    (incident,) = emulator.admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": f"Approval notice test {tag}",
                "severity": "High",
                "status": "Active",
                "alerts": [
                    {
                        "id": f"da_notice_{tag}_{i}",
                        "machineId": m["id"],
                        "severity": "High",
                        "title": "Suspicious PowerShell",
                        "computerDnsName": m["computerDnsName"],
                        "entities": [],
                    }
                    for i, m in enumerate(machines)
                ],
            }
        ],
    )
    return int(incident["incidentId"]), machines


def _texts(rx: Receiver, prefix: str) -> list[dict[str, str]]:
    return [r.json() for r in rx.received if r.path.startswith(prefix)]


def test_waiting_reminder_timeout_and_escalation(creds, rx, emulator, tenants) -> None:
    tid = tenants["contoso"]
    iid, machines = _incident(emulator, tid, 2, "timeout")
    soc = save_webhook("approvals", rx, path="/soc")
    oncall = save_webhook("oncall", rx, path="/oncall")
    summary = start(
        None,
        contain_device,
        credentials=creds["app"],
        incident_id=iid,
        approval=ApprovalPolicy(
            timeout_seconds=12,
            remind_before_seconds=8,
            poll_interval_seconds=1,
            notify=[soc],
            on_timeout="escalate",
            escalate_to=[oncall],
        ),
    ).result(timeout=180)
    assert summary["approved"] is False
    assert (
        summary["verdict"] == f"no answer within 12s (default: do not act); escalated to {oncall}"
    )
    to_soc = _texts(rx, "/soc/")
    # one message per decision (two devices), in order: waiting, reminder, timeout
    assert [m["subject"].split(" by ")[0] for m in to_soc] == [
        "[prefect-defender] Approval needed",
        "[prefect-defender] Reminder: approval needed",
        "[prefect-defender] No decision",
    ], to_soc
    waiting = to_soc[0]["text"]
    assert "Approval needed by " in waiting and f"containment of incident {iid} (High)" in waiting
    assert "Incident: Approval notice test timeout (High)" in waiting
    assert "To do: isolate (Selective) on 2 devices" in waiting
    assert all(m["computerDnsName"] in waiting for m in machines)
    assert "Deadline: " in waiting and " UTC (no answer by then: nothing is done)" in waiting
    run_id = run_id_of(waiting)  # the direct link to the paused run
    assert "Approve or reject: http" in waiting
    assert "Outcome: nothing was done" in to_soc[2]["text"] and oncall in to_soc[2]["text"]
    (escalated,) = _texts(rx, "/oncall/")
    assert escalated["subject"].startswith("[prefect-defender] ESCALATION: no decision by ")
    assert str(run_id) in escalated["text"]
    # the incident is told, and the deliveries are recorded (never the webhook's secret)
    stored = next(i for i in emulator.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    note = stored["comments"][-1]["comment"]
    assert note.startswith("Containment not performed: no answer within 12s")
    assert f"escalated to {oncall}" in note
    record = asyncio.run(run_artifact(run_id, "defender-approval-notifications"))
    for kind in ("waiting", "reminder", "timeout"):
        assert f"| {soc} ({kind}) | sent |" in record
    assert f"| {oncall} (escalation) | sent |" in record and SECRET not in record


def test_an_answer_stops_the_reminder_and_the_outcome_message_carries_it(
    creds, rx, emulator, tenants
) -> None:
    tid = tenants["contoso"]
    emulator.admin.patch_config(time_scale=300.0, action_outcomes={})
    try:
        iid, _ = _incident(emulator, tid, 1, "answered")
        soc = save_webhook("approvals", rx, path="/soc")
        fut = start(
            None,
            contain_device,
            credentials=creds["app"],
            incident_id=iid,
            notify=[soc],  # the playbook's own blocks hear about the approval too
            poll_interval_seconds=0.05,
            approval=ApprovalPolicy(
                timeout_seconds=120, remind_before_seconds=110, poll_interval_seconds=1
            ),
        )
        run = wait_paused("defender-contain-device", set())
        resume(run.id, approve=True, approved_by="grace", comment="confirmed C2 beacon")
        summary = fut.result(timeout=180)
    finally:
        emulator.admin.patch_config(time_scale=1.0)
    assert summary["approved"] is True
    to_soc = _texts(rx, "/soc/")
    assert len(to_soc) == 2, to_soc  # the waiting message and the run's outcome, no reminder
    assert to_soc[0]["subject"].startswith("[prefect-defender] Approval needed by ")
    outcome = to_soc[1]["text"]
    assert "Decision: approved by grace at " in outcome
    assert "Operator comment: confirmed C2 beacon" in outcome
    assert "Approver's name: grace (typed in the form, self-declared)" in outcome
