"""Fixtures of the machines / machine actions / live response tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pytest

from prefect_defender.blocks import DefenderApplicationCredentials

#: emulator clock for lifecycle tests: Pending 0.1 s, InProgress 0.2 s
FAST = {"time_scale": 300.0, "action_pending_seconds": 30, "action_running_seconds": 60}
#: documented seconds that outlast any test, even divided by the fast clock's 300
HOLD_SECONDS = 10**9


@pytest.fixture(scope="module", autouse=True)
def _quick_emulator_stop(emulator: Any) -> Iterator[None]:
    """Close the cached msal connections before the module's emulator stops (see
    :func:`close_token_clients`); set up after the emulator, so torn down before it."""
    yield
    close_token_clients()


@pytest.fixture
def fast(fresh: Any, conn: dict[str, Any]) -> Iterator[Any]:
    """The session emulator with a fast action clock; knobs restored afterwards.

    On teardown every action this test left behind is brought to a final state (finished on
    the fast clock, stuck ones cancelled), so later tests on the shared emulator do not meet a
    pending action.
    """
    fresh.admin.patch_config(**FAST, action_outcomes={}, action_failure_rate=0.0)
    yield fresh
    asyncio.run(_settle(conn))
    fresh.admin.patch_config(time_scale=1.0, action_outcomes={}, isolate_when_isolated="succeed")


async def _settle(conn: dict[str, Any]) -> None:
    await asyncio.sleep(0.4)  # > pending + running on the fast clock
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        for status in ("Pending", "InProgress"):  # listing advances every action's clock
            for action in await client.machine_actions.list(status=status):
                await client.machine_actions.cancel(action.id, "test teardown")


@contextmanager
def held_actions(emu: Any, status: Literal["Pending", "InProgress"] = "Pending") -> Iterator[None]:
    """Keep the emulator's unfinished machine actions (live response sessions too) in ``status``
    while inside, however slowly the test runs; on exit the fast clock resumes.

    On the fast clock a whole lifecycle takes 0.3 s, less than a Prefect task run under CPU
    load, so a test that asserts on a not-yet-final action must hold it there. The hold sets
    the lifecycle knobs, which the emulator reads whenever it advances an action: actions
    created inside a ``"Pending"`` hold stay Pending; inside an ``"InProgress"`` hold every
    unfinished action (but one stuck by ``action_outcomes``) is InProgress at its next read.
    On exit the knobs are back to :data:`FAST`, and an action older than 0.3 s reaches its
    outcome at its next read.

    Example:
        with held_actions(fast):
            out = await run_script(creds, mid, SCRIPT, "IR-9")
            ...  # out.action is Pending here, however long this takes
        await wait_for_machine_action(creds, out.action.id)  # now it finishes
    """
    if status == "Pending":
        emu.admin.patch_config(action_pending_seconds=HOLD_SECONDS)
    else:
        emu.admin.patch_config(action_pending_seconds=0, action_running_seconds=HOLD_SECONDS)
    try:
        yield
    finally:
        emu.admin.patch_config(
            action_pending_seconds=FAST["action_pending_seconds"],
            action_running_seconds=FAST["action_running_seconds"],
        )


@pytest.fixture
def creds(conn: dict[str, Any]) -> DefenderApplicationCredentials:
    """The SOC app (every write role), its rate limits scaled like the fast emulator clock."""
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0)


@pytest.fixture
def readonly(conn: dict[str, Any]) -> DefenderApplicationCredentials:
    """An app with read roles only (no Machine.Isolate, Machine.LiveResponse, ...)."""
    return DefenderApplicationCredentials.from_emulator(conn, app="readonly")


def close_token_clients() -> None:
    """Close the msal HTTP clients of the cached token providers and forget them.

    Their keep-alive connections would otherwise hold a dedicated emulator's graceful shutdown
    for its full 10 s join timeout.
    """
    from prefect_defender.api import auth

    for provider in list(auth.REGISTRY._providers.values()):
        http = getattr(getattr(provider, "_app", None), "http_client", None)
        if http is not None:
            http.close()
    auth.REGISTRY.clear()


def machines_of(emu: Any, tenant: str, kind: str = "-ws-") -> list[dict[str, Any]]:
    """Seeded machines whose DNS name contains ``kind`` (``-ws-``, ``-lnx-``, ``-dc`` ...)."""
    return [m for m in emu.admin.dump(tenant, "machines") if kind in m["computerDnsName"]]


def actions_of(emu: Any, tenant: str, machine_id: str, kind: str) -> list[dict[str, Any]]:
    """The machine actions of one type recorded for one machine."""
    return [
        a
        for a in emu.admin.dump(tenant, "machineActions")
        if a["machineId"] == machine_id and a["type"] == kind
    ]


def requests(stats: dict[str, Any], route: str | None = None, status: int | None = None) -> int:
    """API requests the emulator counted (optionally of one route and status)."""
    return sum(
        r["count"]
        for r in stats["requests"]
        if (route is None or r["route"] == route) and (status is None or r["status"] == status)
    )
