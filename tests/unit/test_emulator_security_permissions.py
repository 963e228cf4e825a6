"""The emulator's own reading of the Graph security operations' permission tables.

Each row below is what the operation's Microsoft Graph page lists (least privileged first); see
``GRAPH_SECURITY_PAGES`` in ``emulator/permissions.py`` for the page and the table behind each. A
token holding only the page's least-privileged permission is let through by the guard; one holding
none of the listed permissions gets a 403 that names them.
"""

from __future__ import annotations

import pytest

from prefect_defender.emulator.guard import EndpointSpec
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.routes import (
    graph_alerts,
    graph_incidents,
    graph_security,
    hunting,
    incident_updates,
)
from tests.unit.guard_checks import assert_refused_naming_its_lists, denied, spec_of

assert graph_alerts and graph_incidents and graph_security and hunting and incident_updates

_RULES = "/v1.0/security/rules/detectionRules"

#: (method, full path, GRAPH_SECURITY_PAGES key, least-privileged app, least-privileged delegated)
ROUTES = [
    ("GET", "/v1.0/security/incidents", "incidents.list",
     "SecurityIncident.Read.All", "SecurityIncident.Read.All"),
    ("GET", "/v1.0/security/incidents/{id}", "incidents.get",
     "SecurityIncident.Read.All", "SecurityIncident.Read.All"),
    ("PATCH", "/v1.0/security/incidents/{id}", "incidents.update",
     "SecurityIncident.ReadWrite.All", "SecurityIncident.ReadWrite.All"),
    ("POST", "/v1.0/security/incidents/{id}/comments", "incidents.comment",
     "SecurityIncident.ReadWrite.All", "SecurityIncident.ReadWrite.All"),
    ("GET", "/v1.0/security/alerts_v2", "alerts.list",
     "SecurityAlert.Read.All", "SecurityAlert.Read.All"),
    ("GET", "/v1.0/security/alerts_v2/{id}", "alerts.get",
     "SecurityAlert.Read.All", "SecurityAlert.Read.All"),
    ("PATCH", "/v1.0/security/alerts_v2/{id}", "alerts.update",
     "SecurityAlert.ReadWrite.All", "SecurityAlert.ReadWrite.All"),
    ("POST", "/v1.0/security/alerts_v2/{id}/comments", "alerts.comment",
     "SecurityAlert.ReadWrite.All", "SecurityAlert.ReadWrite.All"),
    ("POST", "/v1.0/security/runHuntingQuery", "hunting.run",
     "ThreatHunting.Read.All", "ThreatHunting.Read.All"),
    ("POST", "/v1.0/security/microsoft.graph.security.runHuntingQuery", "hunting.run",
     "ThreatHunting.Read.All", "ThreatHunting.Read.All"),
    ("GET", _RULES, "detection_rules.list", "CustomDetection.Read.All", "CustomDetection.Read.All"),
    ("GET", _RULES + "/{id}", "detection_rules.get",
     "CustomDetection.Read.All", "CustomDetection.Read.All"),
    ("POST", _RULES, "detection_rules.create",
     "CustomDetection.ReadWrite.All", "CustomDetection.ReadWrite.All"),
    ("PATCH", _RULES + "/{id}", "detection_rules.update",
     "CustomDetection.ReadWrite.All", "CustomDetection.ReadWrite.All"),
    ("DELETE", _RULES + "/{id}", "detection_rules.delete",
     "CustomDetection.ReadWrite.All", "CustomDetection.ReadWrite.All"),
    # "analyzedEmail: remediate": the delegated row is "Not supported."
    ("POST", "/beta/security/collaboration/analyzedEmails/remediate", "emails.remediate",
     "SecurityAnalyzedMessage.ReadWrite.All", None),
]  # fmt: skip


def test_every_page_reading_is_used_by_a_route() -> None:
    assert {key for _, _, key, _, _ in ROUTES} == set(GRAPH_SECURITY_PAGES)


