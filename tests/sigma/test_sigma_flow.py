"""The Sigma hunt end to end: real rules, converted and checked, hunted over HTTPS against the
emulator's hunting tables (duckdb-kql), events on a real Prefect server, the report artifact."""

from __future__ import annotations

import asyncio
import textwrap
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)

from prefect_defender.api.errors import ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from prefect_defender.flows.sigma import ARTIFACT_KEY, EXAMPLE_RULES, SIGMA_HIT_EVENT, sigma_hunt
from prefect_defender.tasks.hunting import run_hunting_query
from prefect_defender.tasks.sigma import convert_sigma_rules, run_sigma_hunts
from tests.client_count import count_clients

APP = "defender-application-credentials/sigma"
PARTNER = "defender-partner-credentials/sigma"
C2 = "Connection to a Known Command-and-Control Range or Domain"
INVOICE = "Invoice-Themed Executable Run Silently"
OUTLOOK = "Outlook Writes a File to a Downloads Folder"
POWERSHELL = "PowerShell Started With an Encoded Command"
CERTUTIL = "Certutil Used to Download a File"

BROKEN = [
    # keyword rule: would become `| where "mimikatz"`
    "title: Mimikatz keyword\nlogsource: {category: process_creation, product: windows}\n"
    "detection:\n  kw: [mimikatz]\n  condition: kw\nlevel: high\n",
    # a field the Microsoft XDR pipeline cannot map
    "title: Odd directory\nlogsource: {category: process_creation, product: windows}\n"
    "detection:\n  sel:\n    CurrentDirectory: 'C:\\Temp'\n  condition: sel\n",
    # valid in Defender's schema, but the emulator's tables lack the column: the service says 400
    "title: Renamed CertUtil\nlogsource: {category: process_creation, product: windows}\n"
    "detection:\n  sel:\n    OriginalFileName: CertUtil.exe\n  condition: sel\n",
]


@pytest.fixture
def block(prefect_harness, conn: dict) -> str:
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0).save(
        "sigma", overwrite=True
    )
    return APP


def _requests(emulator: Any) -> int:
    return sum(r["count"] for r in emulator.admin.stats()["requests"])


async def _events(since: datetime, prefix: str) -> list[Any]:
    async with get_client() as client:
        page = await client.read_events(
            EventFilter(
                event=EventNameFilter(name=[SIGMA_HIT_EVENT]),
                occurred=EventOccurredFilter(since=since, until=datetime.now(UTC)),
                resource=EventResourceFilter(id_prefix=[prefix]),
            ),
            limit=50,
        )
        return list(page.events)


async def events_for(since: datetime, prefix: str, expected: int) -> list[Any]:
    """Events persisted by the server (its event pipeline is asynchronous)."""
    deadline = time.monotonic() + 20.0
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = await _events(since, prefix)
        if len(found) >= expected:
            await asyncio.sleep(1.0)  # and nothing more arrives
            return await _events(since, prefix)
        await asyncio.sleep(0.3)
    return found


async def _artifact(run_id: Any) -> str:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[ARTIFACT_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            )
        )
    assert found, "no report artifact"
    return str(found[0].data)


async def test_example_rules_hit_seeded_data_emit_events_once_and_report(
    block, fresh, tenants
) -> None:
    tid = tenants["contoso"]
    since = datetime.now(UTC) - timedelta(seconds=5)
    state = await sigma_hunt(
        credentials=block,
        rule_paths=[str(EXAMPLE_RULES)],
        rule_texts=BROKEN,
        lookback_hours=720,
        return_state=True,
    )
    out = await state.aresult()
    assert out["rules"] == 8 and out["converted"] == 6
    by_title = {o["title"]: o for o in out["outcomes"]}
    assert {o["tenant_id"] for o in out["outcomes"]} == {tid}
    # the seeded C2 connections, the invoice dropper and Outlook's file are on 3 workstations
    for title in (C2, INVOICE, OUTLOOK):
        o = by_title[title]
        assert o["status"] == "hit", o
        assert len(o["device_names"]) >= 3 and o["row_count"] >= 3
        assert all(n.endswith(".contoso.example") for n in o["device_names"])
        assert o["event_id"]
    assert by_title[POWERSHELL]["status"] == "hit"  # encoded PowerShell in the process table
    assert by_title[CERTUTIL]["status"] == "no_hits" and by_title[CERTUTIL]["row_count"] == 0
    assert "case-insensitive" in by_title[INVOICE]["fixes"][0]
    # nothing dropped: refused rules and the one the service rejected carry their reasons
    assert by_title["Mimikatz keyword"]["status"] == "not_run"
    assert "keyword search" in by_title["Mimikatz keyword"]["reason"]
    assert "CurrentDirectory" in by_title["Odd directory"]["reason"]
    assert by_title["Renamed CertUtil"]["status"] == "failed"
    assert "BadRequest" in by_title["Renamed CertUtil"]["reason"]
    assert {n["title"] for n in out["not_converted"]} == {"Mimikatz keyword", "Odd directory"}
    assert out["hits"] == 4 and out["events"] == 4

    # one event per rule with hits, with the documented resource and payload
    prefix = f"defender.sigma.{tid}."
    evs = await events_for(since, prefix, 4)
    assert len(evs) == 4
    c2 = next(e for e in evs if e.payload["title"] == C2)
    rule_id = by_title[C2]["rule_id"]
    assert c2.resource["prefect.resource.id"] == f"defender.sigma.{tid}.{rule_id}"
    assert c2.resource["defender.sigma.rule.level"] == "critical"
    assert c2.resource["defender.tenant.id"] == tid
    assert c2.payload["row_count"] == by_title[C2]["row_count"]
    assert sorted(c2.payload["device_names"]) == sorted(by_title[C2]["device_names"])
    assert "attack.t1071.001" in c2.payload["tags"]
    assert str(c2.id) == by_title[C2]["event_id"]

    # a re-run in the same window emits the same ids: the server keeps one of each
    again = await sigma_hunt(credentials=block, rule_paths=[str(EXAMPLE_RULES)], lookback_hours=720)
    assert sorted(o["event_id"] for o in again["outcomes"] if o["event_id"]) == sorted(
        o["event_id"] for o in out["outcomes"] if o["event_id"]
    )
    await asyncio.sleep(2.0)  # as long as the first run's events took to arrive
    assert len(await _events(since, prefix)) == 4

    md = await _artifact(state.state_details.flow_run_id)
    assert "## Not converted" in md and "keyword search" in md and "CurrentDirectory" in md
    assert "Renamed CertUtil" in md and "BadRequest" in md
    assert 'matches regex \\"(?is)^' in md or 'matches regex "(?is)^' in md


