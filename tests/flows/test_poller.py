"""The incident poller: one event per new or changed incident, tie-safe, exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.variables import Variable

from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from prefect_defender.flows.poller import incident_poller
from prefect_defender.tasks.incident_polling import Checkpoint
from tests.client_count import count_clients
from tests.flows.conftest import start

APP = "defender-application-credentials/poller"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


@pytest.fixture
def block(prefect_harness, conn: dict) -> str:
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0).save(
        "poller", overwrite=True
    )
    return APP


async def _events(since: datetime, resources: list[str]) -> list[Any]:
    async with get_client() as client:
        page = await client.read_events(
            EventFilter(
                event=EventNameFilter(prefix=["defender.incident."]),
                occurred=EventOccurredFilter(since=since, until=datetime.now(UTC)),
                resource=EventResourceFilter(id=resources),
            ),
            limit=50,
        )
        return list(page.events)


def events_for(since: datetime, resources: list[str], expected: int) -> list[Any]:
    """Events persisted by the server (its event pipeline is asynchronous)."""
    deadline = time.monotonic() + 20.0
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = asyncio.run(_events(since, resources))
        if len(found) >= expected:
            time.sleep(1.0)  # and nothing more arrives
            return asyncio.run(_events(since, resources))
        time.sleep(0.5)
    return found


def test_same_second_updates_restart_and_exactly_once(block, fresh, tenants, pool) -> None:
    tid = tenants["contoso"]
    var = f"cp_{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(seconds=5)
    # everything changed in the last 10 minutes is "new" to a poller with a 10-minute lookback
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    a, b = fresh.admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": "poll A",
                "severity": "High",
                "lastUpdateTime": iso(t0),
                "createdTime": iso(t0),
            },
            {
                "incidentName": "poll B",
                "severity": "Low",
                "lastUpdateTime": iso(t0),
                "createdTime": iso(t0),
            },
        ],
    )
    first = start(
        pool, incident_poller, credentials=block, checkpoint_variable=var, initial_lookback_hours=1
    ).result(timeout=60)
    cp = Checkpoint.model_validate(Variable.get(var)[tid])
    assert cp.last_update == t0 and sorted(cp.ids_at_last_update) == sorted(
        [a["incidentId"], b["incidentId"]]
    )
    assert first[tid] >= 2
    # a third incident updated in the very same second: seen once, A and B not repeated
    (c,) = fresh.admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": "poll C",
                "severity": "Medium",
                "lastUpdateTime": iso(t0),
                "createdTime": iso(t0),
            }
        ],
    )
    second = start(pool, incident_poller, credentials=block, checkpoint_variable=var).result(
        timeout=60
    )
    assert second[tid] == 1
    # a restart with nothing new emits nothing
    third = start(pool, incident_poller, credentials=block, checkpoint_variable=var).result(
        timeout=60
    )
    assert third[tid] == 0
    # an update to A one second later is an "updated" event
    fresh.admin.upsert_incidents(
        tid,
        [
            {
                "incidentId": a["incidentId"],
                "status": "InProgress",
                "lastUpdateTime": iso(t0 + timedelta(seconds=1)),
            }
        ],
    )
    fourth = start(pool, incident_poller, credentials=block, checkpoint_variable=var).result(
        timeout=60
    )
    assert fourth[tid] == 1
    rids = [f"defender.incident.{tid}.{x['incidentId']}" for x in (a, b, c)]
    ours = events_for(since, rids, 4)
    names = sorted((e.resource["defender.incident.id"], e.event) for e in ours)
    assert names == sorted(
        [
            (str(a["incidentId"]), "defender.incident.created"),
            (str(b["incidentId"]), "defender.incident.created"),
            (str(c["incidentId"]), "defender.incident.created"),
            (str(a["incidentId"]), "defender.incident.updated"),
        ]
    )
    created = next(
        e
        for e in ours
        if e.resource["defender.incident.id"] == str(a["incidentId"])
        and e.event == "defender.incident.created"
    )
    assert created.payload["severity"] == "High"
    assert created.resource["prefect.resource.id"] == f"defender.incident.{tid}.{a['incidentId']}"
    # read on Graph (the default): the labels the triggers match keep XDR's spelling
    assert created.resource["defender.incident.severity"] == "High"
    assert created.payload["surface"] == "graph" and created.payload["status"] == "Active"
    assert fresh.admin.surface_counts()["xdr"] == 0


def test_events_are_the_same_on_graph_and_xdr(fresh, conn, tenants) -> None:
    """The poller on Graph (default) and on XDR (``surface="xdr"``) emits the same events for
    the same incident versions: names, resource labels, ids and payloads (but ``surface``), so
    a deployment trigger written for XDR events matches the Graph ones."""
    from prefect_defender.flows.poller import incident_event
    from prefect_defender.tasks.incident_polling import poll_incidents

    tid = tenants["contoso"]
    creds = DefenderApplicationCredentials.from_emulator(conn)
    start_cp = Checkpoint(last_update=datetime.now(UTC) - timedelta(days=8))
    out = {}
    for surface in ("graph", "xdr"):
        changed, _ = asyncio.run(poll_incidents.fn(creds, start_cp, tid, surface=surface))
        out[surface] = {i.incident_id: incident_event(tid, i, c) for i, c in changed}
    assert len(out["graph"]) >= 40 and out["graph"].keys() == out["xdr"].keys()
    labelled = 0
    for iid, graph in out["graph"].items():
        xdr = out["xdr"][iid]
        assert (graph["event"], graph["resource"], graph["id"]) == (
            xdr["event"],
            xdr["resource"],
            xdr["id"],
        )
        assert graph["payload"].pop("surface") == "graph"
        assert xdr["payload"].pop("surface") == "xdr"
        assert graph["payload"] == xdr["payload"]
        labelled += graph["resource"]["defender.incident.has_accounts"] == "true"
    assert labelled > 0  # the accounts come from Graph's userEvidence


def test_partner_block_polls_every_tenant_and_survives_one_failing(
    prefect_harness, conn, fresh, tenants, pool
) -> None:
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=60.0
    ).save("poller", overwrite=True)
    var = f"cp_{uuid.uuid4().hex[:8]}"
    out = start(
        pool,
        incident_poller,
        credentials="defender-partner-credentials/poller",
        checkpoint_variable=var,
        initial_lookback_hours=200,
    ).result(timeout=90)
    assert out[tenants["contoso"]] > 0 and out[tenants["fabrikam"]] > 0
    assert out[tenants["northwind"]] == -1  # no consent: logged, not fatal
    stored = Variable.get(var)
    assert set(stored) == {tenants["contoso"], tenants["fabrikam"]}


def test_one_client_per_tenant_for_the_whole_run(
    prefect_harness, conn, fresh, tenants, pool, monkeypatch
) -> None:
    """A partner run opens one tenant scope per customer: one client each, built by the flow
    and handed to the poll task (before: each task built its own client from the block)."""
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=60.0
    ).save("poller-clients", overwrite=True)
    built = count_clients(monkeypatch)
    out = start(
        pool,
        incident_poller,
        credentials="defender-partner-credentials/poller-clients",
        checkpoint_variable=f"cp_{uuid.uuid4().hex[:8]}",
        initial_lookback_hours=200,
    ).result(timeout=90)
    assert out[tenants["contoso"]] > 0 and out[tenants["northwind"]] == -1
    names = ["contoso", "fabrikam", "northwind"]
    assert built == [(tenants[n], "flow") for n in names]


def test_checkpoint_advance_is_order_independent() -> None:
    from prefect_defender.api.models.incidents import Incident

    t = datetime(2026, 1, 1, tzinfo=UTC)
    incs = [
        Incident(incidentId=i, lastUpdateTime=t + timedelta(seconds=s))
        for i, s in [(1, 0), (2, 1), (3, 1), (4, 0)]
    ]
    forward = Checkpoint().advance(incs)
    backward = Checkpoint().advance(list(reversed(incs)))
    assert forward == backward
    assert forward.last_update == t + timedelta(seconds=1)
    assert forward.ids_at_last_update == [2, 3]
    # a later page with an older timestamp never moves the checkpoint back
    assert forward.advance(incs[:1]) == forward


@pytest.mark.parametrize("surface", ["graph", "xdr"])
@pytest.mark.parametrize(
    ("order", "offset"),
    [("oldest_first", -1), ("newest_first", 0), ("newest_first", -1)],
)
def test_incident_changed_while_paging_is_neither_lost_nor_repeated(
    fresh: Any, conn: dict, tenants: dict, order: str, offset: int, surface: str
) -> None:
    """An analyst updates an incident while the poller pages through 250 changed incidents
    (``$skip`` pages shift under the read, which loses an incident unless the read is
    repeated): across this poll and the next, every incident is reported, no version twice,
    and the last report of each is its newest version. Graph serves pages of 100 here (it may
    serve fewer than ``$top`` asks), XDR its maximum of 100."""
    from prefect_defender.tasks.incident_polling import poll_incidents

    tid = tenants["contoso"]
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    base = began - timedelta(minutes=30)
    made = fresh.admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": f"paging {order} {offset} {n}",
                "severity": "Medium",
                "createdTime": iso(base + timedelta(seconds=n)),
                "lastUpdateTime": iso(base + timedelta(seconds=n)),
            }
            for n in range(250)
        ],
    )
    ours = {m["incidentId"] for m in made}
    creds = DefenderApplicationCredentials.from_emulator(conn)
    start_cp = Checkpoint(last_update=base - timedelta(seconds=1))
    fresh.admin.patch_config(
        incidents_order=order, concurrent_incident_update={"offset": offset}, graph_page_cap=100
    )
    try:
        changed, cp = asyncio.run(poll_incidents.fn(creds, start_cp, tid, surface=surface))
        again, _ = asyncio.run(poll_incidents.fn(creds, cp, tid, surface=surface))
    finally:
        fresh.admin.patch_config(
            incidents_order=None, concurrent_incident_update=None, graph_page_cap=None
        )
    assert fresh.admin.surface_counts()["xdr" if surface == "graph" else "graph"] == 0
    emitted = [(i.incident_id, i.last_update_time) for i, _ in changed + again]
    from collections import Counter

    dup = [e for e, c in Counter(emitted).items() if c > 1]
    assert not dup, (dup, cp, [i.incident_id for i, _ in again])  # no version reported twice
    assert len(changed) == len({i.incident_id for i, _ in changed})  # one event per incident
    got = {n for n, _ in emitted}
    assert ours <= got  # none lost
    # everything the service holds as changed since the checkpoint came out, newest versions
    stored = {i["incidentId"]: i["lastUpdateTime"] for i in fresh.admin.dump(tid, "incidents")}
    since = iso(start_cp.query_since() or base)[:19]
    assert got == {n for n, t in stored.items() if t[:19] >= since}
    assert any(stored[n][:19] >= iso(began)[:19] for n in got)  # the analyst's update happened
    newest = {n: t for n, t in sorted(emitted, key=lambda e: (e[0], e[1] or base))}
    assert all(
        (t := newest[n]) is not None and t.strftime("%Y-%m-%dT%H:%M:%S") == stored[n][:19]
        for n in got
    )
