"""Indicators end to end: validation before the network, batches of 500, per-item outcomes."""

from __future__ import annotations

import asyncio
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import NotFoundError, ValidationError
from prefect_defender.api.models.indicators import IndicatorInput
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.indicators import (
    delete_indicator,
    delete_indicators,
    import_indicators,
    indicators_from_entities,
    list_indicators,
    submit_indicator,
)


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


def _count(stats: dict) -> int:
    return sum(r["count"] for r in stats["requests"])


def ind(value: str, kind: str = "FileSha256", **kw) -> dict:
    return {"value": value, "type": kind, "action": "Block", "title": "t", "description": "d", **kw}


async def test_submit_list_delete(prefect_harness, fresh, creds) -> None:
    exp = datetime.now(UTC) + timedelta(days=7)
    created = await submit_indicator(
        creds, ind("203.0.113.66", "IpAddress", expiration_time=exp, severity="High")
    )
    assert created.indicator_value == "203.0.113.66" and created.action == "Block"
    again = await submit_indicator(creds, ind("203.0.113.66", "IpAddress", title="updated"))
    assert again.id == created.id and again.title == "updated"  # create-or-update
    found = await list_indicators(creds, indicator_type="IpAddress", value="203.0.113.66")
    assert [i.id for i in found] == [created.id]
    legacy = await list_indicators(creds, indicator_type="FileSha256")
    assert any(i.action == "AlertAndBlock" for i in legacy)  # legacy value kept on read
    await delete_indicator(creds, created.id)
    with pytest.raises(NotFoundError):
        await delete_indicator(creds, created.id)


async def test_import_1200_in_three_batches(prefect_harness, fresh, creds, tenants) -> None:
    hashes = [f"{i:064x}" for i in range(1, 1201)]
    items = [ind(h) for h in hashes] + [ind(hashes[0])]  # one duplicate
    outcomes = await import_indicators(creds, items)
    assert len(outcomes) == 1201
    assert all(o.status == "succeeded" for o in outcomes)
    assert outcomes[0].result == outcomes[-1].result  # the duplicate maps to the same id
    imports = [
        r for r in fresh.admin.stats()["requests"] if r["route"] == "POST /api/indicators/import"
    ]
    assert sum(r["count"] for r in imports) == 3
    stored = {i["indicatorValue"] for i in fresh.admin.dump(tenants["contoso"], "indicators")}
    assert set(hashes) <= stored
    ids = [o.result["id"] for o in outcomes[:600]]
    deleted = await delete_indicators(creds, ids)
    assert len(deleted) == 600 and all(o.status == "succeeded" for o in deleted)
    stored = {i["indicatorValue"] for i in fresh.admin.dump(tenants["contoso"], "indicators")}
    assert not set(hashes[:600]) & stored and set(hashes[600:]) <= stored


async def test_invalid_item_in_a_list_sends_nothing(prefect_harness, fresh, creds) -> None:
    await list_indicators(creds, limit=1)  # token cached
    fresh.admin.reset_stats()
    bad = [
        ind("a" * 64),
        ind("a" * 63),
        ind("10.0.0.0/8", "IpAddress"),
        ind("x", "Url"),
        {**ind("b" * 64), "action": "AlertAndBlock"},
        {**ind("c" * 64), "action": "Audit"},
    ]
    with pytest.raises(ValidationError) as info:
        await import_indicators(creds, bad)
    text = str(info.value)
    for index in ("[1]", "[2]", "[3]", "[4]", "[5]"):
        assert index in text
    assert "[0]" not in text and "CIDR" in text and "deprecated" in text
    assert _count(fresh.admin.stats()) == 0


async def test_indicators_from_incident_entities(prefect_harness, fresh, creds) -> None:
    incident = await get_incident(creds, 1001)
    valid, invalid = indicators_from_entities(incident)
    kinds = {i.type.value for i in valid}
    assert {"FileSha256", "IpAddress", "Url", "DomainName"} <= kinds
    assert all(i.expiration_time for i in valid)
    outcomes = await import_indicators(creds, valid)
    assert all(o.status == "succeeded" for o in outcomes)
    assert invalid == [] or all(o.status in ("failed", "skipped") for o in invalid)


HEX = "0123456789abcdef"


@given(
    value=st.text(alphabet=string.printable, max_size=70),
    kind=st.sampled_from(["FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint"]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hash_indicators_validated_against_type(value: str, kind: str) -> None:
    length = {"FileSha1": 40, "FileSha256": 64, "FileMd5": 32, "CertificateThumbprint": 40}[kind]
    ok = len(value.strip()) == length and all(c in HEX + HEX.upper() for c in value.strip())
    if ok:
        assert IndicatorInput(**ind(value, kind)).value == value.strip().lower()
    else:
        with pytest.raises(ValidationError):
            IndicatorInput(**ind(value, kind))


@given(values=st.lists(st.text(max_size=30), min_size=1, max_size=5))
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_invalid_ip_indicators_never_reach_the_network(fresh, creds, values) -> None:
    import ipaddress

    def valid(v: str) -> bool:
        try:
            ipaddress.ip_address(v.strip())
            return True
        except ValueError:
            return False

    if all(valid(v) for v in values):
        return  # only invalid lists are interesting here
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        asyncio.run(import_indicators.fn(creds, [ind(v, "IpAddress") for v in values]))
    assert _count(fresh.admin.stats()) == 0
