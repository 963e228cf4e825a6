"""Automated investigations end to end: list with the documented filters, get by id or by
triggering alert, start (201, its own quota family), errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prefect_defender.api.errors import NotFoundError, PermissionDeniedError, ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks import investigations as inv


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


def _count(stats: dict, route: str | None = None) -> int:
    return sum(r["count"] for r in stats["requests"] if route is None or r["route"] == route)


async def test_list_and_get(prefect_harness, fresh, creds, tenants) -> None:
    everything = await inv.list_investigations(creds, limit=None)
    alerts = fresh.admin.dump(tenants["contoso"], "alerts")
    assert {i.triggering_alert_id for i in everything} >= {a["id"] for a in alerts}
    running = await inv.list_investigations(creds, state="Running")
    assert running and all(i.state == "Running" and not i.is_final for i in running)
    demo = next(a for a in alerts if a["incidentId"] == 1001)
    on_machine = await inv.list_investigations(creds, machine_id=demo["machineId"])
    assert on_machine and all(i.machine_id == demo["machineId"] for i in on_machine)
    by_alert = await inv.list_investigations(creds, triggering_alert_id=demo["id"])
    assert [i.triggering_alert_id for i in by_alert] == [demo["id"]]
    assert by_alert[0].id == str(demo["investigationId"])
    one = await inv.get_investigation(creds, by_alert[0].id)
    assert one.triggering_alert_id == demo["id"] and one.machine_id == demo["machineId"]
    via_alert = await inv.get_investigation(creds, demo["id"])  # documented: alert id works
    assert via_alert.id == one.id
    recent = await inv.list_investigations(
        creds, started_after=datetime.now(UTC) - timedelta(hours=2)
    )
    assert one.id in {i.id for i in recent} and len(recent) < len(everything)
    with pytest.raises(NotFoundError):
        await inv.get_investigation(creds, "1")
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="PendingApproval"):
        await inv.list_investigations(creds, state="running")  # case-sensitive: listed values
    with pytest.raises(ValidationError):
        await inv.list_investigations(creds, started_after=datetime(2025, 1, 1))  # naive
    with pytest.raises(ValidationError):
        await inv.get_investigation(creds, "../machines")
    assert _count(fresh.admin.stats()) == 0


async def test_start(prefect_harness, fresh, creds, conn, tenants) -> None:
    mid = fresh.admin.dump(tenants["contoso"], "machines")[3]["id"]
    started = await inv.start_investigation(creds, mid, "IR-9: suspicious logons")
    assert started.machine_id == mid and started.state == "Running"
    assert (await inv.get_investigation(creds, started.id)).id == started.id
    rows = [
        r
        for r in fresh.admin.stats()["requests"]
        if r["route"] == "POST /api/machines/{id}/startInvestigation"
    ]
    assert [(r["status"], r["family"]) for r in rows] == [(201, "investigation_start")]
    with pytest.raises(NotFoundError):
        await inv.start_investigation(creds, "f" * 40, "IR-9")
    ro = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    with pytest.raises(PermissionDeniedError) as info:
        await inv.start_investigation(ro, mid, "IR-9")
    assert "Alert.ReadWrite.All" in str(info.value)
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        await inv.start_investigation(creds, "not-a-machine", "IR-9")
    with pytest.raises(ValidationError):
        await inv.start_investigation(creds, mid, "")
    with pytest.raises(ValidationError):
        await inv.start_investigation(creds, mid, "bad\x00comment")
    assert _count(fresh.admin.stats()) == 0


async def test_start_with_a_lost_answer_is_not_sent_twice(prefect_harness, fresh, creds, tenants):
    tid = tenants["contoso"]
    mid = fresh.admin.dump(tid, "machines")[5]["id"]
    before = {i["id"] for i in fresh.admin.dump(tid, "investigations")}
    route = "POST /api/machines/{id}/startInvestigation"
    fresh.admin.patch_config(faults={"reset_after": 1.0, "routes": [route]})
    try:
        started = await inv.start_investigation(creds, mid, "IR-11: answer lost on the way back")
    finally:
        fresh.admin.patch_config(faults={"reset_after": 0.0, "routes": None})
    new = [i for i in fresh.admin.dump(tid, "investigations") if i["id"] not in before]
    assert [i["id"] for i in new] == [started.id] and started.machine_id == mid
    assert _count(fresh.admin.stats(), route) == 1  # looked up, not re-sent
