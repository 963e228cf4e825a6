"""Graph first: the same incidents through Graph and XDR, the retiring surfaces only on request
(a parameter or a block setting), one warning per process naming the retirement date."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from prefect_defender.api import lifecycle
from prefect_defender.api.models.incidents import Incident
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.hunting import hunt_ioc, run_hunting_query
from prefect_defender.tasks.incidents import (
    add_incident_comment,
    get_incident,
    list_incidents,
    update_incident,
)


def _view(incident: Incident) -> dict[str, Any]:
    """What the playbooks read of an incident: its fields, comments, alerts, devices, entities."""
    return {
        "incident": (
            incident.incident_id,
            incident.incident_name,
            incident.created_time,
            incident.last_update_time,
            incident.status,
            incident.severity,
            incident.classification,
            incident.determination,
            incident.assigned_to,
            tuple(incident.tags),
        ),
        "comments": [(c.comment, c.created_by, c.created_time) for c in incident.comments],
        "alerts": sorted(
            (
                a.alert_id,
                a.title,
                a.status,
                a.severity,
                a.creation_time,
                tuple(a.mitre_techniques),
                tuple(sorted((d.device_id, d.device_dns_name) for d in a.devices)),
                tuple(
                    sorted(
                        (
                            e.entity_type,
                            e.sha1,
                            e.sha256,
                            e.ip_address,
                            e.url,
                            e.account_name,
                            e.user_principal_name,
                        )
                        for e in a.entities
                    )
                ),
            )
            for a in incident.alerts
        ),
    }


@pytest.fixture
def creds(conn: dict[str, Any]) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


async def test_every_seeded_incident_reads_the_same_on_graph_and_xdr(
    prefect_harness: Any, fresh: Any, creds: Any
) -> None:
    """The emulator's XDR and Graph views hold the same incidents, and the client turns Graph's
    into the same playbook view (devices from deviceEvidence, entities from the evidence),
    also after a write through either surface (tags, classification, comments)."""
    first = (await list_incidents(creds, limit=3))[0].incident_id
    await update_incident(
        creds, first, classification="TruePositive", determination="Malware", tags=["via-graph"]
    )
    await add_incident_comment(creds, first, "written on Graph")
    await add_incident_comment(creds, first, "written on XDR", surface="xdr")
    graph = {i.incident_id: i for i in await list_incidents(creds, limit=None, expand_alerts=True)}
    xdr = {i.incident_id: i for i in await list_incidents(creds, limit=None, surface="xdr")}
    assert len(graph) >= 40 and graph.keys() == xdr.keys()
    for iid, inc in graph.items():
        assert _view(inc) == _view(xdr[iid]), iid
    mine = graph[first]
    assert (mine.classification, mine.determination, mine.tags) == (
        "TruePositive",
        "Malware",
        ["via-graph"],
    )
    assert [c.comment for c in mine.comments][-2:] == ["written on Graph", "written on XDR"]
    assert mine.incident_web_url and all(a.provider_alert_id for a in mine.alerts)
    assert all(i.alerts and i.device_ids() for i in graph.values())
    assert {e.entity_type for i in graph.values() for a in i.alerts for e in a.entities} >= {
        "File",
        "Ip",
        "Url",
        "User",
    }


async def test_xdr_only_on_request_with_one_warning_per_process(
    prefect_harness: Any, fresh: Any, creds: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lifecycle.forget_warnings()  # as in a new process
    with caplog.at_level(logging.WARNING, logger="prefect_defender.lifecycle"):
        await get_incident(creds, 1001)
        assert fresh.admin.surface_counts()["xdr"] == 0 and not caplog.records
        for _ in range(3):
            on_xdr = await get_incident(creds, 1001, surface="xdr")
        await run_hunting_query(creds, "DeviceInfo | take 1", surface="mde")
        await run_hunting_query(creds, "DeviceInfo | take 1", surface="mde")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines  # one per retiring endpoint asked for, not one per call
    assert all("2027-02-01" in line and "MC1220762" in line for line in lines)
    assert lines[0].startswith("xdr.incidents.get ") and "graph.incidents.get" in lines[0]
    assert lines[1].startswith("mde.hunting.run ") and "graph.hunting.run" in lines[1]
    assert on_xdr.surface.value == "xdr" and fresh.admin.surface_counts()["xdr"] == 3


async def test_a_block_can_ask_for_the_retiring_surfaces(
    prefect_harness: Any, fresh: Any, conn: dict[str, Any]
) -> None:
    legacy = DefenderApplicationCredentials.from_emulator(
        conn, incident_surface="xdr", hunting_surface="xdr", rate_limit_time_scale=60.0
    )
    incident = await get_incident(legacy, 1001)
    rows = await hunt_ioc(legacy, "ip", ["203.0.113.66"], lookback_days=30)
    counts = fresh.admin.surface_counts()
    assert incident.surface.value == "xdr" and rows
    assert counts["graph"] == 0 and counts["xdr"] == 2
    # an explicit parameter still wins over the block
    assert (await get_incident(legacy, 1001, surface="graph")).surface.value == "graph"


async def test_hunting_runs_on_graph_unless_asked(
    prefect_harness: Any, fresh: Any, creds: Any
) -> None:
    rows = await hunt_ioc(creds, "ip", ["203.0.113.66"], lookback_days=30)
    result = await run_hunting_query(creds, "DeviceInfo | take 2")
    assert rows and len(result) == 2 and result.surface.value == "graph"
    assert fresh.admin.surface_counts() | {"entra": 0} == {
        "graph": 2,
        "mde": 0,
        "xdr": 0,
        "entra": 0,
    }