def _spec(method: str, path: str) -> EndpointSpec:
    return spec_of(method, path)


@pytest.mark.parametrize(("method", "path", "key", "app", "delegated"), ROUTES)
def test_route_takes_its_pages_lists(
    method: str, path: str, key: str, app: str, delegated: str | None
) -> None:
    spec, page = _spec(method, path), GRAPH_SECURITY_PAGES[key]
    assert (spec.app, spec.delegated) == (page.app, page.delegated)
    assert page.page.startswith("https://learn.microsoft.com/graph/api/security-")
    assert page.page.endswith("?view=graph-rest-beta") == path.startswith("/beta/")
    # the least-privileged permission is the first of each row, and alone is enough
    assert page.app[0] == app
    assert denied(spec, {"roles": [app]}) is None
    if delegated is None:
        assert page.delegated == ()
    else:
        assert page.delegated[0] == delegated
        assert denied(spec, {"scp": f"openid {delegated}"}) is None


@pytest.mark.parametrize(("method", "path", "key", "app", "delegated"), ROUTES)
def test_token_without_a_listed_permission_is_refused_by_name(
    method: str, path: str, key: str, app: str, delegated: str | None
) -> None:
    assert_refused_naming_its_lists(_spec(method, path))


@pytest.mark.parametrize(
    ("method", "path", "claims"),
    [
        # write operations: higher privileged "Not available.", a read permission is not enough
        ("PATCH", "/v1.0/security/incidents/{id}", {"roles": ["SecurityIncident.Read.All"]}),
        ("POST", "/v1.0/security/alerts_v2/{id}/comments", {"scp": "SecurityAlert.Read.All"}),
        ("POST", _RULES, {"roles": ["CustomDetection.Read.All"]}),
        ("DELETE", _RULES + "/{id}", {"scp": "CustomDetection.Read.All"}),
        # remediate: "Delegated (work or school account) | Not supported."
        (
            "POST",
            "/beta/security/collaboration/analyzedEmails/remediate",
            {"scp": "SecurityAnalyzedMessage.ReadWrite.All"},
        ),
    ],
)
def test_what_the_page_does_not_list_is_refused(
    method: str, path: str, claims: dict[str, object]
) -> None:
    answer = denied(_spec(method, path), claims)
    assert answer is not None and answer["status"] == 403


#: catalog entry -> the emulator's page reading (both written from the pages separately)
CATALOG_PAIRS = {
    "graph.incidents.list": "incidents.list",
    "graph.incidents.get": "incidents.get",
    "graph.incidents.update": "incidents.update",
    "graph.incidents.comment": "incidents.comment",
    "graph.alerts.list": "alerts.list",
    "graph.alerts.get": "alerts.get",
    "graph.alerts.update": "alerts.update",
    "graph.alerts.comment": "alerts.comment",
    "graph.hunting.run": "hunting.run",
    "graph.detection_rules.list": "detection_rules.list",
    "graph.detection_rules.get": "detection_rules.get",
    "graph.detection_rules.create": "detection_rules.create",
    "graph.detection_rules.update": "detection_rules.update",
    "graph.detection_rules.delete": "detection_rules.delete",
    "graph.emails.remediate": "emails.remediate",
}


@pytest.mark.parametrize(("name", "key"), sorted(CATALOG_PAIRS.items()))
def test_the_catalog_names_the_pages_rows(name: str, key: str) -> None:
    from prefect_defender.api.catalog import endpoint

    ep, read = endpoint(name), GRAPH_SECURITY_PAGES[key]
    assert set(ep.application) <= set(read.app), (name, read.page)
    assert set(ep.delegated) <= set(read.delegated), (name, read.page)
    assert read.app[0] in ep.application, f"{name}: least privileged {read.app[0]} not named"
    assert not read.delegated or read.delegated[0] in ep.delegated, (name, read.page)
