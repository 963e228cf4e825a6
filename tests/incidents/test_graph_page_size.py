"""Graph security lists ask for pages of 1,000 (not Graph's default 50), counted at the emulator.

10,000 incidents took 201 requests without ``$top``; with pages of 1,000 they take 10-11. The
module's emulator holds 2,500 Graph incidents per tenant, so the counts stay quick to reach.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api.resources.triage import GRAPH_PAGE_MAX, graph_top
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.alerts import list_graph_alerts
from prefect_defender.tasks.incidents import list_graph_incidents
from tests.conftest import emulator_server

INCIDENTS = 2_500
ROUTE = "GET /v1.0/security/incidents"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    config = {"graph_incidents_per_tenant": INCIDENTS, "machines_per_tenant": 10}
    with emulator_server(tmp_path_factory, emulator_keys, config, "emulator-graph-pages") as emu:
        yield emu


def _calls(emu: Any, route: str) -> int:
    return sum(r["count"] for r in emu.admin.stats()["requests"] if r["route"] == route)


async def test_every_graph_incident_in_pages_of_1000(fresh: Any, conn: dict[str, Any]) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    found = await list_graph_incidents.fn(creds, limit=None)
    assert len(found) == INCIDENTS
    assert len({i.id for i in found}) == INCIDENTS
    assert _calls(fresh, ROUTE) == -(-INCIDENTS // GRAPH_PAGE_MAX)  # 3, not 50


async def test_page_size_can_be_chosen_per_call(fresh: Any, conn: dict[str, Any]) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    found = await list_graph_incidents.fn(creds, limit=None, page_size=500)
    assert len(found) == INCIDENTS
    assert _calls(fresh, ROUTE) == INCIDENTS // 500


async def test_a_small_limit_asks_for_no_more(fresh: Any, conn: dict[str, Any]) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    found = await list_graph_incidents.fn(creds, limit=7)
    assert len(found) == 7
    assert _calls(fresh, ROUTE) == 1
    alerts = await list_graph_alerts.fn(creds, limit=3)
    assert len(alerts) == 3
    assert _calls(fresh, "GET /v1.0/security/alerts_v2") == 1


def test_graph_top_bounds() -> None:
    assert graph_top(5000, None) == GRAPH_PAGE_MAX
    assert graph_top(1000, 25) == 25
    assert graph_top(200, None) == 200
    assert graph_top(200, 0) == 200  # no limit given as 0: the page size stands
