"""One incident, one decision: the poller's labels route each new High incident to exactly one
containment playbook (devices only: contain-device; accounts only: contain-identity; both:
contain-incident, one form); serve.py serves exactly the deployments of prefect.yaml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.events.schemas.events import Resource, ResourceSpecification

from prefect_defender.api.models.incidents import Incident
from prefect_defender.deployments.serve import build_deployments, serving_directory
from prefect_defender.flows.poller import incident_event

ROOT = Path(__file__).resolve().parents[2]
TENANT = "a3fffc0b-79f7-5f52-8c38-32961f760406"


def _yaml() -> list[dict[str, Any]]:
    """prefect.yaml as ``prefect deploy`` reads it (read here, not through serve.py)."""
    return yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]


def _served_triggers() -> dict[str, tuple[set[str], dict[str, Any]]]:
    out = {}
    for d in build_deployments("defender-application-credentials/soc"):
        for t in d.triggers or []:
            match = {k: v for k, v in t.match.items()}
            out[d.name] = (set(t.expect), match)
    return out


def _entrypoint(served: Any) -> str:
    """A served deployment's entrypoint, relative to the checkout (as prefect.yaml writes it)."""
    path, _, attr = served.entrypoint.rpartition(":")
    p = Path(path)
    return f"{(p.resolve().relative_to(ROOT) if p.is_absolute() else p).as_posix()}:{attr}"


def _schedules(spec: dict[str, Any]) -> list[tuple[float, str | None]]:
    return [(float(s["interval"]), s.get("slug")) for s in spec.get("schedules") or []]


def _served_schedules(served: Any) -> list[tuple[float, str | None]]:
    return [(s.schedule.interval.total_seconds(), s.slug) for s in served.schedules or []]


def _norm(match: dict[str, Any]) -> dict[str, list[str]]:
    """A resource match, each value a sorted list (Prefect keeps a single value as a list)."""
    return {k: sorted(v) if isinstance(v, list) else [v] for k, v in match.items()}


def _trigger(t: dict[str, Any]) -> dict[str, Any]:
    return {**t, "expect": set(t["expect"]), "match": _norm(t["match"])}


def _served_trigger(t: Any) -> dict[str, Any]:
    out = t.model_dump(mode="python", exclude_unset=True)
    return {**out, "match": _norm(dict(t.match.items()))}


def test_serve_builds_every_deployment_of_prefect_yaml() -> None:
    """Names, entrypoints, descriptions, parameters, schedules, triggers, concurrency and tags
    are prefect.yaml's; the pool is the worker's (every deployment in the one process pool),
    and a served deployment runs in the serving process instead (no pool)."""
    declared = _yaml()
    served = {
        d.name: d
        for d in build_deployments(
            "defender-application-credentials/soc", "defender-partner-credentials/mssp"
        )
    }
    assert [d["name"] for d in declared] == list(served)
    for spec in declared:
        got = served[spec["name"]]
        assert _entrypoint(got) == spec["entrypoint"], spec["name"]
        assert got.parameters == spec.get("parameters", {}), spec["name"]
        assert _served_schedules(got) == _schedules(spec), spec["name"]
        assert [_served_trigger(t) for t in got.triggers] == [
            _trigger(t) for t in spec.get("triggers") or []
        ], spec["name"]
        assert got.concurrency_limit == spec.get("concurrency_limit"), spec["name"]
        assert got.tags == spec.get("tags"), spec["name"]
        if spec.get("description"):
            assert got.description == spec["description"], spec["name"]
        assert spec["work_pool"]["name"] == "defender-process", spec["name"]
        assert got.work_pool_name is None, spec["name"]


def test_serve_replaces_the_table_blocks_everywhere() -> None:
    served = build_deployments("defender-user-credentials/analyst", poll_every=timedelta(seconds=5))
    text = repr([(d.parameters, [t.parameters for t in d.triggers]) for d in served])
    assert "defender-application-credentials/soc" not in text
    assert "mssp-fanout" not in {d.name for d in served}  # needs a partner block
    by_name = {d.name: d for d in served}
    assert by_name["connectivity-check"].parameters == {
        "block_names": ["defender-user-credentials/analyst"]
    }
    assert by_name["contain-on-incident"].triggers[0].parameters["credentials"] == (
        "defender-user-credentials/analyst"
    )
    assert _served_schedules(by_name["incident-poller"]) == [(5.0, "poll")]


def test_contain_parameters_reach_the_containments_events_start() -> None:
    extra = {"approval": {"poll_interval_seconds": 1}, "poll_interval_seconds": 0.5}
    served = {
        d.name: d.parameters
        for d in build_deployments(
            "defender-application-credentials/soc", None, **{"contain_parameters": extra}
        )
    }
    with_extra = {n for n, p in served.items() if "approval" in p}
    assert with_extra == {
        "contain-on-incident",
        "contain-identity-on-incident",
        "contain-incident-on-incident",
    }
    # each takes the parameters its flow has: identity containment waits for no machine action
    assert "poll_interval_seconds" not in served["contain-identity-on-incident"]
    assert served["contain-incident-on-incident"]["poll_interval_seconds"] == 0.5


def test_served_runs_work_where_prefect_yaml_pulls_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_DEFENDER_HOME", raising=False)
    assert serving_directory() == ROOT
    assert (serving_directory() / "examples" / "sigma").is_dir()  # sigma-hunt's rule_paths
    monkeypatch.setenv("PREFECT_DEFENDER_HOME", "/opt/prefect-defender")
    assert serving_directory() == Path("/opt/prefect-defender")


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
