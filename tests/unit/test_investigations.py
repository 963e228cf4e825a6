"""Investigations below the network: ids, states and the model."""

from __future__ import annotations

import pytest

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.investigations import (
    FINAL_STATES,
    Investigation,
    InvestigationState,
)
from prefect_defender.api.resources.investigations import check_investigation_id


def test_investigation_id_or_alert_id() -> None:
    assert check_investigation_id(63017) == "63017"
    assert check_investigation_id("da637139166940871892_-598649278") == (
        "da637139166940871892_-598649278"
    )
    for bad in ("", "../x", "a b", True, "x" * 300):
        with pytest.raises(ValidationError):
            check_investigation_id(bad)


def test_documented_states() -> None:
    assert len(InvestigationState) == 18
    assert {s.value for s in InvestigationState} >= FINAL_STATES
    assert "Running" not in FINAL_STATES and "PendingApproval" not in FINAL_STATES


def test_model_keeps_open_states() -> None:
    inv = Investigation.model_validate({"id": 63017, "state": "SomethingNew", "extra": 1})
    assert inv.id == "63017" and inv.state == "SomethingNew" and not inv.is_final
    assert Investigation.model_validate({"id": "1", "state": "Benign"}).is_final
