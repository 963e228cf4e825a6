"""Indicators end to end: validation before the network, batches of 500, per-item outcomes,
batch delete with missing ids, the 15,000 active limit, own-indicator visibility."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.api.resources.indicators import IndicatorLimitError
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
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


def _count(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


def _nothing_sent(stats: dict) -> bool:
    return _count(stats) == 0 and not stats["token_requests"]


def ind(value: str, kind: str = "FileSha256", **kw: Any) -> dict:
    return {"value": value, "type": kind, "action": "Block", "title": "t", "description": "d", **kw}


def _stored(fresh: Any, tenant: str) -> dict[tuple[str, str], dict]:
    return {
        (i["indicatorType"], i["indicatorValue"].lower()): i
        for i in fresh.admin.dump(tenant, "indicators")
    }


async def test_submit_list_delete(prefect_harness, fresh, creds, tenants) -> None:
    exp = datetime.now(UTC) + timedelta(days=7)
    created = await submit_indicator(
        creds, ind("203.0.113.77", "IpAddress", expiration_time=exp, severity="High")
    )
    assert created.indicator_value == "203.0.113.77" and created.action == "Block"
    assert created.severity == "High" and created.expiration_time is not None
    again = await submit_indicator(creds, ind("203.0.113.77", "IpAddress", title="updated"))
    assert again.id == created.id and again.title == "updated"  # create-or-update
    found = await list_indicators(creds, indicator_type="IpAddress", value="203.0.113.77")
    assert [i.id for i in found] == [created.id]
    legacy = await list_indicators(creds, action="AlertAndBlock")
    assert legacy and all(i.action == "AlertAndBlock" and i.uses_legacy_action for i in legacy)
    assert not any(i.id == created.id for i in await list_indicators(creds, severity="Low"))
    await delete_indicator(creds, created.id)
    assert ("IpAddress", "203.0.113.77") not in _stored(fresh, tenants["contoso"])
    with pytest.raises(NotFoundError):
        await delete_indicator(creds, created.id)


async def test_write_refusals_send_nothing(prefect_harness, fresh, creds) -> None:
    cases = [
        ({**ind("a" * 64), "action": "AlertAndBlock"}, "use Block"),
        ({**ind("a" * 64), "action": "Alert"}, "use Audit"),
        (ind("a" * 64, action="Audit"), "generate_alert"),
        (ind("a" * 64, expiration_time=datetime.now(UTC) - timedelta(minutes=1)), "future"),
        (ind("a" * 64, expiration_time="next week"), "ISO 8601"),
        (ind("a" * 64, title="bad\x07title"), "control characters"),
        (ind("a" * 64, rbac_group_names="g1,g2"), "rbac_group_names"),
        (ind("a" * 64, severity="Critical"), "severity"),
        (ind("10.0.0.0/8", "IpAddress"), "CIDR"),
        (ind("a" * 64, "FileSha1"), "SHA1"),
    ]
    for body, text in cases:
        with pytest.raises(ValidationError, match=text):
            await submit_indicator(creds, body)
    assert _nothing_sent(fresh.admin.stats())


async def test_import_1200_in_three_batches(prefect_harness, fresh, creds, tenants) -> None:
    hashes = [f"{i:064x}" for i in range(10_001, 11_201)]
    items = [ind(h) for h in hashes] + [ind(hashes[0])]  # one duplicate
    outcomes = await import_indicators(creds, items)
    assert len(outcomes) == 1201
    assert [o.item for o in outcomes[:2]] == [f"FileSha256:{hashes[0]}", f"FileSha256:{hashes[1]}"]
    assert all(o.status == "succeeded" and o.result["id"] for o in outcomes)
    assert outcomes[0].result == outcomes[-1].result  # the duplicate maps to the same id
    assert len({o.result["id"] for o in outcomes}) == 1200
    stats = fresh.admin.stats()
    imports = [r for r in stats["requests"] if r["route"] == "POST /api/indicators/import"]
    assert sum(r["count"] for r in imports) == 3
    assert {r["family"] for r in imports} == {"indicators_import"}
    stored = _stored(fresh, tenants["contoso"])
    assert all(("FileSha256", h) in stored for h in hashes)
    ids = [o.result["id"] for o in outcomes[:600]]
    deleted = await delete_indicators(creds, ids)
    assert len(deleted) == 600 and all(o.status == "succeeded" for o in deleted)
    batch = [
        r
        for r in fresh.admin.stats()["requests"]
        if r["route"] == "POST /api/indicators/BatchDelete"
    ]
    assert [(r["status"], r["count"], r["family"]) for r in batch] == [
        (204, 2, "indicators_batch_delete")
    ]
    stored = _stored(fresh, tenants["contoso"])
    assert not any(("FileSha256", h) in stored for h in hashes[:600])
    assert all(("FileSha256", h) in stored for h in hashes[600:])


async def test_delete_indicators_reports_missing_ids(prefect_harness, fresh, creds, tenants):
    made = await import_indicators(creds, [ind(f"{i:064x}") for i in range(20_001, 20_004)])
    a, b, c = (o.result["id"] for o in made)
    await delete_indicator(creds, c)  # now missing
    out = await delete_indicators(creds, [a, "99999999", c, b, a])
    assert [o.item for o in out] == [a, "99999999", c, b, a]
    assert [o.status for o in out] == ["succeeded", "skipped", "skipped", "succeeded", "succeeded"]
    assert "not found" in (out[1].reason or "")
    left = {i["id"] for i in fresh.admin.dump(tenants["contoso"], "indicators")}
    assert not {a, b, c} & left
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match=r"indicator_ids\[1\]"):
        await delete_indicators(creds, ["1", "x1", "2"])
    assert _nothing_sent(fresh.admin.stats())


async def test_batch_delete_contract(prefect_harness, fresh, creds) -> None:
    async with creds.get_client() as client:
        with pytest.raises(BadRequestError) as empty:
            await client.call("mde.indicators.batch_delete", json={"IndicatorIds": []})
        assert empty.value.status == 400
        with pytest.raises(BadRequestError) as big:
            ids = [str(i) for i in range(1, 502)]
            await client.call("mde.indicators.batch_delete", json={"IndicatorIds": ids})
        assert big.value.code == "MaximumBatchSizeExceeded"
        with pytest.raises(BadRequestError, match="IndicatorIds"):
            await client.call("mde.indicators.batch_delete", json={"indicatorIds": ["1"]})
        with pytest.raises(NotFoundError, match="424242"):
            await client.indicators.batch_delete(["424242"])
        with pytest.raises(ValidationError):
            await client.indicators.batch_delete([])
        with pytest.raises(BadRequestError, match="10000"):  # documented $top maximum
            await client.call("mde.indicators.list", params={"$top": 10_001})


async def test_import_answers_per_item_failures(prefect_harness, fresh, creds, tenants) -> None:
    good = {"indicatorType": "FileSha256", "action": "Block", "title": "t", "description": "d"}
    body = {
        "Indicators": [
            {**good, "indicatorValue": "b" * 64},
            {**good, "indicatorValue": "b" * 63},  # a batch that bypassed the client's checks
            {**good, "indicatorValue": "c" * 64, "action": "Audit"},
            {**good, "indicatorValue": "d" * 64},
        ]
    }
    async with creds.get_client() as client:
        rows = (await client.call("mde.indicators.import", json=body))["value"]
    assert [r["isFailed"] for r in rows] == [False, True, True, False]
    assert "64 hexadecimal" in rows[1]["failureReason"]
    assert "generateAlert" in rows[2]["failureReason"]
    stored = _stored(fresh, tenants["contoso"])
    assert ("FileSha256", "b" * 64) in stored and ("FileSha256", "b" * 63) not in stored


async def test_active_indicator_limit(prefect_harness, fresh, creds, tenants) -> None:
    now = datetime.now(UTC)
    active = [
        i
        for i in fresh.admin.dump(tenants["contoso"], "indicators")
        if not i.get("expirationTime")
        or datetime.fromisoformat(i["expirationTime"].replace("Z", "+00:00")[:19] + "+00:00") > now
    ]
    fresh.admin.patch_config(indicators_max_active=len(active) + 2)
    try:
        values = [f"{i:064x}" for i in range(30_001, 30_006)]
        out = await import_indicators(creds, [ind(v) for v in values])
        assert [o.status for o in out] == ["succeeded"] * 2 + ["failed"] * 3
        assert all("15,000 active indicators" in (o.reason or "") for o in out[2:])
        with pytest.raises(IndicatorLimitError, match="15,000 active indicators"):
            await submit_indicator(creds, ind("e" * 64))
        # updating an indicator that exists adds no active indicator: still allowed
        updated = await submit_indicator(creds, ind(values[0], title="still fine"))
        assert updated.title == "still fine"
        await delete_indicators(creds, [out[0].result["id"], out[1].result["id"]])
        assert (await submit_indicator(creds, ind("e" * 64))).indicator_value == "e" * 64
    finally:
        fresh.admin.patch_config(indicators_max_active=None)


async def test_readonly_app_cannot_write(prefect_harness, fresh, conn) -> None:
    ro = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    with pytest.raises(PermissionDeniedError) as info:
        await submit_indicator(ro, ind("f" * 64))
    assert "Ti.ReadWrite" in str(info.value)
    out = await import_indicators(ro, [ind(f"{i:064x}") for i in range(40_001, 40_601)])
    assert len(out) == 600 and all(o.status == "failed" for o in out)
    assert out[-1].error["type"] == "PermissionDeniedError"
    # a missing permission stops the run: the second batch of 100 is never sent
    assert _count(fresh.admin.stats(), "POST /api/indicators/import") == 1
    with pytest.raises(PermissionDeniedError):
        await list_indicators(ro)


async def test_app_without_all_sees_only_its_own(prefect_harness, fresh, conn, creds, tenants):
    from prefect_defender.emulator.permissions import MDE_AUDIENCE

    partner = fresh.state.apps["partner"]
    saved = partner.roles
    partner.roles = {
        **saved,
        MDE_AUDIENCE: [r for r in saved[MDE_AUDIENCE] if r != "Ti.ReadWrite.All"],
    }
    contoso = tenants["contoso"]
    try:
        mine = DefenderPartnerCredentials.from_emulator(conn, tenants=["contoso"])
        own = await submit_indicator(mine, ind("1" * 64, "FileSha256"), tenant_id=contoso)
        seen = await list_indicators(mine, tenant_id=contoso)
        assert [i.id for i in seen] == [own.id]
        everyone = await list_indicators(creds)
        assert own.id in {i.id for i in everyone} and len(everyone) > 1
        portal = next(i for i in everyone if i.action == "AlertAndBlock")
        with pytest.raises(NotFoundError):
            await delete_indicator(mine, portal.id, tenant_id=contoso)
        with pytest.raises(PermissionDeniedError):  # cannot update another app's indicator
            await submit_indicator(
                mine, ind(portal.indicator_value or "", "FileSha256"), tenant_id=contoso
            )
        await delete_indicator(mine, own.id, tenant_id=contoso)
    finally:
        partner.roles = saved


async def test_indicators_from_incident_entities(prefect_harness, fresh, creds, tenants) -> None:
    incident = await get_incident(creds, 1001)
    valid, set_aside = indicators_from_entities(incident, action="Audit")
    kinds = {(i.type.value, i.value) for i in valid}
    assert (
        "FileSha256",
        "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
    ) in kinds
    assert ("IpAddress", "203.0.113.66") in kinds
    assert ("DomainName", "update-check.evil.example") in kinds
    assert ("Url", "https://login.contoso-support.example/reset") in kinds
    assert all(i.expiration_time and i.generate_alert for i in valid) and set_aside == []
    outcomes = await import_indicators(creds, valid)
    assert len(outcomes) == len(valid) and all(o.status == "succeeded" for o in outcomes)
    stored = _stored(fresh, tenants["contoso"])
    assert stored[("IpAddress", "203.0.113.66")]["action"] == "Audit"


# -- hypothesis: invalid indicator values never reach the network -------------------------

HEX = "0123456789abcdef"
LENGTHS = {"FileSha1": 40, "CertificateThumbprint": 40, "FileSha256": 64, "FileMd5": 32}


def _wrong_length(kind: str) -> st.SearchStrategy[str]:
    n = LENGTHS[kind]
    return (
        st.integers(1, 90)
        .filter(lambda k: k != n)
        .flatmap(lambda k: st.text(HEX, min_size=k, max_size=k))
    )


def _not_hex(kind: str) -> st.SearchStrategy[str]:
    n = LENGTHS[kind]
    return st.tuples(
        st.text(HEX, min_size=n - 1, max_size=n - 1),
        st.sampled_from("ghijklmnopqrstuvwxyzG!@#-_ ./"),
        st.integers(0, n - 1),
    ).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :])


_octet = st.integers(0, 255)
INVALID: dict[str, st.SearchStrategy[str]] = {
    **{k: st.one_of(_wrong_length(k), _not_hex(k)) for k in LENGTHS},
    "IpAddress": st.one_of(
        st.ip_addresses(v=4).flatmap(lambda ip: st.integers(0, 32).map(lambda p: f"{ip}/{p}")),
        st.tuples(st.integers(256, 999), _octet, _octet, _octet).map(
            lambda t: ".".join(map(str, t))
        ),
        st.from_regex(r"[a-z]{1,12}(\.[a-z]{2,5})?", fullmatch=True),
    ),
    "DomainName": st.one_of(
        st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),  # no dot
        st.from_regex(r"[a-z]{1,8}[ /\\:@?#*][a-z]{1,8}\.example", fullmatch=True),
        st.from_regex(r"-[a-z]{1,8}\.example|[a-z]{1,8}\.\.example", fullmatch=True),
        st.from_regex(r"https?://[a-z]{1,8}\.example/?", fullmatch=True),
    ),
    "Url": st.one_of(
        st.from_regex(r"[a-z]{1,10}\.example(/[a-z]{0,6})?", fullmatch=True),  # no scheme
        st.from_regex(r"(ftp|file|javascript):/?/?[a-z]{1,10}", fullmatch=True),
        st.from_regex(r"https?://[a-z]{1,5} [a-z]{1,5}\.example/", fullmatch=True),
        st.just("http://"),
    ),
}
VALID = {
    "FileSha1": "356a192b7913b04c54574d18c28d46e6395428ab",
    "FileSha256": "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
    "FileMd5": "c4ca4238a0b923820dcc509a6f75849b",
    "CertificateThumbprint": "356A192B7913B04C54574D18C28D46E6395428AB",
    "IpAddress": "203.0.113.9",
    "DomainName": "bad.example",
    "Url": "https://bad.example/x",
}


@st.composite
def _invalid_item(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(sorted(INVALID)))
    return kind, draw(INVALID[kind])


@given(bad=_invalid_item(), position=st.integers(0, 6), kinds=st.permutations(sorted(VALID)))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_invalid_indicator_values_never_reach_the_network(fresh, creds, bad, position, kinds):
    kind, value = bad
    items = [ind(VALID[k], k) for k in kinds]
    items.insert(position, ind(value, kind))
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError) as info:
        asyncio.run(import_indicators.fn(creds, items))
    assert f"[{position}]" in str(info.value)
    assert sum(f"[{i}]" in str(info.value) for i in range(len(items))) == 1
    with pytest.raises(ValidationError):
        asyncio.run(submit_indicator.fn(creds, ind(value, kind)))
    assert _nothing_sent(fresh.admin.stats())
