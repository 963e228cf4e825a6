"""The kill switch holds in every playbook, for every writing endpoint the playbook can reach.

The writing endpoints a playbook can reach are computed from the code
(``tasks.playbook_endpoints``: the tasks its flow names, through the helpers it calls, and their
declared endpoints; machine actions of the types the playbook plans), kept to those that write
(``Endpoint.writes``).
Each writing playbook is run on the session's Prefect test harness against one emulator, first
with the kill switch on, then off with the same parameters and seed data:

* switch on: the emulator's counters show not one write, and every item of the run ends with a
  recorded outcome, ``skipped`` because automation is halted (none silently lost);
* switch off: the writes reach the emulator (so the first half can fail), every one of them in
  the playbook's computed reach, and the same items are reported, none halted.

The endpoints the runs exercise must be the playbook's reach minus the documented exclusions
(``kill_switch_cases.EXCLUDED``): a writing endpoint that becomes reachable from a playbook
without a case that exercises it, or a reason it cannot, fails the test.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api.catalog import endpoint
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from prefect_defender.flows.readiness_sources import _flows_by_name
from prefect_defender.tasks.playbook_endpoints import playbook_endpoints
from tests.conftest import emulator_server
from tests.flows.conftest import paused_runs, resume, start, wait_paused
from tests.flows.kill_switch_cases import CASES, EXCLUDED, UNOBSERVED, Case, World
from tests.security.write_rails_helpers import kill_switch, write_requests

BY_PLAYBOOK: dict[str, list[Case]] = {}
for _case in CASES:
    BY_PLAYBOOK.setdefault(_case.playbook, []).append(_case)
PLAYBOOKS = _flows_by_name()


def reachable_writes(playbook: Any) -> set[str]:
    """The writing catalog endpoints ``playbook`` can reach (none through the generic task:
    a playbook that calls any endpoint it is given could not be enumerated)."""
    found = playbook_endpoints(playbook)
    assert not found.generic, f"{playbook.name} calls the generic task"
    return {name for name in found.reach() if endpoint(name).writes}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    """The module's emulator: default seed, and two users Defender's identity inventory does
    not observe, so the identity actions' Entra ID route is reached too."""
    config = {"unobserved_identities": UNOBSERVED}
    with emulator_server(tmp_path_factory, emulator_keys, config, "kill-switch") as emu:
        yield emu


@pytest.fixture(scope="module")
def world(prefect_harness: None, emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    conn = dict(emulator.connection)
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        "kill-switch", overwrite=True
    )
    DefenderApplicationCredentials.from_emulator(
        conn, rate_limit_time_scale=300.0, incident_surface="xdr"
    ).save("kill-switch-xdr", overwrite=True)
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam"], rate_limit_time_scale=300.0
    ).save("kill-switch", overwrite=True)
    return World(
        emu=emulator,
        conn=conn,
        tenants={t["name"]: t["tenant_id"] for t in conn["tenants"]},
        app="defender-application-credentials/kill-switch",
        partner="defender-partner-credentials/kill-switch",
        xdr="defender-application-credentials/kill-switch-xdr",
        folder=tmp_path_factory.mktemp("kill-switch-evidence"),
    )


def _run(case: Case, params: dict[str, Any]) -> Any:
    """Run the case's playbook to its end, answering its approval form when it asks."""
    flow = PLAYBOOKS[case.playbook]
    known = {r.id for r in asyncio.run(paused_runs(case.playbook))} if case.form else set()
    fast = {"poll_interval_seconds": 0.05} if _polls(flow) else {}
    fut = start(None, flow, **fast, **params)
    if case.form is not None:
        resume(wait_paused(case.playbook, known).id, **case.form)
    return fut.result(timeout=case.timeout)


def _polls(flow: Any) -> bool:
    """True when the playbook waits for machine actions (polled fast here)."""
    return "poll_interval_seconds" in inspect.signature(flow.fn).parameters


def _item(o: dict[str, Any]) -> str:
    """What an outcome is about: its item (or rule, machine, incident) in its tenant."""
    tenant = o.get("tenant_id") or o.get("tenant") or ""
    for key in ("item", "rule", "machine_id", "incident_id"):
        if o.get(key) is not None:
            return f"{tenant}/{o[key]}"
    assert tenant, f"an outcome that names no item: {o}"
    return str(tenant)


def _why(o: dict[str, Any]) -> str:
    return str(o.get("reason") or o.get("error") or "")


def _halted(o: dict[str, Any]) -> bool:
    return o.get("status") == "skipped" and "halted" in _why(o)


def _exercise(case: Case, world: World) -> set[str]:
    """Both runs of ``case``; the writing endpoints the run without the switch sent (a run on
    a Graph block sends not one request to the XDR API)."""
    params = {"credentials": getattr(world, case.block), **case.params(world)}
    world.emu.admin.reset_stats()
    with kill_switch():
        halted = case.outcomes(_run(case, params))
    assert write_requests(world.emu) == {}, f"{case.label}: a write passed the kill switch"
    assert halted, f"{case.label}: the run reported no item"
    assert [o for o in halted if not _halted(o)] == [], case.label
    world.emu.admin.reset_stats()
    done = case.outcomes(_run(case, params))
    sent = write_requests(world.emu)
    assert sent, f"{case.label}: the control run sent no write"
    xdr = world.emu.admin.surface_counts()["xdr"]
    assert xdr > 0 if case.block == "xdr" else xdr == 0, f"{case.label}: {xdr} XDR requests"
    assert sorted(map(_item, done)) == sorted(map(_item, halted)), case.label
    assert [o for o in done if _halted(o)] == [], case.label
    return set(sent)


def _id(name: str) -> str:
    """The test's id: ``+xdr`` when the playbook also runs on the XDR API (the flows suite lets
    only a test named for XDR call it)."""
    return name + ("+xdr" if any(c.block == "xdr" for c in BY_PLAYBOOK[name]) else "")


@pytest.mark.parametrize("name", sorted(BY_PLAYBOOK), ids=_id)
def test_kill_switch_holds_in_every_writing_playbook(
    name: str, world: World, fast_actions: Any
) -> None:
    reach = reachable_writes(PLAYBOOKS[name])
    excluded = {ep for (pb, ep) in EXCLUDED if pb == name}
    exercised: set[str] = set()
    for case in BY_PLAYBOOK[name]:
        exercised |= _exercise(case, world)
    assert exercised - reach == set(), "writes the computed reach does not know"
    assert excluded <= reach, "an exclusion names an endpoint the playbook cannot reach"
    assert exercised & excluded == set(), "an excluded endpoint was exercised: drop its row"
    assert exercised == reach - excluded, "a reachable writing endpoint is not exercised"


def test_every_writing_playbook_has_cases() -> None:
    """A new playbook that can write, or one that starts to, needs cases here."""
    writing = {name for name, f in PLAYBOOKS.items() if reachable_writes(f)}
    assert writing == set(BY_PLAYBOOK)
    assert {pb for pb, _ in EXCLUDED} <= writing
