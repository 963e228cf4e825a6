"""The write guard at MSSP scale: one tenant's hourly-slot round trip to the Prefect API does not
hold the others' writes, and a refused slot gives its per-run reservation back. The Prefect
API calls (kill switch, hourly limit) are replaced at unit level; the guard is real."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard

A, B = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def _guard(monkeypatch: pytest.MonkeyPatch, slot: Any, **policy: Any) -> WriteGuard:
    guard = WriteGuard(SafetyPolicy(**policy))

    async def running() -> None:
        return None

    monkeypatch.setattr(guard, "ensure_running", running)
    monkeypatch.setattr(guard, "_take_hourly_slot", slot)
    return guard


async def test_tenants_take_their_hourly_slots_at_the_same_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inside: set[str] = set()
    both = asyncio.Event()

    async def slot(tenant: str) -> bool:
        inside.add(tenant)
        if len(inside) == 2:
            both.set()
        await both.wait()  # A's round trip is still open while B's starts
        return True

    guard = _guard(monkeypatch, slot, max_actions_per_run=10)
    refused = await asyncio.wait_for(asyncio.gather(guard.admit(A), guard.admit(B)), 30)
    assert refused == [None, None] and guard.used == 2


async def test_a_refused_hourly_slot_gives_its_run_slot_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def slot(tenant: str) -> bool:
        return tenant != A  # tenant A's hourly cap is reached

    guard = _guard(monkeypatch, slot, max_actions_per_run=1)
    assert "hourly cap" in str(await guard.admit(A))
    assert guard.used == 0
    assert await guard.admit(B) is None and guard.used == 1
    assert "per-run cap of 1" in str(await guard.admit(B))


async def test_a_failed_round_trip_gives_its_run_slot_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def slot(tenant: str) -> bool:
        raise ConnectionError("Prefect API unreachable")

    guard = _guard(monkeypatch, slot, max_actions_per_run=1)
    with pytest.raises(ConnectionError):
        await guard.admit(A)
    assert guard.used == 0
