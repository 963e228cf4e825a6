"""Incidents end to end (XDR and Graph): list with filters, get, update, comment, errors.

The playbooks' tasks (``list_incidents``, ``get_incident``, ``update_incident``,
``add_incident_comment``) run on Graph by default and on XDR when asked (``surface="xdr"``):
each of their tests runs both ways and checks which API the emulator saw.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
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
from prefect_defender.api.models.alerts import GRAPH_INCIDENT_STATUSES, INCIDENT_STATUSES
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
from tests.incidents.helpers import OwnIncident, requests

XDR_PATCH = "PATCH /api/incidents/{id}"
#: each playbook task both ways: the default (Graph), and XDR asked for
SURFACES = pytest.mark.parametrize("surface", [None, "xdr"], ids=["graph-default", "xdr"])


def only_on(fresh: Any, surface: str | None) -> None:
    """The emulator saw requests on ``surface``'s API (Graph for ``None``) and none on the
    other incident API."""
    counts = fresh.admin.surface_counts()
    used, other = ("xdr", "graph") if surface == "xdr" else ("graph", "xdr")
    assert counts[used] > 0 and counts[other] == 0, counts


@SURFACES
async def test_list_incidents_windows_status_and_severity(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, surface: str | None
) -> None:
    since = own.created - timedelta(seconds=1)
    on = {"surface": surface}
    found = await list_incidents(
        creds, created_since=since, status="Active", severities=["High"], **on
    )
    assert own.incident_id in [i.incident_id for i in found]
    assert all(i.severity == "High" and i.status == "Active" for i in found)
    # filtered by Graph's server, by the client on XDR (no server-side severity filter there)
    low = await list_incidents(creds, created_since=since, severities=["Low", "Medium"], **on)
    assert own.incident_id not in [i.incident_id for i in low]
    before = await list_incidents(creds, created_before=since, limit=None, **on)
    assert own.incident_id not in [i.incident_id for i in before]
    updated = await list_incidents(
        creds, updated_since=since, updated_before=since + timedelta(1), **on
    )
    assert own.incident_id in [i.incident_id for i in updated]
    assert len(await list_incidents(creds, limit=3, **on)) == 3
    assert {i.surface.value for i in found} == {surface or "graph"}
    only_on(fresh, surface)


@SURFACES
async def test_update_then_get_shows_the_change_on_both_surfaces(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, surface: str | None
) -> None:
    first = await get_incident(creds, own.incident_id, surface=surface)
    assert len(first.alerts) == 3 and set(first.device_ids()) == set(own.machine_ids)
    returned = await update_incident(
        creds,
        own.incident_id,
        surface=surface,
        status="InProgress",
        assigned_to="soc@contoso.example",
        classification="TruePositive",
        determination="CompromisedAccount",  # the PATCH page's spelling
        tags=["playbook", "ransomware"],
    )
    got = await get_incident(creds, own.incident_id, surface=surface)
    only_on(fresh, surface)
    for inc in (returned, got):
        assert (inc.status, inc.assigned_to, inc.classification, inc.determination) == (
            "InProgress",
            "soc@contoso.example",
            "TruePositive",
            "CompromisedAccount",
        )
        assert inc.tags == ["playbook", "ransomware"]
    assert got.last_update_time and first.last_update_time
    assert got.last_update_time > first.last_update_time
    graph = await get_graph_incident(creds, own.incident_id, expand_alerts=False)
    assert (graph.status, graph.classification, graph.custom_tags) == (
        "inProgress",
        "truePositive",
        ["playbook", "ransomware"],
    )
    # the other spelling, and the other classification groups
    await update_incident(
        creds,
        own.incident_id,
        classification="FalsePositive",
        determination="Clean",
        surface=surface,
    )
    again = await update_incident(
        creds,
        own.incident_id,
        surface=surface,
        status="Resolved",
        classification="InformationalExpectedActivity",
        determination="ConfirmedActivity",
    )
    assert (again.status, again.determination) == ("Resolved", "ConfirmedActivity")


@SURFACES
async def test_comment_appears_on_xdr_and_graph(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, surface: str | None
) -> None:
    back = await add_incident_comment(
        creds, own.incident_id, "isolated after approval", surface=surface
    )
    assert back[-1].comment == "isolated after approval"
    assert back[-1].created_by and back[-1].created_time
    both = await update_incident(
        creds, own.incident_id, tags=["noted"], comment="second note", surface=surface
    )
    only_on(fresh, surface)
    assert [c.comment for c in both.comments] == ["isolated after approval", "second note"]
    got = await get_incident(creds, own.incident_id)
    assert [c.comment for c in got.comments] == ["isolated after approval", "second note"]
    assert got.comments[0].created_by and got.comments[0].created_time and got.tags == ["noted"]
    graph = await get_graph_incident(creds, own.incident_id, expand_alerts=False)
    assert [c.comment for c in graph.comments] == ["isolated after approval", "second note"]
    xdr = await get_incident(creds, own.incident_id, surface="xdr")
    assert [c.comment for c in xdr.comments] == [c.comment for c in got.comments]


@SURFACES
async def test_update_errors(
    prefect_harness: Any,
    fresh: Any,
    own: OwnIncident,
    creds: Any,
    readonly: Any,
    surface: str | None,
) -> None:
    on = {"surface": surface}
    with pytest.raises(NotFoundError):
        await get_incident(creds, 99_999_999, **on)
    with pytest.raises(NotFoundError):
        await update_incident(creds, 99_999_999, status="Resolved", **on)
    with pytest.raises(NotFoundError):
        await add_incident_comment(creds, 99_999_999, "x", **on)
    with pytest.raises(PermissionDeniedError) as info:
        await update_incident(readonly, own.incident_id, status="Resolved", **on)
    needed = "Incident.ReadWrite.All" if surface == "xdr" else "SecurityIncident.ReadWrite.All"
    assert needed in str(info.value)
    with pytest.raises(PermissionDeniedError):
        await add_incident_comment(readonly, own.incident_id, "no", **on)
    only_on(fresh, surface)
    fresh.admin.reset_stats()
    bad: list[dict[str, Any]] = [
        {"status": "Closed"},
        # XDR values are PascalCase and case-sensitive; Graph's camelCase is accepted on Graph
        {"status": "resolved" if surface == "xdr" else "awaitingAction"},
        {"determination": "Malware"},  # needs its classification
        {"classification": "FalsePositive", "determination": "Malware"},  # wrong group
        {"classification": "TruePositive", "determination": "Clean"},
        {"comment": "x\x07y"},
        {"comment": "   "},
        {"tags": "one-string"},
        {"tags": [""]},
        {},
    ]
    for kwargs in bad:
        with pytest.raises(ValidationError):
            await update_incident(creds, own.incident_id, **kwargs, **on)
    with pytest.raises(ValidationError):
        await add_incident_comment(creds, own.incident_id, "", **on)
    with pytest.raises(ValidationError):
        await list_incidents(creds, severities=["Critical"], **on)
    with pytest.raises(ValidationError):
        await get_incident(creds, -4, **on)
    with pytest.raises(ValidationError):
        await get_incident(creds, own.incident_id, surface="mde")  # no incidents there
    assert requests(fresh.admin.stats()) == 0


async def test_emulator_rejects_wrong_case_and_wrong_values(
    fresh: Any, own: OwnIncident, creds: Any
) -> None:
    """The emulator's own contract, below the client's validation."""
    ep = endpoint("xdr.incidents.update")
    async with creds.get_client() as client:
        for body in (
            {"Status": "Resolved"},
            {"status": "Closed"},
            {"classification": "FalsePositive", "determination": "Malware"},
            {"tags": "x"},
            {"assignedTo": 5},
        ):
            with pytest.raises(BadRequestError) as info:
                await client.transport.request_json(
                    ep, path_params={"id": own.incident_id}, json=body
                )
            assert info.value.code == "InvalidRequestBody", body
        with pytest.raises(NotFoundError):
            await client.transport.request_json(
                ep, path_params={"id": 99_999_999}, json={"status": "Active"}
            )
        unchanged = await client.incidents.get(own.incident_id)
    assert unchanged.status == "Active" and unchanged.classification in (None, "Unknown")
    stats = fresh.admin.stats()
    assert requests(stats, XDR_PATCH, 400) == 5 and requests(stats, XDR_PATCH, 404) == 1


async def test_graph_expand_alerts_returns_alerts_with_evidence(
    prefect_harness: Any, own: OwnIncident, creds: Any
) -> None:
    since = own.created - timedelta(seconds=1)
    found = await list_graph_incidents(
        creds, created_since=since, severity="high", expand_alerts=True
    )
    mine = next(i for i in found if i.id == str(own.incident_id))
    assert sorted(a.id for a in mine.alerts) == sorted(own.alert_ids)
    kinds = {e["@odata.type"] for a in mine.alerts for e in a.evidence}
    assert {
        "#microsoft.graph.security.deviceEvidence",
        "#microsoft.graph.security.fileEvidence",
        "#microsoft.graph.security.ipEvidence",
    } <= kinds
    plain = await list_graph_incidents(creds, created_since=since)
    assert all(not i.alerts for i in plain)
    assert str(own.incident_id) in [i.id for i in plain]
    # server-side severity filter
    assert str(own.incident_id) not in [
        i.id for i in await list_graph_incidents(creds, created_since=since, severity="low")
    ]
    one = await get_graph_incident(creds, own.incident_id)
    assert len(one.alerts) == 3


async def test_graph_update_and_comment(
    prefect_harness: Any, fresh: Any, own: OwnIncident, creds: Any, readonly: Any
) -> None:
    before = await get_graph_incident(creds, own.incident_id, expand_alerts=False)
    upd = await update_graph_incident(
        creds,
        own.incident_id,
        status="inProgress",
        assigned_to="analyst@contoso.example",
        classification="TruePositive",  # the PascalCase of the docs' example is converted
        determination="multiStagedAttack",
        custom_tags=["triaged"],
    )
    assert (upd.status, upd.classification, upd.determination, upd.custom_tags) == (
        "inProgress",
        "truePositive",
        "multiStagedAttack",
        ["triaged"],
    )
    assert upd.last_update_date_time and before.last_update_date_time
    assert upd.last_update_date_time > before.last_update_date_time
    xdr = await get_incident(creds, own.incident_id)
    assert (xdr.status, xdr.assigned_to, xdr.determination, xdr.tags) == (
        "InProgress",
        "analyst@contoso.example",
        "MultiStagedAttack",
        ["triaged"],
    )
    comments = await add_graph_incident_comment(creds, own.incident_id, "graph comment")
    assert [c.comment for c in comments] == ["graph comment"]
    assert comments[0].created_date_time is not None
    assert (await get_incident(creds, own.incident_id)).comments[-1].comment == "graph comment"
    with pytest.raises(PermissionDeniedError) as info:
        await update_graph_incident(readonly, own.incident_id, status="resolved")
    assert "SecurityIncident.ReadWrite.All" in str(info.value)
    with pytest.raises(PermissionDeniedError):
        await add_graph_incident_comment(readonly, own.incident_id, "no")
    with pytest.raises(NotFoundError):
        await update_graph_incident(creds, 99_999_999, status="resolved")
    with pytest.raises(NotFoundError):
        await add_graph_incident_comment(creds, 99_999_999, "x")
    with pytest.raises(NotFoundError):
        await get_graph_incident(creds, 99_999_999)
    fresh.admin.reset_stats()
    for kwargs in (
        {"status": "closed"},
        {"status": "awaitingAction"},  # set by Microsoft only
        {"determination": "notADetermination"},
        {"classification": "maybe"},
        {"custom_tags": "one"},
        {},
    ):
        with pytest.raises(ValidationError):
            await update_graph_incident(creds, own.incident_id, **kwargs)
    with pytest.raises(ValidationError):
        await add_graph_incident_comment(creds, own.incident_id, " ")
    with pytest.raises(ValidationError):
        await list_graph_incidents(creds, severity="critical")
    assert requests(fresh.admin.stats()) == 0


async def test_graph_emulator_contract(fresh: Any, own: OwnIncident, creds: Any) -> None:
    async with creds.get_client() as client:
        t = client.transport
        upd, com = endpoint("graph.incidents.update"), endpoint("graph.incidents.comment")
        for ep, body in (
            (upd, {"CustomTags": ["x"]}),
            (upd, {"description": "not updatable"}),
            (upd, {"status": "closed"}),
            (com, {"@odata.type": "microsoft.graph.security.incident", "comment": "x"}),
            (com, {"Comment": "x"}),
            (com, {"comment": ""}),
        ):
            with pytest.raises(BadRequestError):
                await t.request_json(ep, path_params={"id": own.incident_id}, json=body)
        # the docs' own example body (PascalCase enum values) is accepted
        answer = await t.request_json(
            upd,
            path_params={"id": own.incident_id},
            json={"classification": "TruePositive", "determination": "MultiStagedAttack"},
        )
        assert (answer["classification"], answer["determination"]) == (
            "truePositive",
            "multiStagedAttack",
        )
        # a comment without @odata.type is still a comment
        answer = await t.request_json(
            com, path_params={"id": own.incident_id}, json={"comment": "plain"}
        )
        assert answer["value"][-1]["comment"] == "plain"


_TEXT = st.text(max_size=30)
#: settable Graph statuses (awaitingAction is refused as read-only anyway)
GRAPH_STATUSES = set(GRAPH_INCIDENT_STATUSES) - {"awaitingAction"}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    status=_TEXT.filter(
        lambda s: s not in INCIDENT_STATUSES and s[:1].lower() + s[1:] not in GRAPH_STATUSES
    ),
    determination=_TEXT,
    comment=st.text(alphabet=st.characters(max_codepoint=31), min_size=1, max_size=5),
)
def test_invalid_updates_never_reach_the_emulator(
    fresh: Any, own: OwnIncident, creds: Any, status: str, determination: str, comment: str
) -> None:
    """Whatever the bad value, it is refused before a request: the emulator counts none."""

    async def attempt() -> None:
        async with creds.get_client() as client:
            for kwargs in (
                {"status": status},
                {"classification": "FalsePositive", "determination": determination + "X"},
            ):
                with pytest.raises(ValidationError):
                    await client.incidents.update(own.incident_id, **kwargs)
                with pytest.raises(ValidationError):
                    await client.graph_incidents.update(own.incident_id, **kwargs)
            with pytest.raises(ValidationError):
                await client.incidents.update(own.incident_id, comment=comment)
            with pytest.raises(ValidationError):
                await client.incidents.comment(own.incident_id, comment)
            with pytest.raises(ValidationError):
                await client.graph_incidents.comment(own.incident_id, comment)

    fresh.admin.reset_stats()
    asyncio.run(attempt())
    assert requests(fresh.admin.stats()) == 0
