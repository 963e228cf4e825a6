"""The safety rails hold at the one place every write passes: each writing endpoint of the
catalog, called through the client inside a flow run and outside one, is refused under the kill
switch, in a dry run and past a cap, and the emulator's counters prove nothing was sent; the
same calls with the switch off do reach the emulator (so the refusal is the rails', not a
broken call). Real parts: the client over HTTPS against the emulator, flows on the session's
Prefect test harness, the kill switch a Prefect Variable."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from prefect import flow
from prefect.variables import Variable

from prefect_defender.api.catalog import Endpoint, writing_endpoints
from prefect_defender.api.errors import DefenderError
from prefect_defender.api.write_gate import DryRunRefusedError, WriteCapError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.safety import KILL_SWITCH_VARIABLE, AutomationHaltedError, SafetyPolicy
from prefect_defender.tasks.write_rails import run_guard
from tests.security.write_rails_helpers import kill_switch, write_requests

#: the writing endpoints still served (a retired one is refused before the rails by the
#: lifecycle check, api.lifecycle, and never sent either)
WRITES = [e for e in writing_endpoints() if e.status != "retired"]
ROOMY = SafetyPolicy(max_actions_per_run=1000, max_actions_per_hour=100_000)


def _params(ep: Endpoint) -> dict[str, str]:
    """Placeholder path parameters: with the rails on nothing is sent, with them off the
    emulator answers (404, 400: it still counts the request)."""
    return {name: "0" * 40 for name in re.findall(r"\{([^}]+)\}", ep.path)}


async def _call_all(client: Any, endpoints: list[Endpoint]) -> dict[str, BaseException | None]:
    """Call every endpoint once; what each raised (``None``: answered 2xx)."""
    out: dict[str, BaseException | None] = {}
    for ep in endpoints:
        try:
            await client.call(ep.name, path_params=_params(ep), json={})
            out[ep.name] = None
        except DefenderError as exc:
            out[ep.name] = exc
    return out


@flow(name="write-rails-probe")
async def _probe(policy: SafetyPolicy | None, names: list[str], conn: dict[str, Any]) -> Any:
    """A playbook that forgot nothing but the rails: it calls the endpoints straight through
    the client (no task, no admission)."""
    if policy is not None:
        run_guard(policy)
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=1000.0)
    async with creds.get_client() as client:
        return await _call_all(client, [e for e in WRITES if e.name in names])


def _outside(conn: dict[str, Any], endpoints: list[Endpoint]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=1000.0)
        async with creds.get_client() as client:
            return await _call_all(client, endpoints)

    return asyncio.run(go())


def test_the_catalog_knows_its_writes() -> None:
    names = {e.name for e in writing_endpoints()}
    assert len(names) >= 36 and len(WRITES) >= 35
    assert {"graph.incidents.comment", "mde.indicators.batch_delete", "mde.live_response.run"} <= (
        names
    )
    assert not names & {"graph.hunting.run", "mde.hunting.run", "xdr.hunting.run"}
    assert all(e.method != "GET" for e in writing_endpoints())


def test_kill_switch_refuses_every_writing_endpoint(prefect_harness, fresh, conn) -> None:
    names = [e.name for e in WRITES]
    with kill_switch():
        in_flow = asyncio.run(_probe(None, names, dict(conn)))
        outside = _outside(conn, WRITES)
    assert write_requests(fresh) == {}  # not one write reached the emulator
    for where, result in (("in a flow run", in_flow), ("outside a flow run", outside)):
        wrong = {n: repr(e) for n, e in result.items() if not isinstance(e, AutomationHaltedError)}
        assert wrong == {}, where
    # the control: the same calls with the switch off are sent, every one of them
    fresh.admin.reset_stats()
    asyncio.run(_probe(ROOMY, names, dict(conn)))
    assert set(write_requests(fresh)) == set(names)


def test_a_policy_cannot_switch_the_kill_switch_off(prefect_harness, fresh, conn) -> None:
    """A parameter naming another Variable adds a switch; the default one still halts."""
    own = SafetyPolicy(kill_switch_variable="my_playbook_halted", max_actions_per_run=1000)
    name = "mde.indicators.submit"
    with kill_switch():
        result = asyncio.run(_probe(own, [name], dict(conn)))
    assert isinstance(result[name], AutomationHaltedError)
    with kill_switch("my_playbook_halted"):
        result = asyncio.run(_probe(own, [name], dict(conn)))
    assert isinstance(result[name], AutomationHaltedError)
    assert write_requests(fresh) == {}


def test_dry_run_refuses_every_writing_endpoint(prefect_harness, fresh, conn) -> None:
    dry = ROOMY.model_copy(update={"dry_run": True})
    result = asyncio.run(_probe(dry, [e.name for e in WRITES], dict(conn)))
    assert {n for n, e in result.items() if not isinstance(e, DryRunRefusedError)} == set()
    assert write_requests(fresh) == {}


@pytest.mark.parametrize("per_run", [0, 2])
def test_the_per_run_cap_counts_every_write(prefect_harness, fresh, conn, per_run) -> None:
    capped = ROOMY.model_copy(update={"max_actions_per_run": per_run})
    names = [e.name for e in WRITES[:5]]
    result = asyncio.run(_probe(capped, names, dict(conn)))
    refused = [n for n in names if isinstance(result[n], WriteCapError)]
    assert refused == names[per_run:]
    assert sum(write_requests(fresh).values()) == per_run


async def _switch(on: bool) -> None:
    await Variable.aset(KILL_SWITCH_VARIABLE, on, overwrite=True)


@flow(name="write-rails-switch-flipped")
async def _flipped(conn: dict[str, Any], name: str) -> dict[str, Any]:
    """A write, the switch turned on, the next write; then an action admitted by the guard,
    the switch turned on before its request; then two admissions under the switch."""
    guard = run_guard(ROOMY.model_copy(update={"max_actions_per_run": 3}))
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=1000.0)
    ep = next(e for e in WRITES if e.name == name)
    out: dict[str, Any] = {}
    async with creds.get_client() as client:
        out["first"] = (await _call_all(client, [ep]))[name]
        await _switch(True)
        try:
            out["next"] = (await _call_all(client, [ep]))[name]
        finally:
            await _switch(False)
        out["admitted"] = await guard.admit(client.tenant_id)
        await _switch(True)
        try:
            out["its request"] = (await _call_all(client, [ep]))[name]
            out["halted admissions"] = []
            for _ in range(2):
                try:
                    await guard.admit(client.tenant_id)
                except AutomationHaltedError as exc:
                    out["halted admissions"].append(exc.code)
        finally:
            await _switch(False)
        out["used"] = guard.used
    return out


def test_a_switch_turned_on_stops_the_next_write(prefect_harness, fresh, conn) -> None:
    """The switch is read for every write, never cached: turned on between two writes of one
    run, it stops the second; an action admitted before it was turned on is stopped at its
    request; admissions refused by it are not counted against the run's cap."""
    name = "mde.indicators.submit"
    out = asyncio.run(_flipped(dict(conn), name))
    assert not isinstance(out["first"], AutomationHaltedError)
    assert isinstance(out["next"], AutomationHaltedError)
    assert out["admitted"] is None
    assert isinstance(out["its request"], AutomationHaltedError)
    assert out["halted admissions"] == ["KillSwitch", "KillSwitch"]
    assert out["used"] == 2  # the first write and the admitted action; none of the halted
    assert write_requests(fresh) == {name: 1}
