"""Fixtures of the incidents/alerts tests: credentials and an incident of their own."""

from __future__ import annotations

from typing import Any

import pytest

from prefect_defender.blocks import DefenderApplicationCredentials
from tests.incidents.helpers import OwnIncident, make_incident


@pytest.fixture
def creds(conn: dict[str, Any]) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


@pytest.fixture
def readonly(conn: dict[str, Any]) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, app="readonly")


@pytest.fixture
def own(fresh: Any, tenants: dict[str, str]) -> OwnIncident:
    """A new High incident with three alerts in contoso."""
    return make_incident(fresh, tenants["contoso"])
