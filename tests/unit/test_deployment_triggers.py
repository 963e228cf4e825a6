"""One incident, one decision: the poller's labels route each new High incident to exactly one
containment playbook (devices only: contain-device; accounts only: contain-identity; both:
contain-incident, one form), and prefect.yaml declares the same triggers as serve.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.events.schemas.events import Resource, ResourceSpecification

from prefect_defender.api.models.incidents import Incident
from prefect_defender.deployments.serve import build_deployments
from prefect_defender.flows.poller import incident_event

ROOT = Path(__file__).resolve().parents[2]
TENANT = "a3fffc0b-79f7-5f52-8c38-32961f760406"


def _yaml_triggers() -> dict[str, tuple[set[str], dict[str, Any]]]:
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    out = {}
    for d in spec["deployments"]:
        for t in d.get("triggers") or []:
            out[d["name"]] = (set(t["expect"]), dict(t["match"]))
    return out


def _served_triggers() -> dict[str, tuple[set[str], dict[str, Any]]]:
    out = {}
    for d in build_deployments("defender-application-credentials/soc"):
        for t in d.triggers or []:
            match = {k: v for k, v in t.match.items()}
            out[d.name] = (set(t.expect), match)
    return out


def _norm(match: dict[str, Any]) -> dict[str, list[str]]:
    return {k: sorted(v) if isinstance(v, list) else [v] for k, v in match.items()}


def test_prefect_yaml_and_serve_declare_the_same_triggers() -> None:
    declared, served = _yaml_triggers(), _served_triggers()
    assert set(declared) == set(served)
    for name, (expect, match) in declared.items():
        assert expect == served[name][0], name
        assert _norm(match) == _norm(served[name][1]), name


def _incident(devices: bool, accounts: bool, severity: str = "High") -> Incident:
    entities = [{"entityType": "User", "userPrincipalName": "jdoe@contoso.example"}]
    return Incident.model_validate(
        {
            "incidentId": 1001,
            "incidentName": "x",
            "severity": severity,
            "alerts": [
                {
                    "alertId": "da1",
                    "devices": [{"deviceId": "0f3c" * 10}] if devices else [],
                    "entities": entities if accounts else [],
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("devices", "accounts", "expected"),
    [
        (True, False, "contain-on-incident"),
        (False, True, "contain-identity-on-incident"),
        (True, True, "contain-incident-on-incident"),
    ],
)
def test_each_new_incident_starts_one_containment(
    devices: bool, accounts: bool, expected: str
) -> None:
    event = incident_event(TENANT, _incident(devices, accounts), created=True)
    resource = Resource.model_validate(event["resource"])
    started = {
        name
        for name, (expect, match) in _served_triggers().items()
        if event["event"] in expect
        and ResourceSpecification.model_validate(match).matches(resource)
    }
    assert started == {"triage-on-incident", expected}


def test_a_medium_incident_starts_no_containment() -> None:
    event = incident_event(TENANT, _incident(True, True, "Medium"), created=True)
    resource = Resource.model_validate(event["resource"])
    started = {
        name
        for name, (_, match) in _served_triggers().items()
        if ResourceSpecification.model_validate(match).matches(resource)
    }
    assert started == {"triage-on-incident"}
