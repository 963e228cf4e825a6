"""The MSSP fan-out at MSSP sizes: bounded resources, an outcome for every tenant whatever
fails in one of them, and a report that stays readable."""

from __future__ import annotations

import asyncio
import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api.errors import ValidationError
from prefect_defender.blocks import DefenderPartnerCredentials
from prefect_defender.flows.mssp import mssp_fanout
from prefect_defender.flows.mssp_report import COLUMNS, FINDINGS_SHOWN, SUMMARY_KEY, TABLE_KEY
from tests.conftest import emulator_server
from tests.flows.conftest import latest_artifact, start

PARTNER = "defender-partner-credentials/mssp-scale"
QUERY = 'DeviceNetworkEvents | where RemoteIP == "203.0.113.66"'
BASELINE = [
    {
        "value": "c2-baseline.example",
        "type": "DomainName",
        "action": "Block",
        "title": "baseline",
        "description": "x",
    }
]
SIZE = 40
LIMIT = 48  # open files: below the fan-out's reserve of 64, so one tenant at a time
HOSTILE = "=cmd|' /C calc'!A0;=HYPERLINK(\"https://evil.example\"), Contoso"


@pytest.fixture
def partner(prefect_harness: Any, conn: dict[str, Any]) -> str:
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=300.0
    ).save("mssp-scale", overwrite=True)
    return PARTNER


def test_a_resource_error_in_one_tenant_is_that_tenants_outcome(
    partner: str, fast_actions: Any, tenants: dict[str, str], pool: Any, monkeypatch: Any
) -> None:
    """Too many open files while opening one tenant's client (where a 100-tenant run under
    ``ulimit -n 150`` failed whole, with no report) is that tenant's row; the others run."""
    original = DefenderPartnerCredentials.get_client

    def out_of_files(self: DefenderPartnerCredentials, tenant_id: str | None = None) -> Any:
        if tenant_id == tenants["contoso"]:
            raise OSError(errno.EMFILE, "Too many open files")
        return original(self, tenant_id)

    monkeypatch.setattr(DefenderPartnerCredentials, "get_client", out_of_files)
    rows = start(pool, mssp_fanout, credentials=partner, query=QUERY).result(timeout=120)
    by = {r["tenant_id"]: r for r in rows}
    assert set(by) == {tenants[n] for n in ("contoso", "fabrikam", "northwind")}
    assert by[tenants["contoso"]]["status"] == "failed"
    assert by[tenants["contoso"]]["error"] == "OSError: [Errno 24] Too many open files"
    assert by[tenants["fabrikam"]]["status"] == "ok" and by[tenants["fabrikam"]]["rows"] >= 1
    assert by[tenants["northwind"]]["error"].startswith("ConsentRequiredError")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Any) -> Any:
    """The emulator with 40 more partner tenants (made on first use)."""
    with emulator_server(tmp_path_factory, emulator_keys, {"extra_customer_tenants": SIZE}) as emu:
        yield emu


@pytest.fixture
def big_partner(prefect_harness: Any, conn: dict[str, Any]) -> tuple[str, list[str]]:
    """A partner block over northwind (no consent) and the 40 extra customers, one of them
    named like a spreadsheet formula."""
    names = ["northwind", *(f"cust{i:02d}" for i in range(1, SIZE + 1))]
    block = DefenderPartnerCredentials.from_emulator(
        conn, tenants=names, rate_limit_time_scale=300.0
    )
    block.tenants[1].display_name = HOSTILE
    block.save("mssp-size", overwrite=True)
    return "defender-partner-credentials/mssp-size", [t.tenant_id for t in block.tenants]


def test_the_report_stays_short_at_size_and_exports_every_tenant(
    big_partner: tuple[str, list[str]], fast_actions: Any, pool: Any, tmp_path: Path
) -> None:
    ref, ids = big_partner
    rows = start(
        pool, mssp_fanout, credentials=ref, query=QUERY, indicator_baseline=BASELINE,
        export_dir=str(tmp_path),
    ).result(timeout=300)  # fmt: skip
    assert sorted(r["tenant_id"] for r in rows) == sorted(ids)
    assert [r["tenant"] for r in rows] == sorted((r["tenant"] for r in rows), key=str.casefold)
    assert {r["status"] for r in rows} == {"ok", "failed"}
    md = asyncio.run(latest_artifact(SUMMARY_KEY))
    # short: the counts, the one failure with its consent link, where the rest is; no table
    assert md.startswith("# MSSP fan-out\n") and "## Not done (1)" in md
    assert f"- Tenants: {len(ids)} (failed: 1, ok: {len(ids) - 1})" in md
    assert "Consent link: [grant admin consent](https://" in md
    assert "## Tenants" not in md and f"`{TABLE_KEY}` ({len(ids)} rows)" in md
    assert md.count("\n### ") == FINDINGS_SHOWN and f"…and {SIZE - FINDINGS_SHOWN} more" in md
    assert len(md) < 12_000
    table = json.loads(asyncio.run(latest_artifact(TABLE_KEY)))
    assert [r["tenant_id"] for r in table] == [r["tenant_id"] for r in rows]
    assert list(table[0])[:8] == list(COLUMNS)
    # the download: CSV quoted and formula-safe, JSON lines with the devices found
    csv_file, jsonl_file = sorted(tmp_path.glob("mssp-fanout-*"))
    parsed = list(csv.reader(csv_file.open(newline="", encoding="utf-8")))
    assert parsed[0][:8] == list(COLUMNS) and len(parsed) == len(ids) + 1
    hostile = next(r for r in parsed if r[1] == ids[1])
    assert hostile[0].startswith("'=") and ";'=" in hostile[0]  # neutralised, one cell
    lines = [json.loads(line) for line in jsonl_file.read_text().splitlines()]
    assert len(lines) == len(ids) and any(line.get("devices") for line in lines)


LIMITED_RUN = """
import asyncio, json, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
from prefect_defender.flows.mssp import mssp_fanout
rows = asyncio.run(mssp_fanout(credentials=sys.argv[2], query=sys.argv[3], concurrency=20))
statuses = {}
for r in rows:
    statuses[r["status"]] = statuses.get(r["status"], 0) + 1
print(json.dumps({"rows": len(rows), "statuses": statuses}))
"""


def test_a_run_under_a_low_open_file_limit_ends_with_every_tenant(
    big_partner: tuple[str, list[str]], fast_actions: Any
) -> None:
    """``ulimit -n 48`` and 41 tenants: each kept two sockets open until the run ended, so the
    run failed whole with ``Too many open files``; now only the tenants at work hold them, and
    no tenant runs out."""
    from prefect.settings import PREFECT_API_URL

    ref, ids = big_partner
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    out = subprocess.run(
        [sys.executable, "-c", LIMITED_RUN, str(LIMIT), ref, QUERY],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # only northwind (no consent) failed: no tenant ran out of files
    assert result == {"rows": len(ids), "statuses": {"failed": 1, "ok": len(ids) - 1}}


def test_groups_need_a_deployment_and_a_positive_size(
    big_partner: tuple[str, list[str]], fresh: Any, pool: Any
) -> None:
    ref, _ = big_partner
    for size, field in ((-1, "group_size"), (10, "group_deployment")):
        with pytest.raises(ValidationError) as caught:
            start(pool, mssp_fanout, credentials=ref, query=QUERY, group_size=size).result(120)
        assert caught.value.field == field
    assert not fresh.admin.stats()["requests"]  # refused before anything was sent
