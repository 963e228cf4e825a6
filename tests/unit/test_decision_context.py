"""The approval form's text and fields, without a server: escaping, layout, per-row switches,
the policy's checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.approval_form import (
    MAX_ROW_SWITCHES,
    AccountDecision,
    Decision,
    FormRow,
    decision_form,
    left_out,
)
from prefect_defender.flows.decision_context import (
    AccountFacts,
    DecisionContext,
    DeviceFacts,
    IncidentFacts,
    md_text,
    privileged,
)


@settings(deadline=None)  # the first example pays for imports on a loaded host
@given(st.text(max_size=400))
def test_md_text_leaves_no_active_markdown(text: str) -> None:
    out = md_text(text)
    plain = out.replace("<wbr>", "")
    # every markdown/HTML-active character is escaped, and the result is one line
    assert not re.search(r"(?<!\\)[\[\]<>`*_#|~]", plain)
    assert "\n" not in out


def test_md_text_breaks_long_tokens_and_bounds_length() -> None:
    upn = "averyverylongfirstname.lastname@subsidiary.contoso.example"
    assert md_text(upn).replace("<wbr>", "") == upn
    assert md_text(upn).count("<wbr>") >= 3
    assert md_text("short.name") == "short.name"
    assert len(md_text("x " * 500, limit=50)) <= 50


def _context() -> DecisionContext:
    return DecisionContext(
        playbook="defender-contain-incident",
        incident=IncidentFacts(
            1001,
            "Ransomware [click](http://evil)",
            "High",
            "Active",
            "triage score 70: x",
            ["Ransomware behavior", "Ransomware behavior", "Credential theft"],
            "https://p/i",
        ),
        devices=[DeviceFacts("ws-1.contoso.example", "0f3c", "isolate (Selective)", tags=["VIP"])],
        accounts=[
            AccountFacts(
                "jdoe@contoso.example",
                ["disable", "revokeAllSessions"],
                ["entraID"],
                True,
                "high",
                ["2026-12-04 17:55 203.0.113.5 NL ok"],
                ["Global Administrator"],
                "member of protected group 'Global Administrator'",
                "https://p/u",
            )
        ],
        writes=3,
        caps="25 per run, 100 per hour in this tenant",
        deadline=datetime(2026, 12, 4, 19, 14, tzinfo=UTC),
        proposal="### Proposed by an AI agent",
    )


def test_the_form_text_is_one_item_per_block_with_every_fact() -> None:
    md = _context().markdown().replace("<wbr>", "")
    assert "|" not in md  # no table: the dialog is narrow
    assert "#### Device 1: ws-1.contoso.example" in md
    assert "#### Account 1: jdoe@contoso.example" in md
    assert "\\[click\\](http://evil)" in md  # the title cannot make a link
    assert "**Alerts (2):** Ransomware behavior; Credential theft" in md
    assert "**Decide by 2026-12-04 19:14 UTC.**" in md
    assert "**Blast radius:** 1 device and 1 account: 3 write actions (caps: 25 per run" in md
    assert "- Protected: **yes**, member of protected group" in md
    assert md.index("Proposed by an AI agent") < md.index("Ransomware")
    # at 3 a.m. the first lines say what will be done to how many, and by when
    to_do = "**To do:** isolate (Selective) on 1 device; disable, revokeAllSessions on 1 account"
    assert md.index(to_do) < md.index("**Decide by") < md.index("Ransomware")
    for fact in (
        "OS:",
        "Health:",
        "Risk:",
        "Tags: VIP",
        "Providers: entraID",
        "Last sign-ins:",
        "Privileged groups: Global Administrator",
        "Risk level: high",
    ):
        assert fact in md


def test_summary_names_what_and_how_many() -> None:
    ctx = _context()
    assert ctx.summary() == (
        "isolate (Selective) on 1 device; disable, revokeAllSessions on 1 account"
    )
    assert ctx.subject == "containment of incident 1001 (High)"


def test_row_switches_follow_approve_and_default_on() -> None:
    rows = [FormRow(f"device_{n}", f"m{n}", f"Device {n}", f"ws-{n}") for n in (1, 2)]
    form = decision_form(Decision, rows)
    names = list(form.model_fields)
    assert names[:3] == ["approve", "device_1", "device_2"]
    assert names[3:] == list(Decision.model_fields)[1:]
    answer = form(approve=True, device_2=False)
    assert [r.item for r in left_out(answer, rows)] == ["m2"]
    assert form().approve is False  # untouched: do not act
    many = [FormRow(f"account_{n}", f"u{n}", "x") for n in range(MAX_ROW_SWITCHES + 5)]
    assert len(decision_form(AccountDecision, many).model_fields) == (
        len(AccountDecision.model_fields) + MAX_ROW_SWITCHES
    )


def test_escalation_needs_a_channel() -> None:
    with pytest.raises(ValidationError, match="escalate_to"):
        ApprovalPolicy(on_timeout="escalate")
    assert ApprovalPolicy(on_timeout="escalate", escalate_to=["custom-webhook/x"]).escalate_to


def test_privileged_groups() -> None:
    groups = ["Sales", "Global Administrator", "62e90394-69f5-4237-9190-012177145e10", "Tier0"]
    assert privileged(groups, ["tier0"]) == ["Global Administrator", "Tier0"]


def test_the_form_reads_the_triage_score_from_the_incident() -> None:
    from prefect_defender.api.models.incidents import Incident
    from prefect_defender.flows.decision_facts import triage_score

    incident = Incident.model_validate(
        {
            "incidentId": 7,
            "incidentName": "Ransomware on ws-1",
            "severity": "High",
            "comments": [
                {
                    "comment": "prefect-defender triage: Score 10 (medium severity (+20)). "
                    "Devices: x."
                },
                {
                    "comment": "prefect-defender triage: Score 70 (high severity (+40), "
                    "ransomware in title (+30)). Devices: ws-1. Known malware files: 0."
                },
                {"comment": "an analyst's note"},
            ],
        }
    )
    assert triage_score(incident) == (
        "triage score 70: high severity (+40), ransomware in title (+30)"
    )
    fresh = Incident.model_validate({"incidentId": 8, "incidentName": "x", "severity": "High"})
    assert triage_score(fresh) == (
        "not triaged yet (its score shows here when triage reports it); the default "
        "triage rules give 40 now: high severity (+40) (file reputation not checked)"
    )


def test_a_release_form_says_what_each_row_undoes() -> None:
    from prefect_defender.flows.decision_context import IndicatorFacts

    ctx = DecisionContext(
        playbook="defender-release",
        action="release",
        incident=IncidentFacts(
            1001, "Ransomware", "High", "Resolved", classification="FalsePositive"
        ),
        reason="this run was started to undo the containment: lift isolation",
        devices=[
            DeviceFacts(
                "ws-1.contoso.example",
                "0f3c",
                "release from isolation",
                why='isolated (Selective) since 2026-12-07 18:22 UTC by alice: "ransom note"',
            )
        ],
        indicators=[
            IndicatorFacts(
                "IpAddress",
                "203.0.113.66",
                "5",
                "delete",
                policy="Block",
                title="prefect-defender: incident 1001 <b>c2</b>",
                created=datetime(2026, 12, 7, 18, 30, tzinfo=UTC),
                created_by="soc-app",
            )
        ],
        writes=2,
        dry_run=True,
    )
    md = ctx.markdown().replace("<wbr>", "")
    assert ctx.subject == "release of incident 1001 (High)"
    assert md.startswith("## Approve release of incident 1001 (High)?")
    assert "**Dry run:** nothing will be changed" in md
    assert "classified FalsePositive" in md
    assert "**Why:** this run was started to undo the containment" in md
    assert "- Why: isolated (Selective) since 2026-12-07 18:22 UTC by alice" in md
    assert "#### Indicator 1: IpAddress 203.0.113.66" in md
    assert "- Now: Block; expires never" in md
    assert "\\<b\\>c2\\</b\\>" in md  # an indicator's title is data
    assert "- Created 2026-12-07 18:30 UTC by soc-app" in md
    assert "**Blast radius:** 1 device and 1 indicator: 2 write actions" in md
    assert ctx.summary() == "release from isolation on 1 device; delete on 1 indicator"
    assert ctx.names() == ["ws-1.contoso.example", "IpAddress 203.0.113.66"]
    assert "not triaged" not in md and md.count("**Why:**") == 1  # a release is not scored


def test_a_hunt_form_says_why_without_an_incident_and_flags_protected_rows() -> None:
    ctx = DecisionContext(
        playbook="defender-hunt-and-respond",
        action="antivirus scan",
        about="2 devices that saw ip 203.0.113.66",
        reason="an IOC hunt for ip 203.0.113.66 over the last 7 days found it on 2 devices",
        devices=[
            DeviceFacts("ws-1", "a", "run a full antivirus scan", why="saw ip 203.0.113.66: 4"),
            DeviceFacts("dc-1", "b", "run a full antivirus scan", protected="protected tag 'DC'"),
        ],
        writes=2,
        caps="25 per run, 100 per hour in this tenant",
    )
    md = ctx.markdown()
    assert ctx.subject == "antivirus scan of 2 devices that saw ip 203.0.113.66"
    assert "**Why:** an IOC hunt for ip 203.0.113.66" in md
    assert "- Why: saw ip 203.0.113.66: 4" in md
    # a protected row's "To do" says it is only done with include protected
    dc = md.split("#### Device 2")[1]
    assert (
        "**To do:** run a full antivirus scan (protected: only with **include protected** on)" in dc
    )
    assert "1 protected, acted on only with include protected" in ctx.blast_radius()
    assert "Dry run" not in md


def test_release_and_response_forms_have_no_isolation_type() -> None:
    from prefect_defender.flows.approval_form import DeviceDecision, ReleaseDecision

    assert list(ReleaseDecision.model_fields) == ["approve", "comment", "approved_by"]
    assert "isolation_type" not in DeviceDecision.model_fields
    assert "include_protected" in DeviceDecision.model_fields
    for form in (Decision, AccountDecision, DeviceDecision, ReleaseDecision):
        approve = form.model_fields["approve"]
        assert approve.default is False and "nothing is done" in (approve.description or "")


def test_the_triage_event_is_said_with_the_version_it_scored() -> None:
    from prefect_defender.flows.triage_watch import _said

    now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    payload = {"score": 85, "matched": ["high severity (+40)"], "last_update_time": now.isoformat()}
    assert _said(payload, now) == "triage score 85: high severity (+40)"
    later = now.replace(hour=19)
    assert _said(payload, later).endswith(
        "(scored on the incident as of 2026-12-07 18:00 UTC; it changed since)"
    )
    assert _said({"score": 0, "matched": []}, None) == "triage score 0: no rule matched"


def test_run_names_say_what_the_run_is_about() -> None:
    from prefect_defender.flows.run_names import _named

    assert _named({"incident_id": 1041}) == "incident 1041"
    assert _named({"ioc_kind": "ip", "ioc_values": ["203.0.113.66", "x"]}) == (
        "ip 203.0.113.66 and 1 more"
    )
    assert _named({"machine_ids": ["a", "b"]}) == "2 devices"
    assert _named({"alert_id": "da1"}) == "alert da1"
    assert _named({}) == ""
