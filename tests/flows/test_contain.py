"""Contain-device end to end: approval approve/reject/timeout, auto-approve, safety rails."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.variables import Variable

from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.contain import contain_device
from prefect_defender.tasks.safety import HOURLY_LIMIT_PREFIX, SafetyPolicy
from tests.flows.conftest import (
    form_text,
    latest_artifact,
    resume,
    run_artifact,
    start,
    wait_event,
    wait_paused,
)

BLOCK = "defender-application-credentials/contain-tests"


@pytest.fixture
def saved_block(prefect_harness, conn: dict) -> str:
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        "contain-tests", overwrite=True
    )
    return BLOCK


def isolations(emu: Any, tenant: str) -> list[dict]:
    return [a for a in emu.admin.dump(tenant, "machineActions") if a["type"] == "Isolate"]


def new_incident(emu: Any, tenant: str, machine_ids: list[str], severity: str = "High") -> int:
    incidents = emu.admin.upsert_incidents(
        tenant,
        [
            {
                "incidentName": "test containment",
                "severity": severity,
                "status": "Active",
                "alerts": [
                    {
                        "id": f"da_test_{m[:8]}_{severity}",
                        "machineId": m,
                        "severity": severity,
                        "computerDnsName": m,
                        "title": "t",
                        "entities": [],
                    }
                    for m in machine_ids
                ],
            }
        ],
    )
    return int(incidents[0]["incidentId"])


def workstations(emu: Any, tenant: str) -> list[dict]:
    return [m for m in emu.admin.dump(tenant, "machines") if "-ws-" in m["computerDnsName"]]


def test_approve_isolates_and_comments(saved_block, fast_actions, tenants, pool) -> None:
    tid = tenants["contoso"]
    ws = workstations(fast_actions, tid)[20:22]
    iid = new_incident(fast_actions, tid, [m["id"] for m in ws])
    before = len(isolations(fast_actions, tid))
    fut = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        poll_interval_seconds=0.05,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-device", set())
    resume(
        run.id,
        approve=True,
        isolation_type="Full",
        approved_by="alice",
        comment="go  (change\nCHG-7)",
    )
    summary = fut.result(timeout=120)
    assert summary["approved"] is True and summary["verdict"] == "approved by alice"
    assert [o["result"]["final_status"] for o in summary["outcomes"]] == ["Succeeded"] * 2
    new = isolations(fast_actions, tid)[before:]
    assert sorted(a["machineId"] for a in new) == sorted(m["id"] for m in ws)
    assert {a["scope"] for a in new} == {"Full"}
    incident = next(i for i in fast_actions.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    comment = incident["comments"][-1]["comment"]
    assert comment.startswith("Containment (Full) approved by alice at ")
    assert "(name typed in the form, self-declared)" in comment
    assert 'comment: "go (change CHG-7)"' in comment
    assert "resumed by (Prefect): not known" in comment  # open-source Prefect: no actor
    # the operator's comment, name and time in the report and in the event too
    report = asyncio.run(run_artifact(run.id, "defender-contain-device"))
    assert "- Operator comment: go (change CHG-7)" in report
    assert "- Approver's name: alice (typed in the form, self-declared)" in report
    assert re.search(r"- Decision: approved by alice at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", report)
    event = wait_event("defender.approval.decided", f"defender.approval.{run.id}")
    assert event.payload["comment"] == "go (change CHG-7)"
    assert event.payload["approved_by"] == "alice" and event.payload["decision"] == "approved"
    assert event.payload["approved_by_is_self_declared"] is True
    assert event.resource["defender.incident.id"] == str(iid)
    assert event.payload["decided_at"].startswith(comment.split(" at ")[1][:10])


def test_the_operator_approves_some_devices_and_not_others(
    saved_block, fast_actions, tenants, pool
) -> None:
    tid = tenants["contoso"]
    ws = workstations(fast_actions, tid)[35:38]
    iid = new_incident(fast_actions, tid, [m["id"] for m in ws])
    before = len(isolations(fast_actions, tid))
    fut = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        poll_interval_seconds=0.05,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-device", set())
    resume(run.id, approve=True, approved_by="dave", device_1=False, device_3=False)
    summary = fut.result(timeout=120)
    assert [o["status"] for o in summary["outcomes"]] == ["skipped", "succeeded", "skipped"]
    assert summary["outcomes"][0]["reason"] == "left out by the operator"
    new = isolations(fast_actions, tid)[before:]
    assert [a["machineId"] for a in new] == [ws[1]["id"]]  # the chosen row only
    report = asyncio.run(run_artifact(run.id, "defender-contain-device"))
    names = f"{ws[0]['computerDnsName']}, {ws[2]['computerDnsName']}"
    assert f"- Left out by the operator: {names}" in report
    event = wait_event("defender.approval.decided", f"defender.approval.{run.id}")
    assert event.payload["left_out"] == [ws[0]["computerDnsName"], ws[2]["computerDnsName"]]


def test_reject_and_timeout_do_nothing(saved_block, fast_actions, tenants, pool) -> None:
    tid = tenants["contoso"]
    ws = workstations(fast_actions, tid)[23:24]
    iid = new_incident(fast_actions, tid, [ws[0]["id"]])
    before = len(isolations(fast_actions, tid))
    fut = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-device", set())
    resume(run.id, approve=False, approved_by="bob")
    summary = fut.result(timeout=120)
    assert summary["approved"] is False and summary["verdict"] == "rejected by bob"
    fut = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        approval=ApprovalPolicy(timeout_seconds=2, poll_interval_seconds=1),
    )
    summary = fut.result(timeout=120)
    assert summary["approved"] is False and "no answer" in summary["verdict"]
    assert len(isolations(fast_actions, tid)) == before  # nothing was isolated
    incident = next(i for i in fast_actions.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    rejected, timed_out = (c["comment"] for c in incident["comments"][-2:])
    assert rejected.startswith("Containment not performed: rejected by bob at ")
    assert timed_out.startswith("Containment not performed: no answer within 2s")


def test_auto_approve_but_never_a_domain_controller(saved_block, fast_actions, tenants, pool):
    tid = tenants["contoso"]
    machines = fast_actions.admin.dump(tid, "machines")
    ws = workstations(fast_actions, tid)[24]
    iid = new_incident(fast_actions, tid, [ws["id"]])
    policy = ApprovalPolicy(auto_approve_severities=["High"])
    summary = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        approval=policy,
        poll_interval_seconds=0.05,
    ).result(timeout=120)
    assert summary["verdict"] == "auto-approved (severity High)"
    assert summary["outcomes"][0]["result"]["final_status"] == "Succeeded"
    dc = next(m for m in machines if "DomainController" in m["machineTags"])
    iid2 = new_incident(fast_actions, tid, [dc["id"]])
    before = len(isolations(fast_actions, tid))
    fut = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid2,
        approval=ApprovalPolicy(auto_approve_severities=["High"], poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-device", set())  # the DC forces the form
    resume(run.id, approve=True, approved_by="carol")  # but not include_protected
    summary = fut.result(timeout=120)
    assert summary["outcomes"][0]["status"] == "skipped"
    assert "protected tag" in summary["outcomes"][0]["reason"]
    assert len(isolations(fast_actions, tid)) == before


def test_dry_run_and_kill_switch(saved_block, fast_actions, tenants, pool) -> None:
    tid = tenants["contoso"]
    ws = workstations(fast_actions, tid)[25:27]
    iid = new_incident(fast_actions, tid, [m["id"] for m in ws])
    before = len(isolations(fast_actions, tid))
    auto = ApprovalPolicy(auto_approve_severities=["High"])
    fresh_stats = fast_actions.admin
    fresh_stats.reset_stats()
    summary = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        approval=auto,
        safety=SafetyPolicy(dry_run=True),
    ).result(timeout=120)
    assert [o["status"] for o in summary["outcomes"]] == ["dry_run", "dry_run"]
    writes = [
        r for r in fresh_stats.stats()["requests"] if r["method"] in ("POST", "PATCH", "DELETE")
    ]
    assert writes == []  # not a single write request in dry-run mode
    Variable.set("defender_automation_halted", True, overwrite=True)
    try:
        summary = start(
            pool, contain_device, credentials=saved_block, incident_id=iid, approval=auto
        ).result(timeout=120)
    finally:
        Variable.set("defender_automation_halted", False, overwrite=True)
    assert {o["status"] for o in summary["outcomes"]} == {"skipped"}
    assert "halted" in summary["outcomes"][0]["reason"]
    assert len(isolations(fast_actions, tid)) == before


def test_per_run_cap(saved_block, fast_actions, tenants, pool) -> None:
    tid = tenants["contoso"]
    ws = workstations(fast_actions, tid)[27:30]
    iid = new_incident(fast_actions, tid, [m["id"] for m in ws])
    summary = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        approval=ApprovalPolicy(auto_approve_severities=["High"]),
        safety=SafetyPolicy(max_actions_per_run=2),
        poll_interval_seconds=0.05,
    ).result(timeout=120)
    statuses = sorted(o["status"] for o in summary["outcomes"])
    assert statuses == ["skipped", "succeeded", "succeeded"]
    skipped = next(o for o in summary["outcomes"] if o["status"] == "skipped")
    assert "per-run cap" in skipped["reason"]


def test_one_client_for_the_whole_run(saved_block, fast_actions, tenants, pool, monkeypatch):
    """The run's tenant scope builds one client (one connection pool) for every task: the
    incident, the machines, the isolations, the wait and the comment (six before)."""
    from prefect_defender.api.client import DefenderClient

    built: list[str] = []
    original = DefenderClient.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        built.append(self.tenant_id)

    monkeypatch.setattr(DefenderClient, "__init__", counting)
    tid = tenants["contoso"]
    ws = workstations(fast_actions, tid)[33:35]
    summary = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=new_incident(fast_actions, tid, [m["id"] for m in ws]),
        approval=ApprovalPolicy(auto_approve_severities=["High"]),
        poll_interval_seconds=0.05,
    ).result(timeout=120)
    assert sorted(o["status"] for o in summary["outcomes"]) == ["succeeded", "succeeded"]
    assert built == [tid]


async def test_report_artifact_has_portal_links(saved_block, fast_actions, tenants) -> None:
    md = await latest_artifact("defender-contain-device")
    assert "https://security.microsoft.com/machines/" in md
    assert "| machine | action | outcome |" in md


def test_hourly_cap_holds_across_runs(saved_block, fast_actions, tenants, pool) -> None:
    import asyncio
    import contextlib

    tid = tenants["contoso"]

    async def reset() -> None:
        async with get_client() as client:
            with contextlib.suppress(Exception):  # absent on the first run
                await client.delete_global_concurrency_limit_by_name(f"{HOURLY_LIMIT_PREFIX}{tid}")

    asyncio.run(reset())
    ws = workstations(fast_actions, tid)[30:33]
    auto = ApprovalPolicy(auto_approve_severities=["High"])
    policy = SafetyPolicy(max_actions_per_hour=2)
    first = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=new_incident(fast_actions, tid, [ws[0]["id"], ws[1]["id"]]),
        approval=auto,
        safety=policy,
        poll_interval_seconds=0.05,
    ).result(timeout=120)
    assert [o["status"] for o in first["outcomes"]] == ["succeeded", "succeeded"]
    second = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=new_incident(fast_actions, tid, [ws[2]["id"]]),
        approval=auto,
        safety=policy,
        poll_interval_seconds=0.05,
    ).result(timeout=120)
    assert second["outcomes"][0]["status"] == "skipped"
    assert "hourly cap of 2" in second["outcomes"][0]["reason"]
    asyncio.run(reset())


def _triage(saved_block: str, iid: int) -> Any:
    """Start triaging the incident without writing to it (no comment: only the triaged
    event); the future of its summary."""
    from prefect_defender.flows.triage import triage_incident

    return start(None, triage_incident, credentials=saved_block, incident_id=iid, dry_run=True)


def test_the_form_shows_a_triage_that_finishes_while_it_waits(
    saved_block, fast_actions, tenants
) -> None:
    """Triage and containment start from the same event: the containment asks first (no wait:
    triage_wait_seconds=0), triage reports later, and the paused form is rewritten with its
    score (a dry-run triage writes no comment: the event is the only way it can know)."""
    tid = tenants["contoso"]
    iid = new_incident(fast_actions, tid, [m["id"] for m in workstations(fast_actions, tid)[38:40]])
    fut = start(
        None,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        approval=ApprovalPolicy(poll_interval_seconds=1, triage_wait_seconds=0),
    )
    run = wait_paused("defender-contain-device", set())
    assert "**Why:** not triaged yet (its score shows here when triage reports it)" in form_text(
        run.id
    )
    from prefect_defender.flows.triage_watch import triage_running

    triaging = _triage(saved_block, iid)
    # a triage of this incident under way is seen as such (what makes a form wait for it)
    deadline = time.monotonic() + 120
    while not asyncio.run(triage_running(tid, iid)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert asyncio.run(triage_running(tid, iid))
    assert triaging.result(timeout=180)["status"] == "dry_run"
    deadline = time.monotonic() + 120
    while "triage score" not in (text := form_text(run.id)) and time.monotonic() < deadline:
        time.sleep(1)
    assert re.search(r"\*\*Why:\*\* triage score \d+: high severity \(\+40\)", text), text
    assert "not triaged" not in text
    resume(run.id, approve=False, approved_by="bob")
    assert fut.result(timeout=120)["verdict"] == "rejected by bob"


def test_the_form_shows_a_triage_that_ran_before_it(saved_block, fast_actions, tenants) -> None:
    """Triage ran (a dry run: no comment on the incident) before the containment asked: the
    form and the waiting message show its score, not the default rules'."""
    from prefect_defender.flows.triage_watch import triage_running

    tid = tenants["contoso"]
    iid = new_incident(fast_actions, tid, [m["id"] for m in workstations(fast_actions, tid)[40:41]])
    assert _triage(saved_block, iid).result(timeout=180)["status"] == "dry_run"
    assert asyncio.run(triage_running(tid, iid + 1000)) is False  # no triage of another one
    fut = start(
        None,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-device", set())
    # the triaged event is stored a few seconds after triage ends (the server persists events in
    # batches): the form has the score when it asks, or gets it while it waits
    deadline = time.monotonic() + 120
    while "triage score" not in (text := form_text(run.id)) and time.monotonic() < deadline:
        time.sleep(1)
    assert re.search(r"\*\*Why:\*\* triage score \d+: high severity", text), text
    resume(run.id, approve=False)
    assert fut.result(timeout=120)["approved"] is False


def test_a_machine_id_is_checked_once_on_its_way_to_the_request(
    saved_block, fast_actions, tenants, pool, monkeypatch
) -> None:
    """The id given to the playbook is checked on entry and carried as checked (a
    ``CheckedMachineId``) through planning, the safety rails, the fan-out and the client's
    request: a machine id pattern runs once for it, although the incident names it too, and
    the Isolate body is validated once."""
    from prefect_defender.api.resources.machines import check_machine_ref
    from prefect_defender.api.validation import check_machine_id
    from prefect_defender.tasks import action_fan_out, action_plans

    tid = tenants["contoso"]
    ws = workstations(fast_actions, tid)[41]
    iid = new_incident(fast_actions, tid, [ws["id"]])
    seen: list[str] = []
    bodies: list[Any] = []

    class Counting:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern = pattern

        def match(self, text: str) -> Any:
            if text.lower() == ws["id"].lower():
                seen.append(text)
            return self.pattern.match(text)

    def counted(action: Any, **options: Any) -> Any:
        bodies.append(action)
        return body_of(action, **options)

    body_of = action_plans.action_body
    for check in (check_machine_id, check_machine_ref):  # the modules holding an id pattern
        names = check.__globals__
        monkeypatch.setitem(names, "_MACHINE_ID", Counting(names["_MACHINE_ID"]))
    for module in (action_plans, action_fan_out):
        monkeypatch.setattr(module, "action_body", counted)
    summary = start(
        pool,
        contain_device,
        credentials=saved_block,
        incident_id=iid,
        machine_ids=[ws["id"].upper()],
        approval=ApprovalPolicy(auto_approve_severities=["High"]),
        poll_interval_seconds=0.05,
    ).result(timeout=120)
    assert summary["outcomes"][0]["result"]["final_status"] == "Succeeded"
    assert seen == [ws["id"].upper()]  # once, on entry
    assert len(bodies) == 1  # the Isolate body, once, when planned