async def test_the_stock_backend_misses_what_the_corrected_query_finds(block, fresh, conn):
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)
    [conv] = [
        c for c in convert_sigma_rules.fn(rule_paths=[str(EXAMPLE_RULES)]) if c.title == INVOICE
    ]
    assert conv.stock_kql is not None
    stock = await run_hunting_query(creds, conv.stock_kql)
    ours = await run_hunting_query(creds, str(conv.kql))
    assert len(stock) == 0 and len(ours) >= 3


async def test_short_lookback_and_task_level_batch(block, fresh, conn, tenants) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)
    convs = convert_sigma_rules.fn(rule_paths=[str(EXAMPLE_RULES)])
    fresh.admin.reset_stats()
    outcomes = await run_sigma_hunts(creds, convs, lookback_hours=24, surface="xdr")
    assert len(outcomes) == len(convs) == 5
    # one request per converted rule, all in one batch
    assert _requests(fresh) == 5
    by_title = {o.title: o for o in outcomes}
    # the planted activity is two hours old: inside a 24-hour lookback
    assert by_title[C2].status == "hit" and by_title[C2].first_seen is not None
    assert by_title[C2].last_seen >= datetime.now(UTC) - timedelta(hours=24)
    assert "ago(24h)" in str(by_title[C2].query)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, "at least one rule"),
        ({"rule_paths": ["/nonexistent/sigma"]}, "does not exist"),
        ({"rule_texts": ["   "]}, "non-empty"),
        ({"rule_paths": [str(EXAMPLE_RULES)], "lookback_hours": 0}, "lookback_hours"),
        ({"rule_paths": [str(EXAMPLE_RULES)], "lookback_hours": 721}, "lookback_hours"),
        ({"rule_paths": [str(EXAMPLE_RULES)], "dedupe_window_hours": 0}, "dedupe_window"),
    ],
)
async def test_invalid_input_raises_before_any_request(block, fresh, kwargs, match) -> None:
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match=match):
        await sigma_hunt(credentials=block, **kwargs)
    assert _requests(fresh) == 0


async def test_partner_block_hunts_every_tenant_and_survives_one_failing(
    prefect_harness, fresh, conn, tenants
) -> None:
    await DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=60.0
    ).asave("sigma", overwrite=True)
    text = textwrap.dedent(
        """\
        title: C2 domain
        id: 7a1c3e5b-9d2f-4e60-8b14-3f5a7c9e1b02
        level: high
        logsource: {category: network_connection, product: windows}
        detection:
          sel:
            DestinationHostname|endswith: '.evil.example'
          condition: sel
        """
    )
    out = await sigma_hunt(credentials=PARTNER, rule_texts=[text], lookback_hours=24)
    by_tenant = {o["tenant_id"]: o for o in out["outcomes"]}
    assert by_tenant[tenants["contoso"]]["status"] == "hit"
    assert by_tenant[tenants["fabrikam"]]["status"] == "hit"
    assert by_tenant[tenants["northwind"]]["status"] == "failed"  # no consent: reported
    assert by_tenant[tenants["northwind"]]["reason"]
    assert out["events"] == 2
    assert {o["event_id"] for o in out["outcomes"] if o["event_id"]} == {
        by_tenant[tenants["contoso"]]["event_id"],
        by_tenant[tenants["fabrikam"]]["event_id"],
    }


async def test_one_client_per_tenant_for_the_whole_run(
    prefect_harness, fresh, conn, tenants, monkeypatch
) -> None:
    """A partner run opens one tenant scope per customer: one client each, built by the flow
    and handed to the hunt task (before: each task built its own client from the block)."""
    await DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=60.0
    ).asave("sigma", overwrite=True)
    built = count_clients(monkeypatch)
    out = await sigma_hunt(credentials=PARTNER, rule_paths=[str(EXAMPLE_RULES)], emit_events=False)
    northwind = [o["status"] for o in out["outcomes"] if o["tenant_id"] == tenants["northwind"]]
    assert len(northwind) == out["rules"] and "failed" in northwind  # no consent: reported
    assert built == [(tenants[n], "flow") for n in ("contoso", "fabrikam", "northwind")]
