"""Sigma rules deployed as Graph v1.0 custom detection rules, end to end: real rules converted
and created over HTTPS against the emulator (which enforces the v1.0 contract), one outcome per
rule and tenant, the report artifact, and no duplicates on a second run."""

from __future__ import annotations

from typing import Any

import pytest

from prefect_defender.api.errors import ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.flows.sigma import EXAMPLE_RULES
from prefect_defender.flows.sigma_rules import ARTIFACT_KEY, sigma_detection_rules
from prefect_defender.tasks.sigma import convert_sigma_rules, create_sigma_detection_rules
from tests.flows.conftest import latest_artifact
from tests.sigma.test_sigma_flow import BROKEN

APP = "defender-application-credentials/sigma-rules"
POWERSHELL_ID = "sigma-6f0d2c84-3b1e-4a57-9c2d-8e4f1a7b3c01"
RULES = "POST /v1.0/security/rules/detectionRules"


@pytest.fixture
def block(prefect_harness, conn: dict) -> str:
    DefenderApplicationCredentials.from_emulator(conn).save("sigma-rules", overwrite=True)
    return APP


def _stored(emulator: Any, tenant: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in emulator.admin.dump(tenant, "detection_rules")}


async def test_example_rules_become_v1_detection_rules_once(block, fresh, tenants) -> None:
    result = await sigma_detection_rules(
        credentials=block,
        rule_paths=[str(EXAMPLE_RULES)],
        rule_texts=BROKEN,
        frequency="3h",
        status="disabled",
    )
    by_status: dict[str, list[dict[str, Any]]] = {}
    for row in result["outcomes"]:
        by_status.setdefault(row["status"], []).append(row)
    assert len(result["outcomes"]) == result["rules"] == 8  # one outcome per rule
    assert len(by_status["succeeded"]) == result["created"] == 6
    skipped = by_status["skipped"]  # the keyword rule and the unmapped field
    assert len(skipped) == 2 and all(r["reason"].startswith("not converted") for r in skipped)
    rule = _stored(fresh, tenants["contoso"])[POWERSHELL_ID]
    assert rule["status"] == "disabled" and rule["schedule"] == {"frequency": "PT3H"}
    tpl = rule["detectionAction"]["alertTemplate"]
    assert tpl["severity"] == "high"
    assert {t["tactic"] for t in tpl["tactics"]} == {"Execution", "DefenseEvasion"}
    assert tpl["tactics"][0]["techniques"] == [
        {"technique": "T1059", "subTechniques": ["T1059.001"]},
        {"technique": "T1027"},
    ]
    assert tpl["entityMappings"] == {
        "hosts": [{"deviceIdColumn": "DeviceId", "nameColumn": "DeviceName"}]
    }
    assert rule["detectionAction"]["automatedActions"] == {}  # alerts only from the playbook
    report = await latest_artifact(ARTIFACT_KEY)  # the kill-switch cases write this key too
    assert POWERSHELL_ID in report and "6 succeeded" in report
    posted = sum(r["count"] for r in fresh.admin.stats()["requests"] if r["route"] == RULES)
    assert posted == 6  # nothing sent for the two not converted

    again = await sigma_detection_rules(
        credentials=block, rule_paths=[str(EXAMPLE_RULES)], rule_texts=BROKEN[2:]
    )
    assert {r["status"] for r in again["outcomes"]} == {"already_in_progress"}
    assert again["created"] == 0
    assert len([i for i in _stored(fresh, tenants["contoso"]) if i.startswith("sigma-")]) == 6


async def test_automated_actions_are_a_choice_made_in_code(prefect_harness, fresh, conn, tenants):
    creds = DefenderApplicationCredentials.from_emulator(conn)
    [conv] = [
        c for c in convert_sigma_rules.fn(rule_paths=[str(EXAMPLE_RULES)]) if "Encoded" in c.title
    ]
    conv = conv.model_copy(update={"rule_id": "code-choice"})
    actions = {"isolateDevices": [{"deviceIdColumn": "DeviceId", "isolationType": "selective"}]}
    [outcome] = await create_sigma_detection_rules(creds, [conv], automated_actions=actions)
    assert outcome.status == "succeeded" and outcome.result == "sigma-code-choice"
    stored = _stored(fresh, tenants["contoso"])["sigma-code-choice"]
    assert stored["detectionAction"]["automatedActions"] == actions
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="wipeDevices"):
        await create_sigma_detection_rules(creds, [conv], automated_actions={"wipeDevices": []})
    assert not fresh.admin.stats()["requests"]


@pytest.mark.parametrize(
    "kwargs,match",
    [({"frequency": "hourly"}, "frequency"), ({"status": "on!"}, "status")],
)
async def test_bad_parameters_raise_before_any_request(block, fresh, kwargs, match) -> None:
    with pytest.raises(ValidationError, match=match):
        await sigma_detection_rules(credentials=block, rule_paths=[str(EXAMPLE_RULES)], **kwargs)
    assert not fresh.admin.stats()["requests"]
