"""Indicators below the network: input validation, answer-row matching, response models,
indicators built from incident entities, and the emulator's own per-item checks."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.models.indicators import Indicator, IndicatorInput, coerce_indicators
from prefect_defender.api.resources.indicators import (
    MAX_ACTIVE,
    check_indicator_id,
    limit_reached,
    match_import_rows,
)
from prefect_defender.emulator.routes import indicators as emu
from prefect_defender.tasks.indicators import indicators_from_entities

HEX = "0123456789abcdef"
SHA1 = "356a192b7913b04c54574d18c28d46e6395428ab"


def ind(value: str, kind: str = "FileSha256", **kw: Any) -> dict[str, Any]:
    return {"value": value, "type": kind, "action": "Block", "title": "t", "description": "d", **kw}


@pytest.mark.parametrize(
    ("kind", "value", "normalised"),
    [
        ("FileSha1", SHA1.upper(), SHA1),
        ("FileSha256", "A" * 64, "a" * 64),
        ("FileMd5", "c4ca4238a0b923820dcc509a6f75849b", "c4ca4238a0b923820dcc509a6f75849b"),
        ("CertificateThumbprint", SHA1.upper(), SHA1),
        ("IpAddress", " 203.0.113.5 ", "203.0.113.5"),
        ("IpAddress", "2001:DB8:0:0::1", "2001:db8::1"),
        ("DomainName", "Evil.Example.", "evil.example"),
        ("DomainName", "bücher.example", "xn--bcher-kva.example"),
        ("Url", "https://evil.example/a?b=1", "https://evil.example/a?b=1"),
    ],
)
def test_valid_values_are_normalised(kind: str, value: str, normalised: str) -> None:
    assert IndicatorInput(**ind(value, kind)).value == normalised


@pytest.mark.parametrize(
    ("kind", "value", "needle"),
    [
        ("FileSha1", "a" * 64, "SHA1"),
        ("FileSha256", SHA1, "SHA256"),
        ("FileMd5", "z" * 32, "MD5"),
        ("CertificateThumbprint", "a" * 32, "SHA1"),
        ("IpAddress", "198.51.100.0/24", "CIDR"),
        ("IpAddress", "256.1.1.1", "IPv4 or IPv6"),
        ("DomainName", "localhost", "domain name"),
        ("DomainName", "http://evil.example", "domain name"),
        ("Url", "evil.example/x", "http(s) URL"),
        ("Url", "https://evil.example/a b", "URL"),
    ],
)
def test_value_is_checked_against_type(kind: str, value: str, needle: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(needle)):
        IndicatorInput(**ind(value, kind))


@given(
    value=st.text(alphabet=string.printable, max_size=70),
    kind=st.sampled_from(["FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint"]),
)
def test_hash_indicators_match_their_length(value: str, kind: str) -> None:
    length = {"FileSha1": 40, "FileSha256": 64, "FileMd5": 32, "CertificateThumbprint": 40}[kind]
    text = value.strip()
    if len(text) == length and all(c in HEX + HEX.upper() for c in text):
        assert IndicatorInput(**ind(value, kind)).value == text.lower()
    else:
        with pytest.raises(ValidationError):
            IndicatorInput(**ind(value, kind))


def test_actions_and_the_legacy_ones() -> None:
    for action in ("Allowed", "Block", "BlockAndRemediate", "Warn"):
        assert IndicatorInput(**ind("a" * 64, action=action)).action.value == action
    audit = IndicatorInput(**ind("a" * 64, action="Audit", generate_alert=True))
    assert audit.to_api()["generateAlert"] is True
    with pytest.raises(ValidationError, match="generate_alert"):
        IndicatorInput(**ind("a" * 64, action="Audit"))
    with pytest.raises(ValidationError, match=r"deprecated.*use Audit \(with generate_alert"):
        IndicatorInput(**ind("a" * 64, action="Alert"))
    with pytest.raises(ValidationError, match=r"deprecated.*use Block"):
        IndicatorInput(**ind("a" * 64, action="AlertAndBlock"))
    with pytest.raises(ValidationError, match="Allowed, Audit, Block"):
        IndicatorInput(**ind("a" * 64, action="block"))  # case-sensitive like the API


def test_optional_fields() -> None:
    when = datetime.now(UTC) + timedelta(days=3)
    body = IndicatorInput(
        **ind(
            "a" * 64,
            expiration_time=when,
            severity="High",
            recommended_actions="Reimage",
            rbac_group_names=["Tier0", "Servers"],
            educate_url="https://intranet.example/why",
            application="edge",
        )
    ).to_api()
    assert body["expirationTime"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["rbacGroupNames"] == ["Tier0", "Servers"] and body["severity"] == "High"
    assert set(body) == {
        "indicatorValue",
        "indicatorType",
        "action",
        "title",
        "description",
        "expirationTime",
        "severity",
        "recommendedActions",
        "rbacGroupNames",
        "educateUrl",
        "application",
    }
    assert IndicatorInput(**ind("a" * 64, expiration_time="2999-01-01T00:00:00Z")).expiration_time
    for bad, needle in [
        ({"expiration_time": datetime.now(UTC) - timedelta(seconds=1)}, "future"),
        ({"expiration_time": datetime(2999, 1, 1)}, "timezone-aware"),
        ({"expiration_time": "tomorrow"}, "ISO 8601"),
        ({"severity": "Critical"}, "severity"),
        ({"rbac_group_names": "Tier0"}, "rbac_group_names"),
        ({"rbac_group_names": ["ok", 3]}, "rbac_group_names"),
        ({"title": "x\x1by"}, "control characters"),
        ({"description": "   "}, "description: required"),
        ({"educate_url": "intranet/why"}, "educate_url"),
        ({"unknown": 1}, "unknown"),
    ]:
        with pytest.raises(ValidationError, match=needle):
            IndicatorInput(**ind("a" * 64, **bad))


def test_coerce_names_every_invalid_index() -> None:
    items = [ind("a" * 64), ind("x", "Url"), ind("b" * 64), ind("1.2.3.4/8", "IpAddress")]
    with pytest.raises(ValidationError) as info:
        coerce_indicators(items)
    text = str(info.value)
    assert "2 invalid item(s)" in text and "[1]" in text and "[3]" in text
    assert "[0]" not in text and "[2]" not in text and "nothing was sent" in text
    with pytest.raises(ValidationError, match="expected a list"):
        coerce_indicators("a" * 64)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="mapping"):
        coerce_indicators([42])  # type: ignore[list-item]


def _items(*pairs: tuple[str, str]) -> list[IndicatorInput]:
    return [IndicatorInput(**ind(v, k)) for k, v in pairs]


def test_rows_matched_by_value_in_order_even_when_types_share_a_value() -> None:
    items = _items(("FileSha1", SHA1), ("CertificateThumbprint", SHA1), ("FileSha256", "c" * 64))
    rows = [
        {"id": "3", "indicator": "c" * 64, "isFailed": False, "failureReason": None},
        {"id": "1", "indicator": SHA1.upper(), "isFailed": False, "failureReason": None},
        {"id": None, "indicator": SHA1, "isFailed": True, "failureReason": "nope"},
    ]
    out = match_import_rows(items, rows)
    assert [(r.id, r.failed, r.reason) for r in out] == [
        ("1", False, None),
        (None, True, "nope"),
        ("3", False, None),
    ]


def test_rows_fall_back_on_position_and_nothing_is_lost() -> None:
    items = _items(("IpAddress", "2001:db8::1"), ("FileSha256", "d" * 64))
    rewritten = [
        {"id": "7", "indicator": "2001:0db8:0000::1", "isFailed": False},
        {"id": "8", "indicator": "d" * 64, "isFailed": False},
    ]
    assert [r.id for r in match_import_rows(items, rewritten)] == ["7", "8"]
    short = match_import_rows(items, rewritten[1:])
    assert [(r.id, r.failed) for r in short] == [(None, True), ("8", False)]
    assert "no result" in (short[0].reason or "")
    assert all(r.failed for r in match_import_rows(items, []))


def test_limit_message_is_recognised_and_explained() -> None:
    reason = "The maximum number of active indicators (15,000) for this tenant has been reached."
    row = {"id": None, "indicator": "e" * 64, "isFailed": True, "failureReason": reason}
    (result,) = match_import_rows(_items(("FileSha256", "e" * 64)), [row])
    assert result.limit_reached and "delete indicators" in (result.reason or "")
    assert limit_reached("quota of 15000 exceeded") and not limit_reached("invalid value")
    assert MAX_ACTIVE == emu.MAX_ACTIVE == 15_000


def test_indicator_ids() -> None:
    assert check_indicator_id(42) == "42" and check_indicator_id(" 7 ") == "7"
    for bad in ("", "a1", "1/2", True, "1" * 21):
        with pytest.raises(ValidationError):
            check_indicator_id(bad)


def test_indicator_model_reads_both_spellings_and_legacy_actions() -> None:
    m = Indicator.model_validate(
        {
            "id": 995,
            "indicatorValue": "12.13.14.15",
            "indicatorType": "IpAddress",
            "action": "Alert",
            "rbacGroupNames": "Group1, Group2",
            "rbacGroupIds": [1, 2],
            "externalID": "ext-1",
            "somethingNew": True,
        }
    )
    assert m.id == "995" and m.uses_legacy_action and m.rbac_group_names == ["Group1", "Group2"]
    assert m.external_id == "ext-1" and m.key == ("IpAddress", "12.13.14.15")
    assert m.to_api()["somethingNew"] is True  # unknown fields kept


def _incident(entities: list[dict[str, Any]]) -> Incident:
    return Incident.model_validate(
        {
            "incidentId": 7,
            "incidentName": "IR-7",
            "alerts": [{"alertId": "a1", "entities": entities}],
        }
    )


def test_indicators_from_entities_sets_aside_what_cannot_be_blocked() -> None:
    incident = _incident(
        [
            {"entityType": "File", "sha1": SHA1, "fileName": "x.exe"},
            {"entityType": "File", "sha1": SHA1, "sha256": "f" * 64},
            {"entityType": "Ip", "ipAddress": "10.1.2.3"},
            {"entityType": "Ip", "ipAddress": "fe80::1"},
            {"entityType": "Ip", "ipAddress": "198.51.100.7"},
            {"entityType": "Ip", "ipAddress": "198.51.100.7"},
            {"entityType": "Url", "url": "https://cdn.evil.example/p"},
            {"entityType": "Url", "url": "http://203.0.113.8/x"},
            {"entityType": "Url", "url": "notaurl"},
            {"entityType": "User", "accountName": "jdoe", "domainName": "CONTOSO"},
        ]
    )
    valid, aside = indicators_from_entities(incident)
    assert [(i.type.value, i.value) for i in valid] == [
        ("FileSha1", SHA1),
        ("FileSha256", "f" * 64),
        ("IpAddress", "198.51.100.7"),
        ("Url", "https://cdn.evil.example/p"),
        ("DomainName", "cdn.evil.example"),
        ("Url", "http://203.0.113.8/x"),
    ]
    assert all(i.title.startswith("prefect-defender: incident 7") for i in valid)
    assert valid[0].description == "From incident 7: IR-7"
    assert [(o.item, o.status) for o in aside] == [
        ("IpAddress:10.1.2.3", "skipped"),
        ("IpAddress:fe80::1", "skipped"),
        ("Url:notaurl", "failed"),
    ]
    ips, _ = indicators_from_entities(incident, kinds=("ip",), block_internal_ips=True)
    assert [i.value for i in ips] == ["10.1.2.3", "fe80::1", "198.51.100.7"]
    with pytest.raises(ValidationError, match="kinds"):
        indicators_from_entities(incident, kinds=("email",))


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"indicatorValue": "a" * 63}, "64 hexadecimal"),
        ({"indicatorValue": "1.2.3.0/24", "indicatorType": "IpAddress"}, "CIDR"),
        ({"action": "Audit"}, "generateAlert"),
        ({"IndicatorValue": "a" * 64}, "unknown parameter 'IndicatorValue'"),
        ({"expirationTime": "2001-01-01T00:00:00Z"}, "future"),
        ({"severity": "Critical"}, "severity"),
    ],
)
def test_emulator_checks_each_item(body: dict[str, Any], needle: str) -> None:
    base = {
        "indicatorValue": "a" * 64,
        "indicatorType": "FileSha256",
        "action": "Block",
        "title": "t",
        "description": "d",
    }
    problem = emu._validate({**base, **body})
    assert problem is not None and needle in problem[1]
    assert emu._validate(base) is None
    assert emu._validate({**base, "rbacGroupNames": "g1,g2"}) is None  # both documented forms
