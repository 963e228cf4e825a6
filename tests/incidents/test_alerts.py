"""Alerts end to end (MDE and Graph alerts_v2): list, get, update, batch, create, related."""

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
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.outcomes import OutcomeStatus
from tests.incidents.helpers import SHA1, OwnIncident, make_incident, requests

BATCH = "POST /api/alerts/batchUpdate"
CREATE = "POST /api/alerts/CreateAlertByReference"


async def test_list_and_get_alerts(prefect_harness: Any, own: OwnIncident, creds: Any) -> None:
    mine = await list_alerts(creds, incident_id=own.incident_id, expand_evidence=True)
    assert sorted(a.id for a in mine) == sorted(own.alert_ids)
    assert all(a.evidence and a.status == "New" and a.severity == "High" for a in mine)
    assert {e["entityType"] for e in mine[0].evidence} >= {"File", "Ip", "Url", "User"}
    bare = await list_alerts(creds, incident_id=own.incident_id)
    assert all(not a.evidence for a in bare)
    since = own.created - timedelta(minutes=1)
    high_new = await list_alerts(creds, status="New", severity="High", created_since=since)
    assert set(own.alert_ids) <= {a.id for a in high_new}
    assert not {a.id for a in await list_alerts(creds, severity="Low", created_since=since)} & set(
        own.alert_ids
    )
    got = await get_alert(creds, own.alert_ids[0])
    assert got.id == own.alert_ids[0] and got.machine_id == own.machine_ids[0]
    assert got.incident_id == own.incident_id and got.evidence


async def test_update_alert_then_get_and_the_incident_show_it(
    prefect_harness: Any, own: OwnIncident, creds: Any
) -> None:
    aid = own.alert_ids[0]
    before = await get_alert(creds, aid)
    upd = await update_alert(
        creds,
        aid,
        status="InProgress",
        assigned_to="analyst@contoso.example",
        classification="InformationalExpectedActivity",
        determination="ConfirmedActivity",  # update-alert.md's spelling
        comment="looking",
    )
    got = await get_alert(creds, aid)
    for a in (upd, got):
        assert (a.status, a.assigned_to, a.classification, a.determination) == (
            "InProgress",
            "analyst@contoso.example",
            "InformationalExpectedActivity",
            "ConfirmedActivity",
        )
        assert a.comments[-1].comment == "looking"
    assert got.last_update_time and before.last_update_time
    assert got.last_update_time > before.last_update_time
    # alerts.md's spelling of the same idea, in another group
    resolved = await update_alert(
        creds, aid, status="Resolved", classification="FalsePositive", determination="NotMalicious"
    )
    assert resolved.status == "Resolved" and resolved.resolved_time is not None
    incident = await get_incident(creds, own.incident_id)
    embedded = next(a for a in incident.alerts if a.alert_id == aid)
    assert embedded.status == "Resolved"
    graph = await get_graph_alert(creds, aid)
    assert (graph.status, graph.classification) == ("resolved", "falsePositive")
    assert [c.comment for c in graph.comments] == ["looking"]


async def test_update_alert_errors(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, readonly: Any
) -> None:
    with pytest.raises(NotFoundError):
        await get_alert(creds, "da000000000000000000_1")
    with pytest.raises(NotFoundError):
        await update_alert(creds, "da000000000000000000_1", status="Resolved")
    with pytest.raises(PermissionDeniedError) as info:
        await update_alert(readonly, own.alert_ids[0], status="Resolved")
    assert "Alert.ReadWrite.All" in str(info.value)
    fresh.admin.reset_stats()
    for kwargs in (
        {"status": "Active"},  # an incident status, not an alert one
        {"status": "resolved"},
        {"classification": "TruePositive", "determination": "Clean"},
        {"determination": "Malware"},
        {"assigned_to": "a\x00b"},
        {},
    ):
        with pytest.raises(ValidationError):
            await update_alert(creds, own.alert_ids[0], **kwargs)
    with pytest.raises(ValidationError):
        await update_alert(creds, "not an id!", status="New")
    with pytest.raises(ValidationError):
        await list_alerts(creds, severity="Critical")
    assert requests(fresh.admin.stats()) == 0


