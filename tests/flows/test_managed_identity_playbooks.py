"""Every playbook that takes credentials runs on a managed-identity block.

The block is ``DefenderManagedIdentityCredentials`` (system-assigned), and its tokens come from
the emulator's App Service managed-identity endpoint (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``,
as the platform sets them); the emulator counts them as ``managed_identity`` grants. Each
playbook runs its read path, writes in dry run where it has one, and the emulator confirms no
other kind of token was asked for. The MSSP fan-out is the one playbook that needs a partner
block by design: it refuses a managed identity with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api.errors import ValidationError
from prefect_defender.blocks import CREDENTIAL_BLOCKS, DefenderManagedIdentityCredentials
from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.block_indicators import block_indicators
from prefect_defender.flows.connectivity import defender_connectivity_check
from prefect_defender.flows.contain import contain_device
from prefect_defender.flows.contain_identity import contain_identity
from prefect_defender.flows.contain_incident import contain_incident
from prefect_defender.flows.evidence import collect_evidence
from prefect_defender.flows.hunt_respond import hunt_and_respond
from prefect_defender.flows.mssp import mssp_fanout
from prefect_defender.flows.poller import incident_poller
from prefect_defender.flows.release import release_containment
from prefect_defender.flows.sigma import EXAMPLE_RULES, sigma_hunt
from prefect_defender.flows.triage import triage_incident, triage_open_incidents
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import load_credentials
from tests.flows.conftest import resume, start, wait_paused

MI = "defender-managed-identity-credentials/playbooks-mi"
DRY = SafetyPolicy(dry_run=True)
AUTO = ApprovalPolicy(auto_approve_severities=["High"], poll_interval_seconds=1)
ASK = ApprovalPolicy(poll_interval_seconds=1)


@pytest.fixture
def mi_block(
    prefect_harness: None, conn: dict, fast_actions: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A saved system-assigned managed-identity block, in the environment App Service gives."""
    mi = conn["managed_identity"]
    monkeypatch.setenv("IDENTITY_ENDPOINT", mi["app_service_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", mi["identity_header"])
    DefenderManagedIdentityCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        MI.split("/")[1], overwrite=True
    )
    yield MI


def _only_managed_identity_tokens(emulator: Any) -> None:
    rows = emulator.admin.stats()["token_requests"]
    assert rows, "the playbook asked for no token"
    assert {r["grant_type"] for r in rows} == {"managed_identity"}


def _writes(emulator: Any) -> list[dict]:
    """Requests that change something (a hunting query is a POST that only reads)."""
    reqs = emulator.admin.stats()["requests"]
    writes = [r for r in reqs if r["method"] in ("POST", "PATCH", "DELETE")]
    return [r for r in writes if "untingQuery" not in r["path"] and "/run" not in r["path"]]


# (flow, parameters, paused flow name to approve or None, check of the result)
CASES: dict[str, tuple[Callable[..., Any], dict[str, Any], str | None, Callable[[Any], bool]]] = {
    "poller": (incident_poller, {}, None, lambda out: isinstance(out, dict)),
    "triage": (
        triage_incident,
        {"incident_id": 1001, "dry_run": True},
        None,
        lambda out: out["score"] > 0,
    ),
    "triage-open": (
        triage_open_incidents,
        {"max_incidents": 1, "dry_run": True},
        None,
        lambda out: len(out) == 1,
    ),
    "contain-device": (
        contain_device,
        {"incident_id": 1001, "approval": AUTO, "safety": DRY},
        None,
        lambda out: bool(out["outcomes"]),
    ),
    "contain-identity": (
        contain_identity,
        {"incident_id": 1001, "approval": AUTO, "safety": DRY},
        None,
        lambda out: bool(out["outcomes"]),
    ),
    "contain-incident": (
        contain_incident,
        {"incident_id": 1001, "approval": AUTO, "safety": DRY},
        None,
        lambda out: bool(out["device_outcomes"]) and bool(out["account_outcomes"]),
    ),
    "block-indicators": (
        block_indicators,
        {"incident_id": 1001, "safety": DRY},
        None,
        lambda out: len(out) > 0,
    ),
    "hunt-and-respond": (
        hunt_and_respond,
        {"ioc_kind": "ip", "ioc_values": ["203.0.113.66"], "approval": ASK, "safety": DRY},
        "defender-hunt-and-respond",
        lambda out: bool(out["matches"]),
    ),
    "sigma-hunt": (
        sigma_hunt,
        {"rule_paths": [str(EXAMPLE_RULES)], "emit_events": False},
        None,
        lambda out: bool(out),
    ),
    "release": (
        release_containment,
        {"incident_id": 1001, "approval": ASK, "safety": DRY},
        "defender-release",
        lambda out: out["approved"],
    ),
    "collect-evidence": (
        collect_evidence,
        {"incident_id": 1001, "safety": DRY},
        None,
        lambda out: bool(out),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_playbook_runs_on_a_managed_identity_block(
    case: str, mi_block: str, fast_actions: Any, tmp_path: Path
) -> None:
    flow, params, paused, check = CASES[case]
    fast_actions.admin.reset_stats()
    fut = start(None, flow, credentials=mi_block, **params)
    if paused:
        resume(wait_paused(paused, set()).id, approve=True, approved_by="mi-test")
    out = fut.result(timeout=120)
    assert check(out), out
    _only_managed_identity_tokens(fast_actions)
    assert _writes(fast_actions) == []  # dry runs: every write stays a plan


def test_connectivity_check_on_a_managed_identity_block(mi_block: str, fast_actions: Any) -> None:
    rows = start(None, defender_connectivity_check, block_names=[mi_block]).result(timeout=120)
    assert rows and all(not r.get("errors") for r in rows), rows
    _only_managed_identity_tokens(fast_actions)


def test_mssp_fanout_refuses_a_managed_identity_with_the_reason(mi_block: str) -> None:
    fut = start(None, mssp_fanout, credentials=mi_block, query="DeviceInfo | take 1")
    with pytest.raises(ValidationError, match="needs a partner credentials block"):
        fut.result(timeout=120)


async def test_scopes_take_every_credential_block_type(mi_block: str) -> None:
    """``load_credentials`` (what every playbook calls) accepts the one list of block types."""
    creds = await load_credentials(mi_block)
    assert isinstance(creds, DefenderManagedIdentityCredentials)
    assert DefenderManagedIdentityCredentials in CREDENTIAL_BLOCKS and len(CREDENTIAL_BLOCKS) == 4
