"""Graph paging as the service enforces it: ``$top`` at most 1,000, ``$top + $skip`` at most 6,000
(400 with Graph's error body), time windows past the limit, and ``$expand=alerts`` failing.

The module's emulator holds 50,000 incidents in contoso (made cheaply, without alerts), more than
eight times what ``$skip`` can reach; the other tenants keep the default seed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import BadRequestError
from prefect_defender.api.paging import iterate_next_link
from prefect_defender.api.transport import RetryPolicy
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from tests.conftest import emulator_server
from tests.incidents.helpers import requests

BULK = 50_000
LIST = "GET /v1.0/security/incidents"
GET = "GET /v1.0/security/incidents/{id}"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    config = {
        "graph_incidents_per_tenant": BULK,
        "graph_incidents_tenants": ["contoso"],
        "machines_per_tenant": 10,
    }
    with emulator_server(tmp_path_factory, emulator_keys, config, "emulator-50k") as emu:
        yield emu


@pytest.fixture
def creds(conn: dict[str, Any]) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


def fast_retries(client: Any) -> None:
    """A 5xx is retried a few times quickly (the default waits up to a minute in all)."""
    client.transport.retry = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.02)


async def test_50000_incidents_are_read_past_the_6000_skip_limit(
    fresh: Any, creds: Any, tenants: dict[str, str]
) -> None:
    started = time.monotonic()
    async with creds.get_client() as client:
        ids = [i.id async for i in client.graph_incidents.iterate(limit=None)]
    seconds = time.monotonic() - started
    stored = {str(i["incidentId"]) for i in fresh.admin.dump(tenants["contoso"], "incidents")}
    assert len(stored) == BULK
    assert len(ids) == BULK and set(ids) == stored  # each once, none missing
    stats = fresh.admin.stats()
    assert requests(stats, LIST, 400) == 0  # never asked past $top + $skip = 6,000
    pages = requests(stats, LIST, 200)
    # 50 pages of 1,000, plus one count probe per window (and the ties re-read at its edge)
    assert BULK // 1000 <= pages <= BULK // 1000 + 2 * (BULK // 5000)
    print(f"\n50,000 Graph incidents read in {seconds:.1f} s with {pages} requests")


async def test_the_emulator_refuses_what_graph_refuses(fresh: Any, creds: Any) -> None:
    ep = endpoint("graph.incidents.list")
    async with creds.get_client() as client:
        t = client.transport
        ok = await t.request_json(ep, params={"$top": 10, "$skip": 5990})
        assert len(ok["value"]) == 10
        for params, limit in (({"$top": 10, "$skip": 5991}, "6000"), ({"$top": 1001}, "1000")):
            with pytest.raises(BadRequestError) as info:
                await t.request_json(ep, params=params)
            assert info.value.status == 400
            assert info.value.message.startswith("The query specified in the URI is not valid.")
            assert f"The limit of '{limit}'" in info.value.message
        raw = await t._http().get(  # the body as Graph writes it: no code, details, innerError
            t.url_for(ep), params={"$top": 2000}, headers=await _auth(t)
        )
        body = raw.json()["error"]
        assert raw.status_code == 400 and body["code"] == "" and body["details"] == []
        assert set(body["innerError"]) == {"date", "request-id", "client-request-id"}
        # following the service's own nextLinks runs into the limit at the 6,000th incident
        seen = 0
        with pytest.raises(BadRequestError):
            async for _ in iterate_next_link(t, ep, params={"$top": 1000}):
                seen += 1
        assert seen == 6000


async def _auth(t: Any) -> dict[str, str]:
    token = await t.provider.get_token(t.endpoints.scope(endpoint("graph.incidents.list").surface))
    return {"Authorization": f"Bearer {token.token}"}


async def test_a_lower_top_limit_is_read_from_the_refusal(fresh: Any, creds: Any) -> None:
    """A tenant whose list allows 50 a page (wazuh/wazuh#28070): the first page is asked
    again with ``$top=50`` and the list is read in pages of 50."""
    fresh.admin.patch_config(graph_top_max=50)
    try:
        since = datetime.now(UTC) - timedelta(hours=1, seconds=13 * 300)
        async with creds.get_client() as client:
            found = await client.graph_incidents.list(updated_since=since, limit=None)
    finally:
        fresh.admin.patch_config(graph_top_max=None)
    assert len(found) == len({i.id for i in found}) >= 100
    stats = fresh.admin.stats()
    assert requests(stats, LIST, 400) == 1
    assert requests(stats, LIST, 200) == -(-len(found) // 50)  # pages of 50


async def test_expand_alerts_failing_reads_each_incidents_alerts(
    fresh: Any, conn: dict[str, Any], tenants: dict[str, str]
) -> None:
    """elastic/integrations#18144: the expanded list answers 500; the incidents come from the
    plain list and each one's alerts from its own GET (the seeded fabrikam incidents)."""
    partner = DefenderPartnerCredentials.from_emulator(conn, tenants=["fabrikam"])
    async with partner.get_client(tenants["fabrikam"]) as client:
        fast_retries(client)
        expected = {
            i.incident_id: sorted(a.alert_id or "" for a in i.alerts)
            for i in await client.incidents.list(limit=None, surface="xdr")
        }
        fresh.admin.reset_stats()
        fresh.admin.patch_config(graph_expand_alerts_error=True)
        try:
            found = await client.incidents.list(limit=None, expand_alerts=True)
        finally:
            fresh.admin.patch_config(graph_expand_alerts_error=None)
    got = {i.incident_id: sorted(a.alert_id or "" for a in i.alerts) for i in found}
    assert got == expected and all(got.values())
    stats = fresh.admin.stats()
    assert requests(stats, LIST, 500) == 3  # tried, retried, given up: then no more expansion
    assert requests(stats, GET, 200) == len(expected)
    assert requests(stats, LIST, 200) == 1
