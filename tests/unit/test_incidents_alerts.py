"""Incidents and alerts below the network: triage vocabulary, input enums, the requests the
resources build (filters, bodies), response models, and the emulator's own value checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import (
    DETERMINATIONS,
    Alert,
    AlertCategory,
    Classification,
    Determination,
    GraphClassification,
    GraphDetermination,
    GraphIncidentStatus,
    check_graph_choice,
    check_triage,
)
from prefect_defender.api.models.incidents import AlertRelated, GraphComment, GraphIncident
from prefect_defender.api.resources.alerts import AlertsAPI
from prefect_defender.api.resources.graph_alerts import GraphAlertsAPI
from prefect_defender.api.resources.graph_incidents import GraphIncidentsAPI
from prefect_defender.api.resources.xdr_incidents import XdrIncidentsAPI
from prefect_defender.api.validation import check_choice
from prefect_defender.emulator.guard import ApiError
from prefect_defender.emulator.routes import incident_updates as emu_inc
from prefect_defender.emulator.routes import triage as emu


class FakeTransport:
    """Records requests; answers one fixed page."""

    def __init__(self, page: list[dict[str, Any]] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.page = page or []
        self.endpoints = self

    def base_url(self, surface: Any) -> str:
        return "https://graph.example"

    async def request_json(self, ep: Any, **kw: Any) -> Any:
        self.calls.append({"ep": ep.name, **kw})
        if ep.method == "GET" and "{id}" not in ep.path:
            return {"value": self.page}
        return {"id": "x", "incidentId": 1, "value": []}

    async def request(self, ep: Any, **kw: Any) -> Any:
        self.calls.append({"ep": ep.name, **kw})
        return None


class FakeClient:
    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport


def api(cls: type, page: list[dict[str, Any]] | None = None) -> Any:
    t = FakeTransport(page)
    return cls(FakeClient(t)), t


PAIRS = [(c, d) for c in Classification for d in Determination]


@pytest.mark.parametrize(("c", "d"), PAIRS, ids=[f"{c.value}-{d.value}" for c, d in PAIRS])
def test_client_and_emulator_agree_on_determination_groups(
    c: Classification, d: Determination
) -> None:
    allowed = d in DETERMINATIONS[c]
    body = {"classification": c.value, "determination": d.value}
    try:
        emu.check_triage(body, {})
        emulator_ok = True
    except ApiError:
        emulator_ok = False
    try:
        assert check_triage(c.value, d.value) == (c.value, d.value)
        client_ok = True
    except ValidationError:
        client_ok = False
    assert client_ok is emulator_ok is allowed


def test_both_documented_spellings_are_accepted() -> None:
    for c, d in (
        ("InformationalExpectedActivity", "ConfirmedActivity"),
        ("InformationalExpectedActivity", "ConfirmedUserActivity"),
        ("FalsePositive", "NotMalicious"),
        ("FalsePositive", "Clean"),
        ("FalsePositive", "NoEnoughDataToValidate"),
        ("FalsePositive", "InsufficientData"),
        ("TruePositive", "CompromisedAccount"),
        ("TruePositive", "CompromisedUser"),
    ):
        assert check_triage(c, d) == (c, d)
    for g in ("notMalicious", "clean", "compromisedAccount", "notEnoughDataToValidate"):
        assert check_triage(None, g, graph=True) == (None, g)


def test_triage_needs_a_classification_and_is_case_sensitive() -> None:
    with pytest.raises(ValidationError, match="classification"):
        check_triage(None, "Malware")
    with pytest.raises(ValidationError):
        check_triage("truePositive", None)  # Graph spelling on an MDE/XDR call
    assert check_triage("Unknown", None) == ("Unknown", None)
    assert check_triage(Classification.TRUE_POSITIVE, Determination.PHISHING) == (
        "TruePositive",
        "Phishing",
    )


def test_graph_values_take_the_docs_pascal_case() -> None:
    assert check_graph_choice("TruePositive", GraphClassification, "c") is (
        GraphClassification.TRUE_POSITIVE
    )
    assert check_graph_choice("inProgress", GraphIncidentStatus, "s").value == "inProgress"
    assert check_triage("FalsePositive", "NotMalicious", graph=True) == (
        "falsePositive",
        "notMalicious",
    )
    with pytest.raises(ValidationError):
        check_graph_choice("TRUEPOSITIVE", GraphClassification, "c")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.sampled_from(["truePositive", "malware", "HIGH", "Execution "]))
def test_any_other_value_is_rejected(value: str) -> None:
    if value not in Classification._value2member_map_:
        with pytest.raises(ValidationError):
            check_triage(value, None)
    if value not in Determination._value2member_map_:
        with pytest.raises(ValidationError):
            check_triage("TruePositive", value)
    if value not in AlertCategory._value2member_map_:
        with pytest.raises(ValidationError):
            check_choice(value, AlertCategory, "category")
    if value[:1].lower() + value[1:] not in GraphDetermination._value2member_map_:
        with pytest.raises(ValidationError):
            check_triage(None, value, graph=True)


@pytest.mark.parametrize("d", list(GraphDetermination), ids=lambda d: d.value)
def test_emulator_takes_every_graph_determination_in_both_cases(d: GraphDetermination) -> None:
    allowed = emu.GRAPH_DETERMINATIONS
    for spelled in (d.value, d.value[:1].upper() + d.value[1:]):
        assert emu.graph_value({"determination": spelled}, "determination", allowed) == d.value
    with pytest.raises(ApiError):
        emu.graph_value({"determination": d.value.upper() + "x"}, "determination", allowed)


async def test_xdr_list_sends_documented_filters_and_filters_severity_itself() -> None:
    page = [
        {"incidentId": 1, "severity": "High"},
        {"incidentId": 2, "severity": "Low"},
        {"incidentId": 3, "severity": "High"},
    ]
    incidents, t = api(XdrIncidentsAPI, page)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    got = await incidents.list(
        updated_since=since,
        created_before=since + timedelta(days=1),
        status="Active",
        assigned_to="o'brien@x",
        severities=["High"],
        limit=2,
    )
    assert [i.incident_id for i in got] == [1, 3]
    flt = t.calls[0]["params"]["$filter"]
    assert "lastUpdateTime ge 2026-01-01T00:00:00Z" in flt
    assert "createdTime lt 2026-01-02T00:00:00Z" in flt
    assert "status eq 'Active'" in flt and "assignedTo eq 'o''brien@x'" in flt
    assert "severity" not in flt  # not a documented XDR filter
    assert t.calls[0]["params"]["$top"] == 100


async def test_graph_lists_filter_severity_on_the_server() -> None:
    incidents, t = api(GraphIncidentsAPI)
    await incidents.list(severity="High", status="active", expand_alerts=True, page_size=5)
    params = t.calls[0]["params"]
    assert params["$filter"] == "(severity eq 'high') and (status eq 'active')"
    assert params["$expand"] == "alerts" and params["$top"] == 5
    alerts, t2 = api(GraphAlertsAPI)
    await alerts.list(status="new", service_source="microsoftDefenderForEndpoint")
    assert t2.calls[0]["params"]["$filter"] == (
        "(status eq 'new') and (serviceSource eq 'microsoftDefenderForEndpoint')"
    )


async def test_mde_alert_filters_and_expand() -> None:
    alerts, t = api(AlertsAPI)
    await alerts.list(status="New", severity="High", incident_id=7, expand_evidence=True, limit=3)
    params = t.calls[0]["params"]
    assert params["$expand"] == "evidence" and params["$top"] == 3
    assert params["$filter"] == "(status eq 'New') and (severity eq 'High') and (incidentId eq 7)"


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.list(
            created_since=datetime(2026, 1, 2, tzinfo=UTC),
            created_before=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        lambda a: a.list(updated_since=datetime(2026, 1, 1)),  # naive
        lambda a: a.list(status="active"),
        lambda a: a.list(page_size=0),
        lambda a: a.list(severities="Critical"),
    ],
)
async def test_xdr_list_rejects_bad_input_without_a_request(call: Any) -> None:
    incidents, t = api(XdrIncidentsAPI)
    with pytest.raises(ValidationError):
        await call(incidents)
    assert t.calls == []


async def test_bodies_use_the_documented_case_sensitive_names() -> None:
    incidents, t = api(XdrIncidentsAPI)
    await incidents.update(
        5,
        status="Redirected",
        assigned_to="a",
        classification="TruePositive",
        determination="Apt",
        tags=["x"],
        comment="c",
    )
    assert t.calls[0]["json"] == {
        "status": "Redirected",
        "assignedTo": "a",
        "classification": "TruePositive",
        "determination": "Apt",
        "tags": ["x"],
        "comment": "c",
    }
    assert t.calls[0]["idempotent"] is False  # a comment must not be sent twice
    graph, tg = api(GraphIncidentsAPI)
    await graph.update(5, status="Resolved", custom_tags=[])
    assert tg.calls[0]["json"] == {"status": "resolved", "customTags": []}
    await graph.comment(5, "hi")
    assert tg.calls[1]["json"] == {
        "@odata.type": "microsoft.graph.security.alertComment",
        "comment": "hi",
    }
    alerts, ta = api(AlertsAPI)
    await alerts.batch_update(["a1", "a2", "a1"], status="Resolved")
    assert ta.calls[0]["json"] == {"alertIds": ["a1", "a2"], "status": "Resolved"}
    with pytest.raises(ValidationError):
        await alerts.batch_update([f"a{n}" for n in range(501)], status="Resolved")
    await alerts.create_by_reference(
        machine_id="A" * 40,
        report_id=12,
        event_time=datetime(2026, 1, 1, 12, tzinfo=UTC),
        severity="Low",
        title="t",
        description="d",
        recommended_action="r",
        category="General",
    )
    assert ta.calls[-1]["json"] == {
        "eventTime": "2026-01-01T12:00:00Z",
        "reportId": "12",
        "machineId": "a" * 40,
        "severity": "Low",
        "title": "t",
        "description": "d",
        "recommendedAction": "r",
        "category": "General",
    }


def test_response_models_keep_unknown_values_and_both_comment_spellings() -> None:
    a = Alert.model_validate(
        {
            "id": "da1",
            "status": "Unknown",
            "severity": "UnSpecified",
            "newField": 1,
            "comments": [{"comment": "c", "createdBy": "x", "createdTime": "2026-01-01T00:00:00Z"}],
        }
    )
    assert a.status == "Unknown" and a.model_extra == {"newField": 1}
    assert a.comments[0].created_by == "x"
    for raw in (
        {"comment": "c", "createdByDisplayName": "u", "createdDateTime": "2026-01-01T00:00:00Z"},
        {"comment": "c", "createdBy": "u", "createdTime": "2026-01-01T00:00:00Z"},
    ):
        g = GraphComment.model_validate(raw)
        assert g.created_by_display_name == "u" and g.created_date_time is not None
    inc = GraphIncident.model_validate(
        {"id": "1", "status": "awaitingAction", "alerts": [{"id": "a"}]}
    )
    assert inc.status == "awaitingAction" and inc.alerts[0].id == "a"
    rel = AlertRelated(alert_id="a", errors={"user": {"status": 404}})
    assert rel.files is None and rel.errors["user"]["status"] == 404


def test_emulator_graph_status_map_matches_settable_values() -> None:
    settable = {s.value for s in GraphIncidentStatus} - {"awaitingAction"}
    assert set(emu_inc.GRAPH_STATUS) == settable
