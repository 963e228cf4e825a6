"""Machine tasks end to end: filtered listing, lookups, find by IP/tag, tags, related data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.tasks import machines as machine_tasks
from prefect_defender.tasks.machines import (
    find_machines_by_ip,
    find_machines_by_tag,
    get_machine,
    get_machine_alerts,
    get_machine_logon_users,
    list_machines,
    tag_machine,
    tag_machines,
    untag_machine,
)
from tests.machines.conftest import requests


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")[:26]).replace(tzinfo=UTC)


@pytest.fixture
def seeded(fresh: Any, tenants: dict[str, str]) -> list[dict[str, Any]]:
    return list(fresh.admin.dump(tenants["contoso"], "machines"))


async def test_list_machines_filters(prefect_harness, fresh, creds, seeded) -> None:
    all_ids = {m["id"] for m in seeded}
    assert {m.id for m in await list_machines(creds)} == all_ids
    linux = await list_machines(creds, os_platform="Linux")
    assert linux and {m.id for m in linux} == {
        m["id"] for m in seeded if m["osPlatform"] == "Linux"
    }
    inactive = await list_machines(creds, health_status="inactive")  # any case accepted
    assert {m.id for m in inactive} == {m["id"] for m in seeded if m["healthStatus"] == "Inactive"}
    high_ws = await list_machines(creds, risk_score="High", name_startswith="con-ws-")
    assert {m.id for m in high_ws} == {
        m["id"]
        for m in seeded
        if m["riskScore"] == "High" and m["computerDnsName"].startswith("con-ws-")
    }
    tagged = await list_machines(creds, tag="DomainController")
    assert sorted(m.computer_dns_name or "" for m in tagged) == [
        "con-dc01.contoso.example",
        "con-dc02.contoso.example",
    ]
    one = await list_machines(creds, name="con-dc01.contoso.example")
    assert [m.machine_tags for m in one] == [["DomainController", "Tier0"]]
    since = datetime.now(UTC) - timedelta(hours=12)
    recent = await list_machines(creds, seen_since=since)
    assert {m.id for m in recent} == {m["id"] for m in seeded if _time(m["lastSeen"]) >= since}
    assert len(await list_machines(creds, limit=5)) == 5


async def test_list_machines_validation_sends_nothing(prefect_harness, fresh, creds) -> None:
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="health_status"):
        await list_machines(creds, health_status="Healthy")
    with pytest.raises(ValidationError, match="risk_score"):
        await list_machines(creds, risk_score="Severe")
    with pytest.raises(ValidationError, match="seen_since"):
        await list_machines(creds, seen_since=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValidationError, match="tag"):
        await list_machines(creds, tag="")
    assert requests(fresh.admin.stats()) == 0
    # a raw filter on an undocumented property is Defender's 400 ODataError
    with pytest.raises(BadRequestError) as info:
        await list_machines(creds, odata_filter="machineName eq 'x'")
    assert info.value.code == "ODataError"


async def test_get_machine_by_id_or_name(prefect_harness, fresh, creds, seeded) -> None:
    dc = next(m for m in seeded if m["computerDnsName"] == "con-dc01.contoso.example")
    by_id = await get_machine(creds, dc["id"].upper())
    by_name = await get_machine(creds, "con-dc01.contoso.example")
    assert by_id.id == by_name.id == dc["id"]
    assert by_name.os_platform == "WindowsServer2022" and by_name.device_value == "High"
    assert by_name.ip_addresses[0].ip_address == dc["lastIpAddress"]
    with pytest.raises(NotFoundError):
        await get_machine(creds, "no-such-host.contoso.example")
    with pytest.raises(ValidationError):
        await get_machine(creds, "../machines")


async def test_find_machines_by_ip(prefect_harness, fresh, creds, seeded) -> None:
    m = seeded[7]
    older, current = m["_ipHistory"]
    found = await find_machines_by_ip(creds, current["ip"], _time(current["time"]))
    assert m["id"] in {x.id for x in found}
    # an earlier lease: found at its time, not two hours after it ended (+/- 15 min window)
    at_lease = await find_machines_by_ip(creds, older["ip"], older["time"])  # ISO string
    assert [x.id for x in at_lease] == [m["id"]]
    after = _time(older["time"]) + timedelta(hours=2)
    assert await find_machines_by_ip(creds, older["ip"], after) == []
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="30 days"):
        await find_machines_by_ip(creds, current["ip"], datetime.now(UTC) - timedelta(days=31))
    with pytest.raises(ValidationError, match="ip"):
        await find_machines_by_ip(creds, "10.0.0.300")
    with pytest.raises(ValidationError, match="timezone"):
        await find_machines_by_ip(creds, current["ip"], datetime(2026, 1, 1))
    assert requests(fresh.admin.stats()) == 0


async def test_find_machines_by_tag(prefect_harness, fresh, creds, seeded) -> None:
    dcs = await find_machines_by_tag(creds, "DomainController")
    assert len(dcs) == 2
    prefixed = await find_machines_by_tag(creds, "Domain", starts_with=True)
    assert {m.id for m in prefixed} == {m.id for m in dcs}
    assert await find_machines_by_tag(creds, "Domain") == []
    with pytest.raises(ValidationError):
        await find_machines_by_tag(creds, "x" * 201)


async def test_tag_and_untag_one_machine(
    prefect_harness, fresh, creds, readonly, tenants, seeded
) -> None:
    mid = seeded[20]["id"]
    tagged = await tag_machine(creds, mid, "IR-7 contained")
    assert "IR-7 contained" in tagged.machine_tags
    stored = next(m for m in fresh.admin.dump(tenants["contoso"], "machines") if m["id"] == mid)
    assert "IR-7 contained" in stored["machineTags"]  # persisted on the machine
    assert [m.id for m in await find_machines_by_tag(creds, "IR-7 contained")] == [mid]
    again = await tag_machine(creds, mid, "IR-7 contained")  # adding twice is harmless
    assert again.machine_tags.count("IR-7 contained") == 1
    untagged = await untag_machine(creds, mid, "IR-7 contained")
    assert "IR-7 contained" not in untagged.machine_tags
    with pytest.raises(PermissionDeniedError) as info:
        await tag_machine(readonly, mid, "nope")
    assert "Machine.ReadWrite.All" in info.value.required
    with pytest.raises(NotFoundError):
        await tag_machine(creds, "a" * 40, "x")
    fresh.admin.reset_stats()
    for bad in ("", "a" * 201, "bad\x01tag"):
        with pytest.raises(ValidationError, match="tag"):
            await tag_machine(creds, mid, bad)
    assert requests(fresh.admin.stats()) == 0


async def test_tag_machines_in_chunks_one_outcome_each(
    prefect_harness, fresh, creds, tenants, seeded, monkeypatch
) -> None:
    monkeypatch.setattr(machine_tasks, "TAG_BATCH", 25)  # 60 machines -> 3 calls
    ids = [m["id"] for m in seeded] + ["b" * 40]
    dry = await tag_machines(creds, ids, "Wave-1", dry_run=True)
    assert {o.status for o in dry} == {"dry_run"} and dry[-1].result["call"] == 3
    bulk_route = "POST /api/machines/AddOrRemoveTagForMultipleMachines"
    assert requests(fresh.admin.stats(), bulk_route) == 0
    outcomes = await tag_machines(creds, ids, "Wave-1")
    assert [o.item for o in outcomes] == ids
    assert [o.status for o in outcomes] == ["succeeded"] * 60 + ["failed"]
    assert outcomes[-1].error["code"] == "ResourceNotFound"
    stats = fresh.admin.stats()
    assert requests(stats, bulk_route, 200) == 3
    wave = await find_machines_by_tag(creds, "Wave-1")
    assert len(wave) == 60
    removed = await tag_machines(creds, ids[:60], "Wave-1", remove=True)
    assert {o.status for o in removed} == {"succeeded"}
    assert await find_machines_by_tag(creds, "Wave-1") == []


async def test_tag_machines_batch_limit_enforced(prefect_harness, fresh, creds, seeded) -> None:
    ids = [f"{i:040x}" for i in range(501)]
    async with creds.get_client() as client:
        with pytest.raises(ValidationError, match="500"):
            await client.machines.set_tag_many(ids, "x")
        # the emulator enforces the documented maximum too
        with pytest.raises(BadRequestError) as info:
            await client.transport.request_json(
                endpoint("mde.machines.tag_many"),
                json={"Value": "x", "Action": "Add", "MachineIds": ids},
            )
        assert info.value.code == "MaximumBatchSizeExceeded"
        # body parameter names are case-sensitive
        with pytest.raises(BadRequestError) as info:
            await client.transport.request_json(
                endpoint("mde.machines.tag"),
                path_params={"id": seeded[0]["id"]},
                json={"value": "x", "action": "Add"},
            )
        assert info.value.code == "InvalidRequestBody"


async def test_logon_users_and_alerts(prefect_harness, fresh, creds, tenants, seeded) -> None:
    dc = next(m for m in seeded if m["computerDnsName"] == "con-dc01.contoso.example")
    users = await get_machine_logon_users(creds, dc["id"])
    admins = [u.account_name for u in users if u.is_domain_admin]
    assert admins == ["da-admin"]
    assert all(u.account_sid and u.account_sid.startswith("S-1-5-21-") for u in users)
    alerts = fresh.admin.dump(tenants["contoso"], "alerts")
    with_alerts = next(a["machineId"] for a in alerts if a.get("machineId"))
    got = await get_machine_alerts(creds, with_alerts)
    assert {a.id for a in got} == {a["id"] for a in alerts if a.get("machineId") == with_alerts}
    assert all(a.severity for a in got)
    users = await get_machine_logon_users(creds, with_alerts)
    related = {
        a["relatedUser"]["userName"]
        for a in alerts
        if a.get("machineId") == with_alerts and a.get("relatedUser")
    }
    assert related <= {u.account_name for u in users}
    for task in (get_machine_logon_users, get_machine_alerts):
        with pytest.raises(NotFoundError):
            await task(creds, "c" * 40)
        with pytest.raises(ValidationError):
            await task(creds, "not-an-id")
