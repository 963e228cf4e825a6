"""The approval form's text and fields, without a server: escaping, layout, per-row switches,
the policy's checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from prefect_defender.flows.approval import AccountDecision, ApprovalPolicy, Decision
from prefect_defender.flows.approval_form import MAX_ROW_SWITCHES, FormRow, decision_form, left_out
from prefect_defender.flows.decision_context import (
    AccountFacts,
    DecisionContext,
    DeviceFacts,
    IncidentFacts,
    md_text,
    privileged,
)


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
        "not triaged yet; the default triage rules give 40 now: high severity (+40) "
        "(file reputation not checked)"
    )
