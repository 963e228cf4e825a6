"""Incidents and alerts end to end: list, get, update, comment, batch, create, related."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prefect_defender.api.errors import NotFoundError, PermissionDeniedError, ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.alerts import (
    add_graph_alert_comment,
    batch_update_alerts,
    create_alert_by_reference,
    get_alert,
    get_alert_related,
    get_graph_alert,
    list_alerts,
    list_graph_alerts,
    update_alert,
    update_graph_alert,
)
from prefect_defender.tasks.incidents import (
    add_graph_incident_comment,
    add_incident_comment,
    get_graph_incident,
    get_incident,
    list_graph_incidents,
    list_incidents,
    update_graph_incident,
    update_incident,
)


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


@pytest.fixture
def readonly(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, app="readonly")


def _count(stats: dict) -> int:
    return sum(r["count"] for r in stats["requests"])


async def test_list_get_update_comment_incident(prefect_harness, fresh, creds) -> None:
    high = await list_incidents(creds, status="Active", severities=["High"])
    assert high and all(i.severity == "High" and i.status == "Active" for i in high)
    demo = min(high, key=lambda i: i.incident_id)
    full = await get_incident(creds, demo.incident_id)
    assert full.alerts and full.device_ids()
    assert any(e.entity_type == "File" for a in full.alerts for e in a.entities)
    updated = await update_incident(
        creds,
        demo.incident_id,
        status="InProgress",
        assigned_to="soc@contoso.example",
        classification="TruePositive",
        determination="Malware",
        tags=["playbook"],
    )
    assert (updated.status, updated.assigned_to, updated.determination) == (
        "InProgress",
        "soc@contoso.example",
        "Malware",
    )
    assert updated.last_update_time and updated.last_update_time > full.last_update_time
    commented = await add_incident_comment(creds, demo.incident_id, "isolated after approval")
    assert commented.comments[-1].comment == "isolated after approval"
    since = datetime.now(UTC) - timedelta(minutes=1)
    recent = await list_incidents(creds, updated_since=since)
    assert demo.incident_id in [i.incident_id for i in recent]


async def test_incident_errors(prefect_harness, fresh, creds, readonly) -> None:
    with pytest.raises(NotFoundError):
        await get_incident(creds, 999999)
    with pytest.raises(PermissionDeniedError) as info:
        await update_incident(readonly, 1001, status="Resolved")
    assert "Incident.ReadWrite.All" in str(info.value)
    assert info.value.api == "Microsoft Threat Protection"
    fresh.admin.reset_stats()
    for kwargs in (
        {"status": "Closed"},
        {"determination": "Malware"},  # needs a classification
        {"classification": "FalsePositive", "determination": "Malware"},  # wrong group
        {"comment": "x\x07y"},
        {},
    ):
        with pytest.raises(ValidationError):
            await update_incident(creds, 1001, **kwargs)
    assert _count(fresh.admin.stats()) == 0


async def test_graph_incidents(prefect_harness, fresh, creds) -> None:
    found = await list_graph_incidents(creds, severity="high", expand_alerts=True, limit=5)
    assert found and all(i.severity == "high" for i in found)
    assert any(a.evidence for i in found for a in i.alerts)
    one = await get_graph_incident(creds, int(found[0].id))
    kinds = {e["@odata.type"] for a in one.alerts for e in a.evidence}
    assert "#microsoft.graph.security.deviceEvidence" in kinds
    upd = await update_graph_incident(
        creds, int(one.id), status="inProgress", custom_tags=["triaged"]
    )
    assert upd.status == "inProgress" and upd.custom_tags == ["triaged"]
    comments = await add_graph_incident_comment(creds, int(one.id), "graph comment")
    assert comments[-1]["comment"] == "graph comment"
    with pytest.raises(ValidationError):
        await update_graph_incident(creds, int(one.id), status="Resolved")  # Graph is camelCase


async def test_alerts_lifecycle(prefect_harness, fresh, creds, readonly) -> None:
    alerts = await list_alerts(creds, status="New", expand_evidence=True, limit=20)
    assert alerts and all(a.status == "New" for a in alerts)
    assert any(a.evidence for a in alerts)
    first = alerts[0]
    got = await get_alert(creds, first.id)
    assert got.id == first.id and got.machine_id
    upd = await update_alert(
        creds, first.id, status="InProgress", assigned_to="analyst", comment="looking"
    )
    assert upd.status == "InProgress" and upd.comments[-1]["comment"] == "looking"
    ids = [a.id for a in alerts[1:4]]
    assert (
        await batch_update_alerts(
            creds,
            ids,
            status="Resolved",
            classification="FalsePositive",
            determination="NotMalicious",
        )
        == 3
    )
    for aid in ids:
        assert (await get_alert(creds, aid)).status == "Resolved"
    related = await get_alert_related(creds, first.id)
    assert related["machine"]["id"] == first.machine_id
    assert set(related) == {"domains", "files", "ips", "machine", "user"}
    with pytest.raises(PermissionDeniedError):
        await update_alert(readonly, first.id, status="Resolved")
    with pytest.raises(NotFoundError):
        await get_alert(creds, "da000000000000000000_1")


async def test_create_alert_by_reference(prefect_harness, fresh, creds, tenants) -> None:
    mid = fresh.admin.dump(tenants["contoso"], "machines")[0]["id"]
    when = datetime.now(UTC) - timedelta(minutes=5)
    alert = await create_alert_by_reference(
        creds,
        mid,
        "4242",
        when,
        "High",
        "Hunted: encoded PowerShell",
        "desc",
        "Isolate",
        "Execution",
    )
    assert alert.machine_id == mid and alert.severity == "High"
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="category"):
        await create_alert_by_reference(creds, mid, "1", when, "High", "t", "d", "r", "Spam")
    with pytest.raises(ValidationError, match="severity"):
        await create_alert_by_reference(
            creds, mid, "1", when, "Critical", "t", "d", "r", "Execution"
        )
    with pytest.raises(ValidationError, match="title"):
        await create_alert_by_reference(creds, mid, "1", when, "High", "", "d", "r", "Execution")
    assert _count(fresh.admin.stats()) == 0


async def test_graph_alerts(prefect_harness, fresh, creds) -> None:
    alerts = await list_graph_alerts(creds, limit=10)
    assert alerts and alerts[0].evidence
    a = await get_graph_alert(creds, alerts[0].id)
    upd = await update_graph_alert(
        creds, a.id, status="resolved", classification="truePositive", determination="malware"
    )
    assert upd.status == "resolved" and upd.classification == "truePositive"
    comments = await add_graph_alert_comment(creds, a.id, "done")
    assert comments[-1]["comment"] == "done"