async def test_batch_update_changes_every_listed_alert(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, tenants: dict[str, str]
) -> None:
    other = make_incident(fresh, tenants["contoso"], alerts=2)
    ids = own.alert_ids + other.alert_ids
    outcomes = await batch_update_alerts(
        creds,
        [*ids, ids[0]],  # a repeated id gets its own outcome too
        status="Resolved",
        assigned_to="bulk@contoso.example",
        classification="TruePositive",
        determination="Malware",
        comment="bulk close",
    )
    assert [o.item for o in outcomes] == [*ids, ids[0]]
    assert all(o.status == OutcomeStatus.SUCCEEDED for o in outcomes)
    assert requests(fresh.admin.stats(), BATCH, 200) == 1
    for aid in ids:
        a = await get_alert(creds, aid)
        assert (a.status, a.assigned_to, a.determination) == (
            "Resolved",
            "bulk@contoso.example",
            "Malware",
        )
        assert [c.comment for c in a.comments] == ["bulk close"]
    untouched = make_incident(fresh, tenants["contoso"], alerts=1)
    # one unknown id fails its call as a whole: every item of it failed, nothing changed
    failed = await batch_update_alerts(
        creds, [untouched.alert_ids[0], "da000000000000000000_9"], status="InProgress"
    )
    assert [o.status for o in failed] == [OutcomeStatus.FAILED] * 2
    assert failed[0].error and failed[0].error["status"] == 404
    assert (await get_alert(creds, untouched.alert_ids[0])).status == "New"


async def test_batch_update_splits_long_lists_and_validates_first(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, readonly: Any
) -> None:
    fresh.admin.reset_stats()
    unknown = [f"da{n:018d}_1" for n in range(501)]
    outcomes = await batch_update_alerts(creds, unknown, status="New")
    assert len(outcomes) == 501 and all(not o.ok for o in outcomes)
    assert requests(fresh.admin.stats(), BATCH) == 2  # 500 + 1
    denied = await batch_update_alerts(readonly, own.alert_ids, status="Resolved")
    assert all(o.error and o.error["status"] == 403 for o in denied)
    fresh.admin.reset_stats()
    for ids, kwargs in (
        ([], {"status": "Resolved"}),
        (own.alert_ids, {}),
        (own.alert_ids, {"status": "Closed"}),
        (own.alert_ids, {"classification": "FalsePositive", "determination": "Phishing"}),
        ([*own.alert_ids, "bad id"], {"status": "Resolved"}),
    ):
        with pytest.raises(ValidationError):
            await batch_update_alerts(creds, ids, **kwargs)
    assert requests(fresh.admin.stats()) == 0


async def test_create_alert_by_reference(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, readonly: Any
) -> None:
    mid = own.machine_ids[0]
    when = datetime.now(UTC) - timedelta(minutes=5)
    title = f"Hunted: encoded PowerShell {own.incident_id}"
    args = (mid, "4242", when, "High", title, "desc", "Isolate the device", "Execution")
    alert = await create_alert_by_reference(creds, *args)
    assert (alert.machine_id, alert.severity, alert.status, alert.category) == (
        mid,
        "High",
        "New",
        "Execution",
    )
    assert (await get_alert(creds, alert.id)).title == title
    # documented: an open alert on the same device with the same title absorbs the event
    later = when + timedelta(minutes=1)
    again = await create_alert_by_reference(creds, mid, "4243", later, *args[3:])
    assert again.id == alert.id
    with pytest.raises(PermissionDeniedError):
        await create_alert_by_reference(readonly, *args)
    with pytest.raises(NotFoundError):
        await create_alert_by_reference(creds, "0" * 40, *args[1:])
    fresh.admin.reset_stats()
    # every field is required: an empty one, a naive time, a value off the documented lists
    for n in range(1, len(args)):
        broken = list(args)
        broken[n] = "" if isinstance(args[n], str) else when.replace(tzinfo=None)
        with pytest.raises(ValidationError):
            await create_alert_by_reference(creds, *broken)
    for n, value in ((0, "ws-001"), (3, "Informational"), (3, "high"), (7, "Spam")):
        broken = list(args)
        broken[n] = value
        with pytest.raises(ValidationError):
            await create_alert_by_reference(creds, *broken)
    assert requests(fresh.admin.stats()) == 0


