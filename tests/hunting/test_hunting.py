"""Advanced hunting end to end on each surface and table, IOC hunts, errors, exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import BadRequestError, PermissionDeniedError, ValidationError
from prefect_defender.api.kql import kql_string
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.hunting import (
    export_hunting_result,
    hunt_ioc,
    run_hunting_queries,
    run_hunting_query,
)

TABLES = [
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "DeviceLogonEvents",
    "DeviceInfo",
    "EmailEvents",
    "AlertInfo",
    "AlertEvidence",
]
IOCS = {
    "sha256": "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
    "c2_ip": "203.0.113.66",
    "c2_domain": "update-check.evil.example",
}


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=60.0)


def _count(stats: dict) -> int:
    return sum(r["count"] for r in stats["requests"])


@pytest.mark.parametrize("table", TABLES)
async def test_every_table_on_graph_and_xdr(prefect_harness, fresh, creds, table) -> None:
    for surface in ("graph", "xdr"):
        result = await run_hunting_query(creds, f"{table} | take 5", surface=surface)
        assert len(result) == 5, (surface, table)
        assert "Timestamp" in result.columns
        first = next(result.typed_rows())
        assert first["Timestamp"].tzinfo is not None


async def test_mde_surface_only_has_device_tables(prefect_harness, fresh, creds) -> None:
    ok = await run_hunting_query(creds, "DeviceInfo | count", surface="mde")
    assert ok.rows[0]["Count"] > 0
    with pytest.raises(BadRequestError, match="EmailEvents"):
        await run_hunting_query(creds, "EmailEvents | take 1", surface="mde")


async def test_names_are_case_sensitive_and_bad_kql_is_400(prefect_harness, fresh, creds) -> None:
    with pytest.raises(BadRequestError) as info:
        await run_hunting_query(creds, "deviceprocessevents | take 1")
    assert info.value.code == "BadRequest" and "deviceprocessevents" in info.value.message
    with pytest.raises(BadRequestError):
        await run_hunting_query(creds, "DeviceProcessEvents | project filename")
    with pytest.raises(BadRequestError):
        await run_hunting_query(creds, "DeviceProcessEvents | where | take")


async def test_graph_timespan_restricts_rows(prefect_harness, fresh, creds) -> None:
    whole = await run_hunting_query(creds, "DeviceProcessEvents | count")
    hour = await run_hunting_query(creds, "DeviceProcessEvents | count", timespan="PT1H")
    assert 0 <= hour.rows[0]["Count"] < whole.rows[0]["Count"]
    with pytest.raises(ValidationError):
        await run_hunting_query(creds, "DeviceInfo", surface="xdr", timespan="P1D")
    with pytest.raises(ValidationError):
        await run_hunting_query(creds, "DeviceInfo", timespan="1 day")


async def test_batch_keeps_going_after_a_bad_query(prefect_harness, fresh, creds) -> None:
    outcomes = await run_hunting_queries(
        creds,
        {"ok": "DeviceInfo | take 2", "bad": "DeviceInfo | frobnicate", "ok2": "AlertInfo | count"},
    )
    assert [o.status for o in outcomes] == ["succeeded", "failed", "succeeded"]
    assert outcomes[1].error["code"] == "BadRequest"


@pytest.mark.parametrize(
    "kind,values",
    [
        ("hash", [IOCS["sha256"]]),
        ("ip", [IOCS["c2_ip"]]),
        ("domain", ["evil.example"]),
        ("account", ["jdoe"]),
    ],
)
async def test_ioc_hunts_find_the_planted_spread(prefect_harness, fresh, creds, kind, values):
    rows = await hunt_ioc(creds, kind, values, lookback_days=7)
    names = {r["DeviceName"] for r in rows}
    assert "con-ws-001.contoso.example" in names or len(names) >= 3
    assert len(names) >= 3 and all(r["Hits"] >= 1 for r in rows)


async def test_invalid_ioc_values_send_nothing(prefect_harness, fresh, creds) -> None:
    await run_hunting_query(creds, "DeviceInfo | take 1")
    fresh.admin.reset_stats()
    for kind, value in [
        ("ip", '1.2.3.4" or true //'),
        ("hash", "abc"),
        ("url", "no-scheme"),
        ("account", "a@b.example"),
        ("domain", "evil.example | take 9"),
    ]:
        with pytest.raises(ValidationError):
            await hunt_ioc(creds, kind, [value])
    assert _count(fresh.admin.stats()) == 0


async def test_permission_error_names_the_hunting_permission(prefect_harness, fresh, conn):
    readonly = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    assert len(await run_hunting_query(readonly, "DeviceInfo | take 1", surface="xdr")) == 1
    with pytest.raises(PermissionDeniedError) as info:
        await run_hunting_query(readonly, "DeviceInfo | take 1", surface="mde")
    assert info.value.required == ("AdvancedQuery.Read.All",)
    assert "WindowsDefenderATP" in str(info.value)


async def test_export_streams_rows(prefect_harness, fresh, creds, tmp_path: Path) -> None:
    info = await export_hunting_result(
        creds, "DeviceNetworkEvents | take 300", str(tmp_path / "net.jsonl")
    )
    lines = (tmp_path / "net.jsonl").read_text().splitlines()
    assert info["rows"] == len(lines) == 300
    assert json.loads(lines[0])["DeviceId"]
    info = await export_hunting_result(
        creds, "DeviceInfo | take 10", str(tmp_path / "d.csv"), fmt="csv"
    )
    assert (tmp_path / "d.csv").read_text().splitlines()[0].startswith("Timestamp,DeviceId")


@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_escaped_values_never_change_the_query_at_the_emulator(creds, fresh, value) -> None:
    import asyncio

    async def go() -> int:
        async with creds.get_client() as client:
            q = f"DeviceInfo | where DeviceName == {kql_string(value)} | count"
            res = await client.hunting.run(q)
            return int(res.rows[0]["Count"])

    assert asyncio.run(go()) == 0  # no device is named like random text; never an error


async def test_csv_export_neutralises_spreadsheet_formulas(
    prefect_harness, fresh, creds, tmp_path: Path
) -> None:
    import csv as csvmod

    query = (
        'DeviceInfo | take 2 | extend Evil = "=HYPERLINK(\\"https://evil.example\\")", '
        'Neg = "-2+3", Plain = "svchost.exe" | project DeviceId, Evil, Neg, Plain'
    )
    await export_hunting_result(creds, query, str(tmp_path / "x.csv"), fmt="csv")
    rows = list(csvmod.DictReader((tmp_path / "x.csv").open(newline="")))
    assert len(rows) == 2
    assert rows[0]["Evil"] == '\'=HYPERLINK("https://evil.example")'
    assert rows[0]["Neg"] == "'-2+3" and rows[0]["Plain"] == "svchost.exe"
    # JSON lines keep the value exactly
    await export_hunting_result(creds, query, str(tmp_path / "x.jsonl"))
    first = json.loads((tmp_path / "x.jsonl").read_text().splitlines()[0])
    assert first["Evil"] == '=HYPERLINK("https://evil.example")'


@given(st.text(max_size=40))
def test_no_neutralised_cell_starts_a_formula(text: str) -> None:
    from prefect_defender.tasks.hunting import FORMULA_STARTS, neutralise_cell

    out = neutralise_cell(text)
    assert not out.startswith(FORMULA_STARTS)
    assert out == text or out == "'" + text
    assert (out != text) == text.startswith(FORMULA_STARTS)
