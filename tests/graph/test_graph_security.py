"""Graph beta email remediation end to end over HTTPS (custom detection rules, Graph v1.0, are
in test_detection_rules.py).

Real msal and httpx against the emulator: the beta path, application-only permission, Graph
error bodies, the explicit beta opt-in, and, with hypothesis, that invalid input never reaches
the network (counted at the emulator).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import (
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.api.models.graph_security import (
    AnalyzedEmailRef,
    EmailRemediationRequest,
    RemediationAction,
    check_email,
    check_open_choice,
)
from prefect_defender.api.resources.graph_security import beta_base_url, bulk_id_from_location
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderUserCredentials
from prefect_defender.tasks.graph_security import (
    analyzed_emails_from_rows,
    remediate_emails,
)
from prefect_defender.tasks.hunting import run_hunting_query

REMEDIATE = "POST /beta/security/collaboration/analyzedEmails/remediate"
PHISH_ID = "b1f0c7a2-0000-4000-8000-000000000001"


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


def _count(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


def _nothing_sent(stats: dict) -> bool:
    return _count(stats) == 0 and not stats["token_requests"]


def _domain(conn: dict, tenants: dict[str, str], name: str = "contoso") -> str:
    return next(t["domain"] for t in conn["tenants"] if t["tenant_id"] == tenants[name])


async def test_beta_needs_an_explicit_opt_in(fresh, creds) -> None:
    email = {"network_message_id": PHISH_ID, "recipient_email_address": "jdoe@contoso.example"}
    with pytest.raises(ValidationError, match="accept_beta=True"):
        await remediate_emails.fn(creds, "n", "d", "softDelete", [email])
    assert _nothing_sent(fresh.admin.stats())


async def test_remediate_the_planted_phish(prefect_harness, fresh, creds, conn, tenants) -> None:
    contoso = tenants["contoso"]
    recipient = f"JDoe@{_domain(conn, tenants)}"
    result = await remediate_emails(
        creds,
        display_name="IR-7 phish purge",
        description="Password reset lure",
        action="SoftDelete",
        severity="High",
        analyzed_emails=[
            {"network_message_id": PHISH_ID.upper(), "recipient_email_address": recipient},
            {"id": "424242424242"},  # unknown: accepted, reported per e-mail by the service
        ],
        approver_upn=f"soc-lead@{_domain(conn, tenants)}",
        accept_beta=True,
    )
    assert result.status == 202 and result.action == "softDelete" and result.email_count == 2
    assert result.location and result.location.startswith(
        "https://security.microsoft.com/action-center/history?filters="
    )
    assert result.location.endswith(f"&tid={contoso}") and result.bulk_id
    [record] = fresh.admin.dump(contoso, "email_remediations")
    assert record["bulkId"] == result.bulk_id and record["severity"] == "high"
    assert [e["status"] for e in record["emails"]] == ["succeeded", "notFound"]
    assert record["requestedBy"] == conn["apps"]["soc"]["client_id"]
    emails = {e["id"]: e for e in fresh.admin.dump(contoso, "analyzed_emails")}
    assert emails["940000"]["latestDelivery"] == {
        "action": "softDelete",
        "location": "deletedFolder",
    }
    # dry run: validated and reported, nothing sent
    fresh.admin.reset_stats()
    dry = await remediate_emails(
        creds, "n", "d", "hardDelete", [{"id": "940000"}], dry_run=True, accept_beta=True
    )
    assert dry.status == 0 and dry.email_count == 1
    assert _nothing_sent(fresh.admin.stats())


async def test_hunt_email_events_then_remediate(prefect_harness, fresh, creds, tenants) -> None:
    found = await run_hunting_query(
        creds,
        "EmailEvents | where Subject startswith 'Weekly update' | take 3 "
        "| project NetworkMessageId, RecipientEmailAddress, ReportId",
    )
    emails, skipped = analyzed_emails_from_rows([*found.rows, {"NetworkMessageId": "nope"}])
    assert len(emails) == 3 and len(skipped) == 1 and skipped[0].status == "skipped"
    result = await remediate_emails(
        creds, "newsletter to junk", "bulk mail", "moveToJunk", emails, accept_beta=True
    )
    assert result.status == 202
    [record] = [
        r
        for r in fresh.admin.dump(tenants["contoso"], "email_remediations")
        if r["bulkId"] == result.bulk_id
    ]
    assert [e["status"] for e in record["emails"]] == ["succeeded"] * 3
    moved = {e["id"] for e in fresh.admin.dump(tenants["contoso"], "analyzed_emails")}
    assert {str(r["ReportId"]) for r in found.rows} <= moved


async def test_remediation_is_application_only(fresh, conn, creds) -> None:
    user_creds = DefenderUserCredentials.from_emulator(conn)
    user = await asyncio.to_thread(user_creds.sign_in_with_device_code, lambda m: None)
    stored = user_creds.token_cache.get_secret_value()  # type: ignore[union-attr]
    analyst = DefenderUserCredentials.from_emulator(conn, token_cache=stored, username=user)
    analyst.persist_refreshed_cache = False
    fresh.admin.reset_stats()
    email = [{"id": "940000"}]
    with pytest.raises(PermissionDeniedError, match="application permissions only"):
        await remediate_emails.fn(analyst, "n", "d", "softDelete", email, accept_beta=True)
    assert _nothing_sent(fresh.admin.stats())
    body = EmailRemediationRequest(
        display_name="n",
        description="d",
        severity="low",
        action="moveToJunk",
        analyzed_emails=email,
    ).to_api()
    async with analyst.get_client() as client:
        # the emulator refuses a delegated token even when the client's check is bypassed
        with pytest.raises(PermissionDeniedError) as info:
            await client.transport.request(endpoint("graph.emails.remediate"), json=body)
        assert info.value.status == 403
    assert _count(fresh.admin.stats(), REMEDIATE) == 1


async def test_missing_permissions_are_named(fresh, conn) -> None:
    ro = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    with pytest.raises(PermissionDeniedError, match=r"SecurityAnalyzedMessage\.ReadWrite\.All"):
        await remediate_emails.fn(ro, "n", "d", "softDelete", [{"id": "1"}], accept_beta=True)


async def test_beta_url_is_derived_explicitly(fresh, conn) -> None:
    assert beta_base_url("https://graph.microsoft.com/v1.0/") == "https://graph.microsoft.com/beta"
    assert beta_base_url("https://graph.microsoft.com/beta") == "https://graph.microsoft.com/beta"
    with pytest.raises(ValidationError, match="global service only"):
        beta_base_url("https://graph.microsoft.us/v1.0")
    odd = DefenderApplicationCredentials.from_emulator(
        conn, graph_base_url=conn["base_url"] + "/graph"
    )
    with pytest.raises(ValidationError, match="cannot be derived"):
        await remediate_emails.fn(odd, "n", "d", "softDelete", [{"id": "1"}], accept_beta=True)
    assert _count(fresh.admin.stats()) == 0
    loc = 'https://security.microsoft.com/action-center/history?filters={"bulkId":["b-1"]}&tid=t'
    assert bulk_id_from_location(loc) == "b-1"
    assert bulk_id_from_location("https://security.microsoft.com/action-center") is None


def test_open_enums_and_addresses() -> None:
    assert check_open_choice("MOVETOJUNK", RemediationAction, "action") == "moveToJunk"
    assert check_open_choice("moveToQuarantine", RemediationAction, "action") == "moveToQuarantine"
    for bad in ("unknownFutureValue", "soft delete", "", "1x", "move-to-junk", 3):
        with pytest.raises(ValidationError):
            check_open_choice(bad, RemediationAction, "action")
    assert check_email(" A.B+c@Example.COM ") == "A.B+c@example.com"
    ref = AnalyzedEmailRef(networkMessageId=PHISH_ID, recipientEmailAddress="x@example.com")
    assert ref.label == f"{PHISH_ID}/x@example.com"


# -- hypothesis: invalid input never reaches the network -----------------------------------

_junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
BAD_EMAILS = st.one_of(
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),  # no @
    st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}", fullmatch=True),  # no dot in the domain
    st.from_regex(r"[a-z]{1,8} [a-z]{1,8}@example\.com", fullmatch=True),
    st.from_regex(r"@[a-z]{1,8}\.example", fullmatch=True),
    st.from_regex(r"[a-z]{1,8}@-[a-z]{1,8}\.example", fullmatch=True),
)
BAD_GUIDS = st.one_of(
    st.from_regex(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{11}", fullmatch=True),
    st.from_regex(r"[g-z]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{32}[0-9a-f]{1,4}", fullmatch=True),
)
BAD_WORDS = st.one_of(
    st.just("unknownFutureValue"),
    st.from_regex(r"[a-z]{1,6}[ \-_./!][a-z]{1,6}", fullmatch=True),
    st.from_regex(r"[0-9][a-z]{0,6}", fullmatch=True),
    st.just(""),
)


@st.composite
def _bad_remediation(draw: st.DrawFn) -> dict[str, Any]:
    good_email = {"network_message_id": PHISH_ID, "recipient_email_address": "jdoe@contoso.example"}
    args: dict[str, Any] = {
        "display_name": "purge",
        "description": "why",
        "action": "softDelete",
        "analyzed_emails": [good_email],
    }
    field = draw(st.sampled_from(["guid", "email", "action", "severity", "empty", "approver"]))
    if field == "guid":
        args["analyzed_emails"] = [{**good_email, "network_message_id": draw(BAD_GUIDS)}]
    elif field == "email":
        args["analyzed_emails"] = [{**good_email, "recipient_email_address": draw(BAD_EMAILS)}]
    elif field == "action":
        args["action"] = draw(BAD_WORDS)
    elif field == "severity":
        args["severity"] = draw(BAD_WORDS)
    elif field == "approver":
        args["approver_upn"] = draw(BAD_EMAILS)
    else:
        args["analyzed_emails"] = []
    return args


@given(remediation=_bad_remediation())
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_invalid_input_never_reaches_the_network(fresh, creds, remediation):
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        asyncio.run(remediate_emails.fn(creds, **remediation, accept_beta=True))
    assert _nothing_sent(fresh.admin.stats())