async def test_create_by_reference_emulator_contract(fresh: Any, creds: Any, own: Any) -> None:
    full = {
        "eventTime": "2026-01-01T10:00:00Z",
        "reportId": "1",
        "machineId": own.machine_ids[0],
        "severity": "Low",
        "title": "t",
        "description": "d",
        "recommendedAction": "r",
        "category": "General",
    }
    async with creds.get_client() as client:
        ep = endpoint("mde.alerts.create_by_reference")
        for key in full:
            body = {k: v for k, v in full.items() if k != key}
            with pytest.raises(BadRequestError) as info:
                await client.transport.request_json(ep, json=body)
            assert info.value.code == "MissingRequiredParameter", key
        for body in (
            {**full, "Severity": "Low"},
            {**full, "severity": "Informational"},
            {**full, "category": "Spam"},
            {**full, "eventTime": "yesterday"},
        ):
            with pytest.raises(BadRequestError):
                await client.transport.request_json(ep, json=body)
    assert requests(fresh.admin.stats(), CREATE, 400) == len(full) + 4


async def test_alert_related_entities(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, tenants: dict[str, str]
) -> None:
    aid = own.alert_ids[0]
    related = await get_alert_related(creds, aid)
    assert related.errors == {}
    assert [f.sha1 for f in related.files or []] == [SHA1]
    assert [i.id for i in related.ips or []] == ["203.0.113.66"]
    assert [d.host for d in related.domains or []] == ["update-check.evil.example"]
    assert related.machine is not None and related.machine.id == own.machine_ids[0]
    assert related.user is not None and related.user.account_name == "jdoe"
    some = await get_alert_related(creds, aid, ["files", "ips"])
    assert some.files and some.ips and some.machine is None and some.user is None
    # a relation that fails is reported, the others are still answered
    nouser = make_incident(fresh, tenants["contoso"], alerts=1, user=False)
    partial = await get_alert_related(creds, nouser.alert_ids[0])
    assert set(partial.errors) == {"user"} and partial.errors["user"]["status"] == 404
    assert partial.machine is not None
    missing = await get_alert_related(creds, "da000000000000000000_1")
    assert set(missing.errors) == {"domains", "files", "ips", "machine", "user"}
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError):
        await get_alert_related(creds, aid, ["registry"])
    assert requests(fresh.admin.stats()) == 0


async def test_graph_alerts(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, readonly: Any
) -> None:
    since = own.created - timedelta(minutes=1)
    found = await list_graph_alerts(creds, created_since=since, severity="high", status="new")
    mine = [a for a in found if a.id in own.alert_ids]
    assert len(mine) == 3 and all(a.evidence and a.incident_id for a in mine)
    aid = own.alert_ids[1]
    upd = await update_graph_alert(
        creds, aid, status="resolved", classification="truePositive", determination="malware"
    )
    got = await get_graph_alert(creds, aid)
    for a in (upd, got):
        assert (a.status, a.classification, a.determination) == (
            "resolved",
            "truePositive",
            "malware",
        )
    assert (await get_alert(creds, aid)).status == "Resolved"
    comments = await add_graph_alert_comment(creds, aid, "done")
    assert [c.comment for c in comments] == ["done"]
    assert [c.comment for c in (await get_alert(creds, aid)).comments] == ["done"]
    assert not {a.id for a in await list_graph_alerts(creds, created_since=since, status="new")} & {
        aid
    }
    with pytest.raises(PermissionDeniedError) as info:
        await update_graph_alert(readonly, aid, status="new")
    assert "SecurityAlert.ReadWrite.All" in str(info.value)
    with pytest.raises(PermissionDeniedError):
        await add_graph_alert_comment(readonly, aid, "no")
    with pytest.raises(NotFoundError):
        await get_graph_alert(creds, "da000000000000000000_1")
    with pytest.raises(NotFoundError):
        await update_graph_alert(creds, "da000000000000000000_1", status="new")
    fresh.admin.reset_stats()
    for kwargs in ({"status": "active"}, {"determination": "nope"}, {}):
        with pytest.raises(ValidationError):
            await update_graph_alert(creds, aid, **kwargs)
    with pytest.raises(ValidationError):
        await add_graph_alert_comment(creds, aid, "")
    with pytest.raises(ValidationError):
        await list_graph_alerts(creds, status="open")
    assert requests(fresh.admin.stats()) == 0
    async with creds.get_client() as client:
        ep = endpoint("graph.alerts.update")
        for body in ({"Status": "new"}, {"status": "open"}, {"comment": "not here"}):
            with pytest.raises(BadRequestError):
                await client.transport.request_json(ep, path_params={"id": aid}, json=body)
