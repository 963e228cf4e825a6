"""Pacing per documented limit: each Defender for Endpoint API has its own 100/min budget.

Microsoft states the limit on each API's page ("Rate limitations for this API are 100 calls per
minute and 1500 calls per hour": Isolate machine, Run antivirus scan, Collect investigation
package, ...). Isolating and scanning at once must not be paced as one shared 100/min budget,
and still no call may be answered 429. The emulator runs on its real clock here (60 s windows),
so a shared budget would hold the scans back for a whole window.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.tls import ssl_context
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.machine_actions import request_machine_actions
from tests.machines.conftest import close_token_clients, requests

ISOLATE = "POST /api/machines/{id}/isolate"
SCAN = "POST /api/machines/{id}/runAntiVirusScan"
PACKAGE = "POST /api/machines/{id}/collectInvestigationPackage"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    """An emulator child process with 230 machines per tenant on the real clock."""
    from prefect_defender.emulator.server import EmulatorProcess

    data_dir = tmp_path_factory.mktemp("per-api")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data_dir / f.name)
    with EmulatorProcess(
        data_dir, config={"machines_per_tenant": 230, "action_pending_seconds": 3600}
    ) as proc:
        yield proc
        close_token_clients()


def _contoso(emu: Any) -> str:
    return next(t["tenant_id"] for t in emu.connection["tenants"] if t["name"] == "contoso")


async def _raw_post(emu: Any, token: str, route: str, machine_id: str) -> int:
    url = emu.connection["mde_base_url"] + route.split(" ", 1)[1].replace("{id}", machine_id)
    body: dict[str, Any] = {"Comment": "over the budget"}
    if route == ISOLATE:
        body["IsolationType"] = "Full"
    if route == SCAN:
        body["ScanType"] = "Quick"
    async with httpx.AsyncClient(verify=ssl_context(emu.connection["ca_bundle"])) as http:
        resp = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    return resp.status_code


async def test_isolating_and_scanning_each_use_their_own_budget(emu: Any) -> None:
    """100 isolations then 100 AV scans within one minute: all 200 sent at once, 0 answered 429;
    the next isolation and the next scan are each over their own API's budget, while a third
    action API still has all of its own."""
    from prefect_defender.api import auth, ratelimit

    auth.REGISTRY.clear()
    ratelimit.REGISTRY.clear()
    emu.admin.reset_stats()
    tid = _contoso(emu)
    machines = [m["id"] for m in emu.admin.dump(tid, "machines")]
    isolate_ids, scan_ids, spare = machines[:100], machines[100:200], machines[200:]
    creds = DefenderApplicationCredentials.from_emulator(emu.connection)

    isolated = await request_machine_actions.fn(creds, isolate_ids, "Isolate", "outbreak")
    assert [o.status for o in isolated] == ["succeeded"] * 100, [
        o.error for o in isolated if o.status != "succeeded"
    ][:2]
    async with creds.get_client() as client:
        transport = client.transport
        isolate_limiter = transport._limiter(endpoint("mde.actions.isolate"))
        scan_limiter = transport._limiter(endpoint("mde.actions.av_scan"))
        assert isolate_limiter is not scan_limiter
        # the isolation budget is spent for this minute; the scan budget is untouched
        assert isolate_limiter.backlog() > 0
        assert scan_limiter.backlog() == 0
        token = (await transport.provider.get_token(client.endpoints.mde_scope)).token

    scanned = await request_machine_actions.fn(creds, scan_ids, "RunAntiVirusScan", "sweep")
    assert [o.status for o in scanned] == ["succeeded"] * 100
    stats = emu.admin.stats()
    assert stats["throttled"] == 0
    assert requests(stats, ISOLATE, 201) == 100
    assert requests(stats, SCAN, 201) == 100

    # the emulator counts each API as Microsoft's pages state: both budgets are now spent,
    # a third action API has its own
    assert await _raw_post(emu, token, ISOLATE, spare[0]) == 429
    assert await _raw_post(emu, token, SCAN, spare[1]) == 429
    assert await _raw_post(emu, token, PACKAGE, spare[2]) == 201


async def test_apis_of_one_documented_group_still_share_a_budget(emu: Any) -> None:
    """The XDR incidents API's 50/min is stated for the API as a whole: listing and updating
    incidents share one limiter; advanced hunting's is per tenant whatever the app."""
    from prefect_defender.api import ratelimit

    ratelimit.REGISTRY.clear()
    creds = DefenderApplicationCredentials.from_emulator(emu.connection)
    async with creds.get_client() as client:
        t = client.transport
        assert t._limiter(endpoint("xdr.incidents.list")) is t._limiter(
            endpoint("xdr.incidents.update")
        )
        assert t._limiter(endpoint("mde.machines.get")) is not t._limiter(
            endpoint("mde.machines.list")
        )
