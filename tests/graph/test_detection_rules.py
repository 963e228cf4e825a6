"""Custom detection rules on Graph v1.0 end to end over HTTPS (real msal and httpx against the
emulator): the create body in the current shape (id, status, schedule.frequency, tactics,
entityMappings, automatedActions), the lifecycle, the properties Microsoft removed on
1 October 2026 refused by the client (naming their replacement, nothing sent) and by the
emulator (Graph's 400), and invalid input never reaching the network (hypothesis)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import (
    BadRequestError,
    DefenderError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.api.models.graph_security import REMOVED_FIELDS, DetectionRuleInput
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.graph_security import (
    create_detection_rule,
    delete_detection_rule,
    get_detection_rule,
    list_detection_rules,
    update_detection_rule,
)

RULES = "/v1.0/security/rules/detectionRules"
QUERY = (
    "DeviceProcessEvents | where ProcessCommandLine has '-enc' "
    "| project Timestamp, DeviceId, DeviceName, SHA1, ReportId"
)
ACTIONS = {
    "isolateDevices": [{"deviceIdColumn": "DeviceId", "isolationType": "selective"}],
    "runAntivirusScans": [{"deviceIdColumn": "DeviceId"}],
    "stopAndQuarantineFiles": [{"deviceIdColumn": "DeviceId", "sha1Column": "SHA1"}],
}


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


def _rule(**kw: Any) -> dict[str, Any]:
    return {
        "rule_id": "encoded-powershell-test",
        "display_name": "Encoded PowerShell (test)",
        "query_text": QUERY,
        "frequency": "1h",
        "alert_title": "Encoded PowerShell",
        "alert_severity": "Medium",
        "tactics": {"Execution": ["t1059.001"]},
        "entity_mappings": {"hosts": [{"deviceIdColumn": "DeviceId", "nameColumn": "DeviceName"}]},
        **kw,
    }


def _count(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


def _nothing_sent(stats: dict) -> bool:
    return _count(stats) == 0 and not stats["token_requests"]


def test_the_create_body_is_the_v1_shape() -> None:
    body = DetectionRuleInput(**_rule(automated_actions=ACTIONS, description="why")).to_api()
    assert body == {
        "id": "encoded-powershell-test",
        "displayName": "Encoded PowerShell (test)",
        "description": "why",
        "status": "enabled",
        "queryCondition": {"queryText": QUERY},
        "schedule": {"frequency": "PT1H"},
        "detectionAction": {
            "alertTemplate": {
                "title": "Encoded PowerShell",
                "severity": "medium",
                "tactics": [
                    {
                        "tactic": "Execution",
                        "techniques": [{"technique": "T1059", "subTechniques": ["T1059.001"]}],
                    }
                ],
                "entityMappings": {
                    "hosts": [{"deviceIdColumn": "DeviceId", "nameColumn": "DeviceName"}]
                },
            },
            "automatedActions": ACTIONS,
        },
    }


async def test_create_on_v1_with_automated_actions(prefect_harness, fresh, creds, conn, tenants):
    created = await create_detection_rule(creds, _rule(automated_actions=ACTIONS))
    assert created.id == "encoded-powershell-test" and created.enabled
    assert created.frequency == "PT1H" and created.automated_actions == ACTIONS
    assert created.created_by == conn["apps"]["soc"]["client_id"]
    [stored] = [
        r for r in fresh.admin.dump(tenants["contoso"], "detection_rules") if r["id"] == created.id
    ]
    # what the service stored is the v1.0 body: none of the removed properties anywhere
    text = repr(stored)
    for removed in ("isEnabled", "period", "category", "mitreTechniques", "impactedAssets"):
        assert f"'{removed}'" not in text
    assert "responseActions" not in text and "nextRunDateTime" not in text
    assert stored["detectionAction"]["automatedActions"] == ACTIONS
    assert stored["schedule"] == {"frequency": "PT1H"}
    routes = {r["route"] for r in fresh.admin.stats()["requests"]}
    assert routes == {f"POST {RULES}"}  # Graph v1.0, not /beta
    with pytest.raises(DefenderError) as again:  # client-provided ids are unique
        await create_detection_rule(creds, _rule())
    assert again.value.status == 409
    await delete_detection_rule(creds, created.id)


async def test_rule_lifecycle(prefect_harness, fresh, creds) -> None:
    seeded = await list_detection_rules(creds)
    assert [r.id for r in seeded[:2]] == ["35001", "35002"]
    assert seeded[0].frequency == "PT1H" and seeded[0].enabled and not seeded[1].enabled
    created = await create_detection_rule(creds, _rule(rule_id=None))
    assert created.id == "encoded-powershell-test"  # derived from the display name
    got = await get_detection_rule(creds, created.id)
    assert got.query_text == QUERY and got.automated_actions == {}
    changed = await update_detection_rule(
        creds,
        created.id,
        {
            "frequency": "24h",
            "status": "disabled",
            "alert_title": "Renamed",
            "automated_actions": {"isolateDevices": [{"deviceIdColumn": "DeviceId"}]},
        },
    )
    assert changed.frequency == "P1D" and not changed.enabled
    tpl = changed.detection_action.alert_template  # type: ignore[union-attr]
    assert tpl.title == "Renamed" and tpl.severity == "medium"
    assert changed.automated_actions == {
        "isolateDevices": [{"deviceIdColumn": "DeviceId", "isolationType": "full"}]
    }
    listed = await list_detection_rules(creds)
    assert created.id in {r.id for r in listed} and len(listed) == len(seeded) + 1
    await delete_detection_rule(creds, created.id)
    with pytest.raises(NotFoundError) as info:
        await get_detection_rule(creds, created.id)
    assert info.value.status == 404 and info.value.request_id  # Graph's innerError
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


@pytest.mark.parametrize("removed", sorted(REMOVED_FIELDS))
async def test_removed_properties_are_refused_naming_the_replacement(fresh, creds, removed):
    value: Any = {"is_enabled": True, "period": "1H", "alert_category": "Execution"}.get(
        removed, ["x"]
    )
    replacement = REMOVED_FIELDS[removed].split(" ", 1)[0]
    with pytest.raises(ValidationError, match=f"1 October 2026; use {replacement}"):
        await create_detection_rule.fn(creds, _rule(**{removed: value}))
    with pytest.raises(ValidationError, match=replacement):
        await update_detection_rule.fn(creds, "35001", {removed: value})
    assert _nothing_sent(fresh.admin.stats())


async def test_the_emulator_refuses_what_v1_does_not_have(fresh, creds) -> None:
    """What the client never sends, the emulator still refuses as Graph does (raw calls)."""
    good = DetectionRuleInput(**_rule(rule_id="raw-1")).to_api()
    action = good["detectionAction"]
    tpl = action["alertTemplate"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "isEnabled": True}, "'isEnabled' does not exist"),
        ({**good, "schedule": {"period": "1H"}}, "'period' does not exist"),
        ({**good, "schedule": {"frequency": "hourly"}}, "Edm.Duration"),
        ({**good, "detectionAction": {**action, "responseActions": []}}, "'responseActions'"),
        (
            {**good, "detectionAction": {**action, "alertTemplate": {**tpl, "category": "x"}}},
            "'category' does not exist",
        ),
        (
            {**good, "detectionAction": {**action, "alertTemplate": {**tpl, "impactedAssets": []}}},
            "'impactedAssets' does not exist",
        ),
        (
            {**good, "detectionAction": {**action, "automatedActions": {"wipeDevices": []}}},
            "'wipeDevices' does not exist",
        ),
        (
            {
                **good,
                "detectionAction": {
                    **action,
                    "automatedActions": {
                        "isolateDevices": [
                            {"deviceIdColumn": "DeviceId", "isolationType": "partial"}
                        ]
                    },
                },
            },
            "isolationType",
        ),
        ({k: v for k, v in good.items() if k != "id"}, "'id' is required"),
        ({k: v for k, v in good.items() if k != "status"}, "'status' is required"),
        ({**good, "DisplayName": "x"}, "does not exist on type"),  # case-sensitive names
        ({**good, "queryCondition": {"queryText": "deviceprocessevents | take 1"}}, "resolve"),
    ]
    async with creds.get_client() as client:
        for body, text in cases:
            with pytest.raises(BadRequestError, match=text) as info:
                await client.call("graph.detection_rules.create", json=body)
            assert info.value.code == "BadRequest" and info.value.request_id
        for patch, text in [
            ({"createdBy": "me"}, "read-only"),
            ({"id": "other"}, "read-only"),
            ({"isEnabled": False}, "does not exist"),
            ({}, "at least one"),
        ]:
            with pytest.raises(BadRequestError, match=text):
                await client.call(
                    "graph.detection_rules.update", path_params={"id": "35001"}, json=patch
                )
    stats = fresh.admin.stats()
    assert _count(stats, f"POST {RULES}") == len(cases)
    assert {r["status"] for r in stats["requests"]} == {400}


async def test_missing_permission_is_named(fresh, conn) -> None:
    ro = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    with pytest.raises(PermissionDeniedError) as info:
        await list_detection_rules.fn(ro)
    assert "CustomDetection.Read.All" in str(info.value) and info.value.status == 403


_junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
BAD_RULE_IDS = st.one_of(
    _junk.filter(lambda s: not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", s.strip())),
    st.integers(max_value=0),
    st.just("35001/../35002"),
)
BAD_FREQUENCIES = st.one_of(
    st.sampled_from(["1", "2X", "0H", "P", "PT", "P0D", "PT30S", "P31D", "continuous", "1H30"]),
    st.integers(1, 48),
)
BAD_WORDS = st.one_of(
    st.just("unknownFutureValue"),
    st.from_regex(r"[a-z]{1,6}[ \-_./!][a-z]{1,6}", fullmatch=True),
    st.just(""),
)


@st.composite
def _bad_rule(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(["query", "frequency", "severity", "tactic", "action", "map"]))
    if field == "query":
        return _rule(query_text=draw(st.sampled_from(["", " \t", None])))
    if field == "frequency":
        return _rule(frequency=draw(BAD_FREQUENCIES))
    if field == "severity":
        return _rule(alert_severity=draw(BAD_WORDS))
    if field == "tactic":
        return _rule(
            tactics={"Execution": [draw(st.from_regex(r"T[0-9]{1,3}|X[0-9]{4}", fullmatch=True))]}
        )
    if field == "action":
        name = draw(st.sampled_from(["isolateDevices", "wipeDevices", "blockFiles"]))
        column = draw(st.sampled_from(["", "Device Id", "1abc", "x;drop"]))
        return _rule(automated_actions={name: [{"deviceIdColumn": column, "sha1Column": column}]})
    return _rule(entity_mappings={draw(st.sampled_from(["hosts", "devices"])): [{"name": "x"}]})


@given(rule_id=BAD_RULE_IDS, rule=_bad_rule())
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_invalid_input_never_reaches_the_network(fresh, creds, rule_id, rule):
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        asyncio.run(get_detection_rule.fn(creds, rule_id))
    with pytest.raises(ValidationError):
        asyncio.run(delete_detection_rule.fn(creds, rule_id))
    with pytest.raises(ValidationError):
        asyncio.run(update_detection_rule.fn(creds, rule_id, {"frequency": "1h"}))
    with pytest.raises(ValidationError):
        asyncio.run(create_detection_rule.fn(creds, rule))
    assert _nothing_sent(fresh.admin.stats())
