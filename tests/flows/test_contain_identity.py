"""Contain-identity end to end: approve, reject, auto-approve, protected accounts, dry run.

The flow runs on the Prefect test harness against the emulator over HTTPS; the approval is
given through Prefect's run input, as the UI does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError

from prefect_defender.api.errors import ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.contain_identity import contain_identity
from prefect_defender.flows.release import release_containment
from prefect_defender.tasks.identities import (
    confirm_users_compromised,
    get_entra_user,
    get_risky_user,
    invoke_identity_actions,
)
from prefect_defender.tasks.safety import SafetyPolicy
from tests.flows.conftest import resume, start, wait_paused

BLOCK = "defender-application-credentials/identity-tests"
DOMAIN = "contoso.example"


@pytest.fixture
def saved_block(prefect_harness: None, conn: dict) -> str:
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        "identity-tests", overwrite=True
    )
    return BLOCK


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


def incident_with_users(emu: Any, tenant: str, users: list[str], severity: str = "High") -> int:
    incidents = emu.admin.upsert_incidents(
        tenant,
        [
            {
                "incidentName": "compromised accounts",
                "severity": severity,
                "status": "Active",
                "alerts": [
                    {
                        "id": f"da_ident_{u.split('@')[0]}_{severity}",
                        "severity": severity,
                        "title": "Suspicious sign-in",
                        "entities": [
                            {
                                "entityType": "User",
                                "accountName": u.split("@")[0],
                                "userPrincipalName": u,
                            }
                        ],
                    }
                    for u in users
                ],
            }
        ],
    )
    return int(incidents[0]["incidentId"])


def _enabled(creds: Any, upn: str) -> bool | None:
    return asyncio.run(get_entra_user.fn(creds, upn)).account_enabled


def _oid(creds: Any, upn: str) -> str:
    return asyncio.run(get_entra_user.fn(creds, upn)).id


def test_approved_containment_disables_and_signs_out_then_comments(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    tid = tenants["contoso"]
    upns = [f"bwayne@{DOMAIN}", f"ckent@{DOMAIN}"]
    iid = incident_with_users(fresh, tid, upns)
    fut = start(
        None,
        contain_identity,
        credentials=saved_block,
        incident_id=iid,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-identity", set())
    resume(run.id, approve=True, approved_by="alice")
    summary = fut.result(timeout=120)
    assert summary["approved"] is True and summary["verdict"] == "approved by alice"
    got = {(o["item"], o["status"]) for o in summary["outcomes"]}
    assert got == {
        (f"{u} {a}", "succeeded") for u in upns for a in ("disable", "revokeAllSessions")
    }
    assert _enabled(creds, upns[0]) is False and _enabled(creds, upns[1]) is False
    log = fresh.admin.dump(tid, "identity_log")
    ckent = _oid(creds, upns[1])
    bwayne = {e["provider"] for e in log if e["action"] == "disable" and e["accountId"] != ckent}
    assert "activeDirectory" in bwayne  # the hybrid account's on-premises side too
    incident = next(i for i in fresh.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    assert incident["comments"][-1]["comment"].startswith("Identity containment approved by alice")
    asyncio.run(invoke_identity_actions.fn(creds, upns, ["enable"]))  # leave it as found


def test_the_operator_leaves_one_account_out(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    """Per-row choice: approve the decision with the second account switched off; only the
    first account is acted on, the second is recorded as left out."""
    tid = tenants["contoso"]
    upns = [f"ckent@{DOMAIN}", f"dprince@{DOMAIN}"]
    iid = incident_with_users(fresh, tid, upns)
    before = len(fresh.admin.dump(tid, "identity_log"))
    fut = start(
        None,
        contain_identity,
        credentials=saved_block,
        incident_id=iid,
        actions=["revokeAllSessions"],
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-identity", set())
    resume(run.id, approve=True, approved_by="frank", account_2=False, comment="only ckent")
    summary = fut.result(timeout=120)
    by = {o["item"]: o for o in summary["outcomes"]}
    assert by[f"{upns[0]} revokeAllSessions"]["status"] == "succeeded"
    assert by[f"{upns[1]} revokeAllSessions"]["status"] == "skipped"
    assert by[f"{upns[1]} revokeAllSessions"]["reason"] == "left out by the operator"
    acted = {e["accountId"] for e in fresh.admin.dump(tid, "identity_log")[before:]}
    assert acted == {_oid(creds, upns[0])}
    incident = next(i for i in fresh.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    comment = incident["comments"][-1]["comment"]
    assert f"left out: {upns[1]}" in comment and 'comment: "only ckent"' in comment


def test_rejected_or_unanswered_means_no_action(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    upn = f"dprince@{DOMAIN}"
    iid = incident_with_users(fresh, tenants["contoso"], [upn], severity="Medium")
    fut = start(
        None,
        contain_identity,
        credentials=saved_block,
        incident_id=iid,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-identity", set())
    resume(run.id, approve=False, approved_by="bob")
    summary = fut.result(timeout=120)
    assert summary["approved"] is False and summary["verdict"] == "rejected by bob"
    assert summary["outcomes"] == []
    assert _enabled(creds, upn) is True
    timed_out = asyncio.run(
        contain_identity(
            credentials=saved_block,
            users=[upn],
            approval=ApprovalPolicy(timeout_seconds=2, poll_interval_seconds=1),
        )
    )
    assert timed_out["approved"] is False and "no answer" in timed_out["verdict"]
    assert _enabled(creds, upn) is True


def test_break_glass_is_never_auto_contained_and_needs_the_explicit_tick(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    glass, normal = f"breakglass@{DOMAIN}", f"asmith@{DOMAIN}"
    iid = incident_with_users(fresh, tenants["contoso"], [glass, normal])
    fut = start(
        None,
        contain_identity,
        credentials=saved_block,
        incident_id=iid,
        actions=["revokeAllSessions"],
        # High is auto-approved, but a protected account forces the form
        approval=ApprovalPolicy(auto_approve_severities=["High"], poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-identity", set())
    resume(run.id, approve=True, approved_by="carol")  # without include_protected
    summary = fut.result(timeout=120)
    by = {o["item"]: o for o in summary["outcomes"]}
    assert by[f"{glass} revokeAllSessions"]["status"] == "skipped"
    assert "breakglass" in by[f"{glass} revokeAllSessions"]["reason"]
    assert by[f"{normal} revokeAllSessions"]["status"] == "succeeded"
    sent = {e["accountId"] for e in fresh.admin.dump(tenants["contoso"], "identity_log")}
    assert _oid(creds, glass) not in sent


def test_auto_approve_and_dry_run_send_nothing(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    upn = f"jdoe@{DOMAIN}"
    iid = incident_with_users(fresh, tenants["contoso"], [upn])
    fresh.admin.reset_stats()
    summary = asyncio.run(
        contain_identity(
            credentials=saved_block,
            incident_id=iid,
            approval=ApprovalPolicy(auto_approve_severities=["High"]),
            safety=SafetyPolicy(dry_run=True),
        )
    )
    assert summary["verdict"] == "auto-approved (severity High)"
    assert {o["status"] for o in summary["outcomes"]} == {"dry_run"}
    writes = [
        r
        for r in fresh.admin.stats()["requests"]
        if r["route"].startswith(("POST", "PATCH")) and "/v1.0/" in r["route"]
    ]
    assert writes == []
    assert _enabled(creds, upn) is True


def test_per_run_cap_records_the_rest_as_skipped(saved_block: str, fresh: Any) -> None:
    upns = [f"ckent@{DOMAIN}", f"dprince@{DOMAIN}"]
    cap = _capped(saved_block, upns)
    assert [o["status"] for o in cap["outcomes"]] == ["succeeded", "skipped"]
    assert "per-run cap" in cap["outcomes"][1]["reason"]


def _capped(block: str, upns: list[str]) -> dict[str, Any]:
    fut = start(
        None,
        contain_identity,
        credentials=block,
        users=upns,
        actions=["revokeAllSessions"],
        approval=ApprovalPolicy(poll_interval_seconds=1),
        safety=SafetyPolicy(max_actions_per_run=1),
    )
    run = wait_paused("defender-contain-identity", set())
    resume(run.id, approve=True)
    return dict(fut.result(timeout=120))


def test_bad_accounts_and_actions_are_refused_before_any_call(saved_block: str, fresh: Any) -> None:
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match=r"users\[0\]"):
        asyncio.run(contain_identity(credentials=saved_block, users=["jdoe"]))
    # an enum parameter: Prefect's own parameter validation refuses it before the run starts
    with pytest.raises(ParameterTypeError, match=r"actions\.0"):
        asyncio.run(
            contain_identity(credentials=saved_block, users=[f"jdoe@{DOMAIN}"], actions=["wipe"])
        )
    assert sum(r["count"] for r in fresh.admin.stats()["requests"]) == 0


def test_release_re_enables_the_incidents_accounts_and_dismisses_risk(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    upn = f"bwayne@{DOMAIN}"
    iid = incident_with_users(fresh, tenants["contoso"], [upn], severity="Low")
    asyncio.run(invoke_identity_actions.fn(creds, [upn], ["disable"]))
    oid = _oid(creds, upn)
    asyncio.run(confirm_users_compromised.fn(creds, [oid]))
    assert _enabled(creds, upn) is False
    fut = start(
        None,
        release_containment,
        credentials=saved_block,
        incident_id=iid,
        release_accounts=True,
        dismiss_risk=True,
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-release", set())
    resume(run.id, approve=True, approved_by="dave")
    summary = fut.result(timeout=120)
    assert summary["approved"] is True
    got = {(o["item"], o["status"]) for o in summary["account_outcomes"]}
    assert got == {(f"{upn} enable", "succeeded"), (oid, "succeeded")}
    assert _enabled(creds, upn) is True
    assert asyncio.run(get_risky_user.fn(creds, oid)).risk_state == "dismissed"
    incident = next(
        i for i in fresh.admin.dump(tenants["contoso"], "incidents") if i["incidentId"] == iid
    )
    said = incident["comments"][-1]["comment"]
    assert said.startswith("Release approved by dave at ") and "self-declared" in said
    assert "accounts enabled: 1/1; risk dismissed: 1/1" in said


def _incident_with_devices_and_users(
    emu: Any, tenant: str, machine_ids: list[str], users: list[str]
) -> int:
    alerts = [
        {
            "id": f"da_inc_{m[:8]}",
            "machineId": m,
            "computerDnsName": m,
            "severity": "High",
            "title": "Ransomware behaviour",
            "entities": [{"entityType": "User", "userPrincipalName": u, "accountName": u[:5]}],
        }
        for m, u in zip(machine_ids, users, strict=True)
    ]
    incidents = emu.admin.upsert_incidents(
        tenant,
        [
            {
                "incidentName": "device and account",
                "severity": "High",
                "status": "Active",
                "alerts": alerts,
            }
        ],
    )
    return int(incidents[0]["incidentId"])


def test_contain_incident_devices_and_accounts_in_one_approval(
    saved_block: str, fast_actions: Any, tenants: dict, creds: Any
) -> None:
    from prefect_defender.flows.contain_incident import contain_incident

    tid = tenants["contoso"]
    ws = [m for m in fast_actions.admin.dump(tid, "machines") if "-ws-" in m["computerDnsName"]]
    mids = [ws[30]["id"], ws[31]["id"]]
    upns = [f"ckent@{DOMAIN}", f"breakglass@{DOMAIN}"]
    iid = _incident_with_devices_and_users(fast_actions, tid, mids, upns)
    fut = start(
        None,
        contain_incident,
        credentials=saved_block,
        incident_id=iid,
        identity_actions=["revokeAllSessions"],
        poll_interval_seconds=0.05,
        approval=ApprovalPolicy(auto_approve_severities=["High"], poll_interval_seconds=1),
    )
    # High would be auto-approved, but break-glass is protected: one form for everything
    run = wait_paused("defender-contain-incident", set())
    # the operator approves, but leaves the second device out: only the first is isolated
    resume(run.id, approve=True, approved_by="erin", isolation_type="Full", device_2=False)
    summary = fut.result(timeout=180)
    assert summary["approved"] is True and summary["verdict"] == "approved by erin"
    assert [o["status"] for o in summary["device_outcomes"]] == ["succeeded", "skipped"]
    assert summary["device_outcomes"][1]["reason"] == "left out by the operator"
    isolated = {
        a["machineId"]
        for a in fast_actions.admin.dump(tid, "machineActions")
        if a["type"] == "Isolate" and a["machineId"] in mids
    }
    assert isolated == {mids[0]}
    by = {o["item"]: o["status"] for o in summary["account_outcomes"]}
    assert by == {
        f"ckent@{DOMAIN} revokeAllSessions": "succeeded",
        f"breakglass@{DOMAIN} revokeAllSessions": "skipped",
    }
    incident = next(i for i in fast_actions.admin.dump(tid, "incidents") if i["incidentId"] == iid)
    last = incident["comments"][-1]["comment"]
    assert "devices isolated 1/2" in last and "account actions 1/2" in last
    assert f"left out: {ws[31]['computerDnsName']}" in last


def test_a_rerun_of_the_same_run_acts_once_per_account_and_action(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    """A crash after acting, then the same logical run again (same run key): nothing twice."""
    tid = tenants["contoso"]
    upn = f"ckent@{DOMAIN}"  # one Entra ID account: one action on the emulator
    kw: dict[str, Any] = {
        "credentials": saved_block,
        "users": [upn],
        "actions": ["revokeAllSessions"],
        "run_key": "rerun-test-1",
        "approval": ApprovalPolicy(poll_interval_seconds=1),
    }

    def run_once() -> dict[str, Any]:
        fut = start(None, contain_identity, **kw)
        paused = wait_paused("defender-contain-identity", set())
        resume(paused.id, approve=True)
        return dict(fut.result(timeout=120))

    before = len(fresh.admin.dump(tid, "identity_log"))
    first = run_once()
    assert [o["status"] for o in first["outcomes"]] == ["succeeded"]
    after_first = len(fresh.admin.dump(tid, "identity_log"))
    assert after_first == before + 1
    second = run_once()
    assert [o["status"] for o in second["outcomes"]] == ["skipped"]
    assert "earlier attempt" in second["outcomes"][0]["reason"]
    assert len(fresh.admin.dump(tid, "identity_log")) == after_first


def test_accounts_from_an_alerts_evidence(
    saved_block: str, fresh: Any, tenants: dict, creds: Any
) -> None:
    tid = tenants["contoso"]
    alert = next(
        a
        for a in fresh.admin.dump(tid, "alerts")
        if any(e.get("entityType") == "User" for e in a.get("entities") or [])
    )
    upn = next(e["userPrincipalName"] for e in alert["entities"] if e["entityType"] == "User")
    fut = start(
        None,
        contain_identity,
        credentials=saved_block,
        alert_id=alert["id"],
        actions=["revokeAllSessions"],
        safety=SafetyPolicy(dry_run=True),
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-identity", set())
    resume(run.id, approve=True)
    summary = fut.result(timeout=120)
    assert [(o["item"], o["status"]) for o in summary["outcomes"]] == [
        (f"{upn} revokeAllSessions", "dry_run")
    ]


def test_members_of_a_protected_group_are_skipped_without_the_tick(
    saved_block: str, fresh: Any
) -> None:
    member, other = f"dprince@{DOMAIN}", f"ckent@{DOMAIN}"
    fut = start(
        None,
        contain_identity,
        credentials=saved_block,
        users=[member, other],
        actions=["revokeAllSessions"],
        safety=SafetyPolicy(dry_run=True, protected_account_groups=["Tier0 Admins"]),
        approval=ApprovalPolicy(poll_interval_seconds=1),
    )
    run = wait_paused("defender-contain-identity", set())
    resume(run.id, approve=True)
    by = {o["item"]: o for o in fut.result(timeout=120)["outcomes"]}
    skipped = by[f"{member} revokeAllSessions"]
    assert skipped["status"] == "skipped"
    assert "member of protected group 'Tier0 Admins'" in skipped["reason"]
    assert by[f"{other} revokeAllSessions"]["status"] == "dry_run"
