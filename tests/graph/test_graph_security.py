"""Graph beta extras end to end over HTTPS: custom detection rules and email remediation.

Real msal and httpx against the emulator: beta paths, permissions (application and delegated,
remediation application-only), Graph error bodies, 404s, the explicit beta opt-in, and, with
hypothesis, that invalid input never reaches the network (counted at the emulator).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.api.models.graph_security import (
    AnalyzedEmailRef,
    DetectionRuleInput,
    EmailRemediationRequest,
    RemediationAction,
    check_email,
    check_open_choice,
)
from prefect_defender.api.resources.graph_security import beta_base_url, bulk_id_from_location
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderUserCredentials
from prefect_defender.tasks.graph_security import (
    analyzed_emails_from_rows,
    create_detection_rule,
    delete_detection_rule,
    get_detection_rule,
    list_detection_rules,
    remediate_emails,
    update_detection_rule,
)
from prefect_defender.tasks.hunting import run_hunting_query

RULES = "/beta/security/rules/detectionRules"
REMEDIATE = "POST /beta/security/collaboration/analyzedEmails/remediate"
PHISH_ID = "b1f0c7a2-0000-4000-8000-000000000001"
DEVICE_ASSET = {
    "@odata.type": "#microsoft.graph.security.impactedDeviceAsset",
    "identifier": "deviceId",
}


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


def _count(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


def _nothing_sent(stats: dict) -> bool:
    return _count(stats) == 0 and not stats["token_requests"]


def _rule(**kw: Any) -> dict[str, Any]:
    return {
        "display_name": "Encoded PowerShell (test)",
        "query_text": "DeviceProcessEvents | where ProcessCommandLine has '-enc' "
        "| project Timestamp, DeviceId, ReportId",
        "period": "1h",
        "alert_title": "Encoded PowerShell",
        "alert_severity": "Medium",
        "alert_category": "Execution",
        "mitre_techniques": ["t1059.001"],
        "impacted_assets": [DEVICE_ASSET],
        **kw,
    }


def _domain(conn: dict, tenants: dict[str, str], name: str = "contoso") -> str:
    return next(t["domain"] for t in conn["tenants"] if t["tenant_id"] == tenants[name])


async def test_detection_rule_lifecycle(prefect_harness, fresh, creds, conn) -> None:
    seeded = await list_detection_rules(creds, accept_beta=True)
    assert [r.id for r in seeded[:2]] == ["35001", "35002"]
    assert seeded[0].period == "1H" and seeded[1].is_enabled is False
    created = await create_detection_rule(creds, _rule(), accept_beta=True)
    assert created.id.isdigit() and created.created_by == conn["apps"]["soc"]["client_id"]
    assert created.period == "1H" and created.is_enabled is True
    tpl = created.detection_action.alert_template  # type: ignore[union-attr]
    assert tpl.severity == "medium" and tpl.mitre_techniques == ["T1059.001"]
    assert tpl.impacted_assets[0].identifier == "deviceId"  # type: ignore[index]
    assert created.schedule.next_run_date_time is not None  # type: ignore[union-attr]
    got = await get_detection_rule(creds, created.id, accept_beta=True)
    assert got.query_text == created.query_text and "-enc" in (got.query_text or "")
    changed = await update_detection_rule(
        creds,
        created.id,
        {"period": "24H", "alert_title": "Renamed", "is_enabled": False, "recommended_actions": ""},
        accept_beta=True,
    )
    assert changed.period == "24H" and changed.is_enabled is False
    tpl = changed.detection_action.alert_template  # type: ignore[union-attr]
    assert tpl.title == "Renamed" and tpl.severity == "medium" and tpl.recommended_actions is None
    listed = await list_detection_rules(creds, accept_beta=True)
    assert created.id in {r.id for r in listed} and len(listed) == len(seeded) + 1
    await delete_detection_rule(creds, created.id, accept_beta=True)
    with pytest.raises(NotFoundError) as info:
        await get_detection_rule(creds, created.id, accept_beta=True)
    assert info.value.status == 404 and info.value.request_id  # Graph's innerError
    with pytest.raises(NotFoundError):
        await delete_detection_rule(creds, created.id, accept_beta=True)
    with pytest.raises(NotFoundError):
        await update_detection_rule(creds, created.id, {"display_name": "x"}, accept_beta=True)
    routes = {r["route"] for r in fresh.admin.stats()["requests"]}
    assert routes == {
        f"GET {RULES}",
        f"POST {RULES}",
        f"GET {RULES}/{{id}}",
        f"PATCH {RULES}/{{id}}",
        f"DELETE {RULES}/{{id}}",
    }


async def test_rule_list_follows_next_links(fresh, creds) -> None:
    async with creds.get_client() as client:
        rules = await client.detection_rules.list(page_size=1)
        assert len(rules) >= 2
        assert _count(fresh.admin.stats(), f"GET {RULES}") == len(rules)
        assert len(await client.detection_rules.list(limit=1)) == 1
        assert await client.detection_rules.list(limit=0) == []


async def test_emulator_refuses_invalid_rules_with_graph_errors(fresh, creds) -> None:
    """What the client never sends, the emulator still refuses (raw calls)."""
    good = DetectionRuleInput(**_rule()).to_api()
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "queryCondition": {"queryText": "  "}}, "must not be empty"),
        ({**good, "schedule": {"period": "2H"}}, "allowed values"),
        ({**good, "DisplayName": "x"}, "does not exist on type"),  # case-sensitive names
        ({k: v for k, v in good.items() if k != "displayName"}, "displayName"),
        ({**good, "queryCondition": {"queryText": "deviceprocessevents | take 1"}}, "resolve"),
    ]
    async with creds.get_client() as client:
        for body, text in cases:
            with pytest.raises(BadRequestError, match=text) as info:
                await client.call("graph.detection_rules.create", json=body)
            assert info.value.code == "BadRequest" and info.value.request_id
        for patch, text in [
            ({"createdBy": "me"}, "read-only"),
            ({"detectionAction": {"alertTemplate": {"mitreTechniques": []}}}, "does not exist"),
            ({}, "at least one"),
        ]:
            with pytest.raises(BadRequestError, match=text):
                await client.call(
                    "graph.detection_rules.update", path_params={"id": "35001"}, json=patch
                )
        with pytest.raises(NotFoundError):
            await client.call("graph.detection_rules.get", path_params={"id": "99999"})
    stats = fresh.admin.stats()
    assert _count(stats, f"POST {RULES}") == len(cases)
    # nothing was stored by the refused requests
    assert {r["status"] for r in stats["requests"]} == {400, 404}


async def test_beta_needs_an_explicit_opt_in(fresh, creds) -> None:
    email = {"network_message_id": PHISH_ID, "recipient_email_address": "jdoe@contoso.example"}
    calls = [
        list_detection_rules.fn(creds),
        get_detection_rule.fn(creds, "35001"),
        create_detection_rule.fn(creds, _rule()),
        update_detection_rule.fn(creds, "35001", {"period": "3H"}),
        delete_detection_rule.fn(creds, "35001"),
        remediate_emails.fn(creds, "n", "d", "softDelete", [email]),
    ]
    for call in calls:
        with pytest.raises(ValidationError, match="accept_beta=True"):
            await call
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
        # custom detection rules do accept delegated tokens; the rule records the user
        made = await client.detection_rules.create(DetectionRuleInput(**_rule()))
        assert made.created_by == user
        await client.detection_rules.delete(made.id)
    assert _count(fresh.admin.stats(), REMEDIATE) == 1


async def test_missing_permissions_are_named(fresh, conn) -> None:
    ro = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    with pytest.raises(PermissionDeniedError) as info:
        await list_detection_rules.fn(ro, accept_beta=True)
    assert "CustomDetection.Read.All" in str(info.value) and info.value.status == 403
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
        await list_detection_rules.fn(odd, accept_beta=True)
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
BAD_RULE_IDS = st.one_of(
    _junk.filter(lambda s: not s.strip().isdigit() or not s.strip().isascii()),
    st.integers(max_value=0),
    st.just("35001/../35002"),
)
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
BAD_PERIODS = st.one_of(
    st.sampled_from(["1", "2H", "6H", "48H", "1D", "H", "0H", "PT1H", "continuous"]),
    st.integers(1, 48),
)
BAD_QUERIES = st.one_of(st.just(""), st.text(" \t\r\n", max_size=10), st.just(None))


@st.composite
def _bad_rule(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(["query_text", "period", "alert_severity", "mitre", "asset"]))
    if field == "query_text":
        return _rule(query_text=draw(BAD_QUERIES))
    if field == "period":
        return _rule(period=draw(BAD_PERIODS))
    if field == "alert_severity":
        return _rule(alert_severity=draw(BAD_WORDS))
    if field == "mitre":
        return _rule(
            mitre_techniques=[draw(st.from_regex(r"T[0-9]{1,3}|X[0-9]{4}", fullmatch=True))]
        )
    return _rule(impacted_assets=[{"@odata.type": draw(BAD_WORDS), "identifier": "deviceId"}])


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


@given(rule_id=BAD_RULE_IDS, rule=_bad_rule(), remediation=_bad_remediation())
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_invalid_input_never_reaches_the_network(fresh, creds, rule_id, rule, remediation):
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        asyncio.run(get_detection_rule.fn(creds, rule_id, accept_beta=True))
    with pytest.raises(ValidationError):
        asyncio.run(delete_detection_rule.fn(creds, rule_id, accept_beta=True))
    with pytest.raises(ValidationError):
        asyncio.run(update_detection_rule.fn(creds, rule_id, {"period": "1H"}, accept_beta=True))
    with pytest.raises(ValidationError):
        asyncio.run(create_detection_rule.fn(creds, rule, accept_beta=True))
    with pytest.raises(ValidationError):
        asyncio.run(remediate_emails.fn(creds, **remediation, accept_beta=True))
    assert _nothing_sent(fresh.admin.stats())
