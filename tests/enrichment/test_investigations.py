"""Automated investigations end to end: list with the documented filters, get by id or by
triggering alert, errors; starting one is retired (MC1411577) and refused before sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prefect_defender.api.errors import ApiRetiredError, NotFoundError, ValidationError
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


async def test_start_is_retired_and_nothing_is_sent(prefect_harness, fresh, creds, tenants):
    """MC1411577: AIR cannot be started on demand since 1 September 2026. The task refuses
    before any token or API request, naming Microsoft's replacement (a Full antivirus scan)."""
    mid = fresh.admin.dump(tenants["contoso"], "machines")[3]["id"]
    with pytest.raises(ApiRetiredError) as info:
        await inv.start_investigation(creds, mid, "IR-9: suspicious logons")
    assert info.value.replacement == ("mde.actions.av_scan",)
    assert info.value.status == 0 and str(info.value.retired_on) == "2026-09-01"
    assert "MC1411577" in str(info.value) and "Full antivirus scan" in str(info.value)
    assert not isinstance(info.value, NotFoundError)
    with pytest.raises(ValidationError):  # bad input is still named first
        await inv.start_investigation(creds, "not-a-machine", "IR-9")
    with pytest.raises(ValidationError):
        await inv.start_investigation(creds, mid, "")
    stats = fresh.admin.stats()
    assert _count(stats) == 0 and not stats["token_requests"]


async def test_the_emulator_answers_start_as_retired(prefect_harness, fresh, creds, tenants):
    """Another client sending it anyway gets the retired route's 404 (MDE error body)."""
    mid = fresh.admin.dump(tenants["contoso"], "machines")[3]["id"]
    client = creds.get_client()
    try:
        token = await client.transport.provider.get_token(client.endpoints.scope("mde"))
        http = client.transport._http()
        resp = await http.post(
            f"{client.endpoints.base_url('mde')}/api/machines/{mid}/startInvestigation",
            json={"Comment": "IR-9"},
            headers={"Authorization": f"Bearer {token.token}"},
        )
    finally:
        await client.aclose()
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "NotFound"
    assert "no longer" in resp.json()["error"]["message"]
