"""Triage, block indicators, hunt and respond, MSSP fan-out, release and evidence end to end."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.block_indicators import block_indicators
from prefect_defender.flows.evidence import collect_evidence
from prefect_defender.flows.hunt_respond import hunt_and_respond
from prefect_defender.flows.mssp import mssp_fanout
from prefect_defender.flows.release import release_containment
from prefect_defender.flows.triage import TriageRules, triage_incident
from prefect_defender.tasks.safety import SafetyPolicy
from tests.client_count import count_clients
from tests.flows.conftest import (
    contained_incident,
    form_text,
    latest_artifact,
    resume,
    run_artifact,
    start,
    wait_event,
    wait_paused,
)

APP = "defender-application-credentials/playbooks"
PARTNER = "defender-partner-credentials/playbooks"


@pytest.fixture
def blocks(prefect_harness, conn: dict) -> dict[str, str]:
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        "playbooks", overwrite=True
    )
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=300.0
    ).save("playbooks", overwrite=True)
    return {"app": APP, "partner": PARTNER}


def _writes(stats: dict) -> list[dict]:
    return [r for r in stats["requests"] if r["method"] in ("POST", "PATCH", "DELETE")]


def test_triage_escalates_the_ransomware_incident(blocks, fast_actions, tenants, pool) -> None:
    out = start(
        pool,
        triage_incident,
        credentials=blocks["app"],
        incident_id=1001,
        rules=TriageRules(assign_to="tier2@contoso.example"),
    ).result(timeout=120)
    assert out["escalated"] and out["score"] >= 50
    assert any("known malware" in h for h in out["matched"])
    incident = next(
        i
        for i in fast_actions.admin.dump(tenants["contoso"], "incidents")
        if i["incidentId"] == 1001
    )
    assert "pd-triaged" in incident["tags"] and "pd-escalated" in incident["tags"]
    assert incident["assignedTo"] == "tier2@contoso.example"
    assert incident["classification"] == "TruePositive"
    assert incident["comments"][-1]["comment"].startswith("prefect-defender triage: Score")
    # the report renders: the summary is a list, the device and entity tables are blocks of
    # their own (a table inside a list item shows as text)
    md = asyncio.run(latest_artifact("defender-triage"))
    # an application block names its tenant by its tenant_name (from_emulator: the emulator's)
    assert "- Tenant: Contoso Ltd\n" in md
    devices = md.split("## Devices (")[1]
    assert "\n\n| device | tags | risk | health |\n|---|" in devices
    assert "\n## Entities (" in md and "\n\n| entity | outcome | detail |" in md
    assert "- | device" not in md and "- Devices:\n" not in md


def test_triage_names_a_partner_tenant_by_its_display_name(blocks, fast_actions, tenants, pool):
    start(
        pool,
        triage_incident,
        credentials=blocks["partner"],
        tenant_id=tenants["contoso"],
        incident_id=1002,
        dry_run=True,
    ).result(timeout=120)
    md = asyncio.run(latest_artifact("defender-triage"))
    tenant_line = next(ln for ln in md.splitlines() if ln.startswith("- Tenant: "))
    assert tenants["contoso"] not in tenant_line and "contoso" in tenant_line.lower()


def test_triage_dry_run_writes_nothing(blocks, fast_actions, pool) -> None:
    fast_actions.admin.reset_stats()
    out = start(
        pool, triage_incident, credentials=blocks["app"], incident_id=1002, dry_run=True
    ).result(timeout=120)
    assert "update" in out
    assert _writes(fast_actions.admin.stats()) == []


def test_block_indicators_from_list_and_incident(blocks, fast_actions, tenants, pool) -> None:
    rows = start(
        pool,
        block_indicators,
        credentials=blocks["app"],
        incident_id=1001,
        indicators=[
            {
                "value": "198.51.100.77",
                "type": "IpAddress",
                "title": "scanner",
                "description": "IR-12",
            },
            {"value": "not-a-hash", "type": "FileSha256", "title": "bad", "description": "x"},
        ],
    ).result(timeout=120)
    by_item = {r["item"]: r["status"] for r in rows}
    assert by_item["IpAddress:198.51.100.77"] == "succeeded"
    assert any(k.startswith("[1]") and v == "failed" for k, v in by_item.items())
    assert by_item["IpAddress:203.0.113.66"] == "succeeded"  # from the incident's entities
    stored = {
        i["indicatorValue"]: i for i in fast_actions.admin.dump(tenants["contoso"], "indicators")
    }
    assert stored["198.51.100.77"]["title"].startswith("prefect-defender:")
    assert stored["203.0.113.66"]["expirationTime"]


def test_block_indicators_for_every_partner_tenant(blocks, fast_actions, tenants, pool) -> None:
    rows = start(
        pool,
        block_indicators,
        credentials=blocks["partner"],
        indicators=[
            {
                "value": "evil-baseline.example",
                "type": "DomainName",
                "title": "baseline",
                "description": "MSSP baseline",
            }
        ],
    ).result(timeout=120)
    status = {r["tenant_id"]: r["status"] for r in rows}
    assert status[tenants["contoso"]] == status[tenants["fabrikam"]] == "succeeded"
    assert status[tenants["northwind"]] == "failed"  # no consent: reported, not fatal


def test_block_indicators_one_client_per_tenant(
    blocks, fast_actions, tenants, pool, monkeypatch
) -> None:
    """One tenant scope per customer: the incident is read and the indicators imported on one
    client per tenant, built by the flow (before: one per task, 4 for 3 tenants)."""
    built = count_clients(monkeypatch)
    rows = start(
        pool,
        block_indicators,
        credentials=blocks["partner"],
        incident_id=1001,
        incident_tenant_id=tenants["contoso"],
        indicators=[
            {
                "value": "one-client.example",
                "type": "DomainName",
                "title": "clients",
                "description": "one scope per tenant",
            }
        ],
    ).result(timeout=120)
    status = {(r["tenant_id"], r["item"]): r["status"] for r in rows}
    assert status[(tenants["contoso"], "IpAddress:203.0.113.66")] == "succeeded"  # incident's
    assert status[(tenants["fabrikam"], "DomainName:one-client.example")] == "succeeded"
    assert status[(tenants["northwind"], "DomainName:one-client.example")] == "failed"
    assert built == [(tenants[n], "flow") for n in ("contoso", "fabrikam", "northwind")]


def test_hunt_and_respond_scans_the_chosen_devices(blocks, fast_actions, tenants, pool) -> None:
    """The form says why (the hunt) and what the hunt saw on each device; the operator leaves
    the first device out; the report and the decided event carry who, when and why."""
    fut = start(
        pool,
        hunt_and_respond,
        credentials=blocks["app"],
        ioc_kind="ip",
        ioc_values=["203.0.113.66"],
        response="scan",
        poll_interval_seconds=0.05,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-hunt-and-respond", set())
    form = form_text(run.id).replace("<wbr>", "")
    assert "## Approve antivirus scan of " in form and "devices that saw ip 203.0.113.66?" in form
    assert "**Why:** an IOC hunt for ip 203.0.113.66 over the last 7 days found it on" in form
    assert re.search(r"- Why: saw ip 203\.0\.113\.66: \d+ events?, (at )?\d{4}-\d\d-\d\d", form)
    assert "**Tenant:** Contoso Ltd" in form and "|" not in form
    resume(run.id, approve=True, device_1=False, approved_by="dana", comment="ws-1 is a honeypot")
    out = fut.result(timeout=120)
    assert len(out["matches"]) >= 3
    statuses = [o["status"] for o in out["outcomes"]]
    assert statuses == ["skipped"] + ["succeeded"] * (len(out["matches"]) - 1)
    assert out["outcomes"][0]["reason"] == "left out by the operator"
    scanned = {
        a["machineId"]
        for a in fast_actions.admin.dump(tenants["contoso"], "machineActions")
        if a["type"] == "RunAntiVirusScan" and "hunt-and-respond" in a["requestorComment"]
    }
    first = out["outcomes"][0]["item"]
    assert first not in scanned and len(scanned) >= len(out["matches"]) - 1
    md = asyncio.run(run_artifact(run.id, "defender-hunt-and-respond"))
    assert "- Approver's name: dana (typed in the form, self-declared)" in md
    assert "- Operator comment: ws-1 is a honeypot" in md
    assert "- Left out by the operator: " in md and "- Tenant: Contoso Ltd" in md
    event = wait_event("defender.approval.decided", f"defender.approval.{run.id}")
    assert event.payload["comment"] == "ws-1 is a honeypot" and len(event.payload["left_out"]) == 1


def test_mssp_fanout_reports_the_failing_tenant(blocks, fast_actions, tenants, pool) -> None:
    rows = start(
        pool,
        mssp_fanout,
        credentials=blocks["partner"],
        query='DeviceNetworkEvents | where RemoteIP == "203.0.113.66"',
        indicator_baseline=[
            {
                "value": "c2-baseline.example",
                "type": "DomainName",
                "action": "Block",
                "title": "baseline",
                "description": "x",
            }
        ],
    ).result(timeout=120)
    by = {r["tenant_id"]: r for r in rows}
    assert by[tenants["contoso"]]["status"] == "ok" and by[tenants["contoso"]]["rows"] >= 3
    assert by[tenants["fabrikam"]]["status"] == "ok"
    assert by[tenants["northwind"]]["status"] == "failed"
    assert "Consent" in by[tenants["northwind"]]["error"]
    # the report: failures first with the whole error and the consent link, then what each
    # tenant's query named (devices with portal links), under the tenants' display names
    contoso = by[tenants["contoso"]]
    assert contoso["devices_found"] >= 1 and contoso["devices"][0]["link"].startswith("https://")
    md = asyncio.run(latest_artifact("defender-mssp-fanout"))
    failures = md.split("## Not done (1)")[1].split("\n## ")[0]  # first, before the table
    northwind = by[tenants["northwind"]]
    assert failures.lstrip().startswith(f"- **{northwind['tenant']}** ({tenants['northwind']})")
    assert ", failed: ConsentRequiredError: " in failures
    assert "  - Consent link: [grant admin consent](https://" in failures
    assert "adminconsent" in failures and northwind["consent_link"] in failures
    table = [ln for ln in md.split("## Tenants")[1].splitlines() if ln.startswith("| ")][1:]
    assert [ln.split(" | ")[0][2:] for ln in table] == sorted(r["tenant"] for r in rows)
    assert "## Found per tenant" in md
    assert f"### {contoso['tenant']}: {contoso['devices_found']} device" in md
    device = contoso["devices"][0]
    assert f"[{device['name']}]({device['link']})" in md
    assert contoso["tenant"] != tenants["contoso"]  # a display name, not the GUID


def test_mssp_fanout_one_client_per_tenant(
    blocks, fast_actions, tenants, pool, monkeypatch
) -> None:
    """One tenant scope per customer: the query and the baseline share one client per tenant,
    built by the flow (before: each tenant's task built its own from the block)."""
    built = count_clients(monkeypatch)
    rows = start(
        pool,
        mssp_fanout,
        credentials=blocks["partner"],
        query="DeviceInfo | take 5",
        indicator_baseline=[
            {
                "value": "one-client-baseline.example",
                "type": "DomainName",
                "action": "Block",
                "title": "baseline",
                "description": "x",
            }
        ],
    ).result(timeout=120)
    assert sorted(r["status"] for r in rows) == ["failed", "ok", "ok"]
    expected = [(tenants[n], "flow") for n in ("contoso", "fabrikam", "northwind")]
    assert sorted(built) == sorted(expected)


def test_release_of_the_chosen_rows_is_heard(blocks, fast_actions, tenants, conn, pool) -> None:
    """The release form says what each row undoes (isolated since when, by whom, why; what an
    indicator blocks); the operator keeps one device and one indicator; the incident comment,
    the report and the decided event carry who, when and why."""
    tid = tenants["contoso"]
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0)
    ws = [
        m
        for m in fast_actions.admin.dump(tid, "machines")
        if "-ws-" in m["computerDnsName"] and m["isolationState"] == "NotIsolated"
    ][20:22]
    iid = contained_incident(fast_actions, tid, creds, ws)
    fut = start(
        pool,
        release_containment,
        credentials=blocks["app"],
        incident_id=iid,
        poll_interval_seconds=0.05,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-release", set())
    assert run.name == f"release incident {iid}"  # not a random name in the runs list
    form = form_text(run.id).replace("<wbr>", "")
    assert f"## Approve release of incident {iid} (High)?" in form
    assert re.search(r"status Resolved · classified [Ff]alse ?[Pp]ositive", form)
    assert "**Why:** this run was started to undo the containment: lift isolation" in form
    assert "not triaged" not in form and "|" not in form
    for n, m in enumerate(ws, 1):
        assert f"#### Device {n}: {m['computerDnsName']}" in form
    assert re.search(
        r"- Why: isolated \(Selective\) since \d{4}-\d\d-\d\d \d\d:\d\d UTC by an application: "
        rf'"prefect-defender contain-device \(incident {iid}, approved by alice\)"$',
        form,
        re.M,
    ), form
    assert f"#### Indicator 1: DomainName release-{iid}-1.example" in form
    assert "- Now: Block; expires" in form
    assert "**Blast radius:** 2 devices and 2 indicators: 4 write actions" in form
    resume(
        run.id,
        approve=True,
        device_2=False,
        indicator_1=False,
        approved_by="erin",
        comment="clean after the scan",
    )
    out = fut.result(timeout=120)
    assert out["approved"]
    assert [o["status"] for o in out["outcomes"]] == ["succeeded", "skipped"]
    unisolated = {
        a["machineId"]
        for a in fast_actions.admin.dump(tid, "machineActions")
        if a["type"] == "Unisolate" and a["machineId"] in {m["id"] for m in ws}
    }
    assert unisolated == {ws[0]["id"]}
    remaining = sorted(
        i["indicatorValue"]
        for i in fast_actions.admin.dump(tid, "indicators")
        if i["title"].startswith(f"prefect-defender: incident {iid} ")
    )
    assert remaining == [f"release-{iid}-1.example"]  # the one kept
    incident = next(i for i in fast_actions.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    comment = incident["comments"][-1]["comment"]
    assert comment.startswith("Release approved by erin at ") and "self-declared" in comment
    assert 'comment: "clean after the scan"' in comment
    assert f"left out: {ws[1]['computerDnsName']}, DomainName release-{iid}-1.example" in comment
    md = asyncio.run(run_artifact(run.id, "defender-release"))
    assert "- Operator comment: clean after the scan" in md
    assert "- Approver's name: erin (typed in the form, self-declared)" in md
    assert "- Indicators removed: 1/2" in md
    # every row of the form ends with an outcome, the ones switched off too
    assert [o["status"] for o in out["indicators_deleted"]] == ["skipped", "succeeded"]
    assert (
        f"| DomainName release-{iid}-1.example | delete indicator | skipped |  |  | "
        "left out by the operator |" in md
    )
    event = wait_event("defender.approval.decided", f"defender.approval.{run.id}")
    assert event.payload["approved_by"] == "erin"
    assert event.payload["left_out"] == [
        ws[1]["computerDnsName"],
        f"DomainName release-{iid}-1.example",
    ]


def test_release_with_nothing_to_undo_asks_nobody(blocks, fast_actions, tenants, pool) -> None:
    """An incident without devices, accounts or playbook indicators: no form, a report that
    says so."""
    (incident,) = fast_actions.admin.upsert_incidents(
        tenants["contoso"], [{"incidentName": "Nothing contained", "severity": "Low"}]
    )
    out = start(
        pool,
        release_containment,
        credentials=blocks["app"],
        incident_id=int(incident["incidentId"]),
        release_accounts=True,
        approval=ApprovalPolicy(timeout_seconds=60, poll_interval_seconds=1),
    ).result(timeout=120)
    assert out == {
        "tenant_id": tenants["contoso"],
        "approved": False,
        "verdict": "nothing to release",
    }
    md = asyncio.run(latest_artifact("defender-release"))
    assert "No device, playbook indicator or account to release: nothing was asked." in md


def test_collect_evidence_to_a_folder(blocks, fast_actions, pool, tmp_path: Path) -> None:
    records = start(
        pool,
        collect_evidence,
        credentials=blocks["app"],
        incident_id=1001,
        destination=str(tmp_path),
        poll_interval_seconds=0.05,
    ).result(timeout=120)
    assert records and all(r["location"] for r in records)
    for r in records:
        assert Path(r["location"]).read_bytes()[:2] == b"PK" and r["bytes"] > 0


def test_collect_evidence_dry_run_sends_no_write(blocks, fast_actions, pool) -> None:
    fast_actions.admin.reset_stats()
    records = start(
        pool,
        collect_evidence,
        credentials=blocks["app"],
        incident_id=1001,
        safety=SafetyPolicy(dry_run=True),
    ).result(timeout=120)
    assert records and not any(r["location"] for r in records)
    assert _writes(fast_actions.admin.stats()) == []
