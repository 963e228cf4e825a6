"""The hourly caps (a tenant's writes, an agent tool's calls) on the session's Prefect server,
through ``tasks.hourly_limits``: calls admitted seconds apart decay in between (with one slot
per call, every increment within one call's share of the hour of the last dropped the decay:
36 s at 100 per hour); a limit of that earlier shape is reshaped keeping the calls it counts; a
limit deleted under a run is made again and the call counted on it (the server admits an
increment of a limit it does not have).

The burst of concurrent writes on PostgreSQL, where a slot was counted twice, is
``tests/scale/test_scale_out.py::test_the_hourly_cap_counts_concurrent_writes_once``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)

from prefect_defender.tasks.hourly_limits import (
    MAX_PER_HOUR,
    SLACK_SLOTS,
    HourlyShape,
    ensure_hourly_limit,
    take_hourly_slot,
)


@pytest.fixture
async def name(prefect_harness: None) -> AsyncIterator[str]:
    """A limit name of this test's own, deleted afterwards."""
    limit = f"test-hourly-{secrets.token_hex(6)}"
    yield limit
    async with get_client() as client:
        await client.delete_global_concurrency_limit_by_name(limit)


@pytest.mark.parametrize("per_hour", [1, 100, MAX_PER_HOUR, 10**6])
def test_a_calls_slots_decay_in_its_share_of_the_hour_within_the_servers_integers(
    per_hour: int,
) -> None:
    shape = HourlyShape(per_hour)
    assert shape.limit <= 2**31 - 1 and shape.decay >= 1  # no decay under a slot per second
    calls = min(per_hour, MAX_PER_HOUR)
    # that many calls fit, and no more: the slack is under a call
    assert calls * shape.slots <= shape.limit < (calls + 1) * shape.slots
    assert shape.limit - calls * shape.slots == SLACK_SLOTS == shape.slots // 4
    assert shape.slots / shape.decay == pytest.approx(3600 / calls)  # a call's share decays


@pytest.mark.parametrize("per_hour", [1, 40, 100])
def test_the_next_call_waits_for_three_quarters_of_its_share_of_the_hour(per_hour: int) -> None:
    """A full limit admits call N + 1 only when a call's slots minus the slack have decayed."""
    shape = HourlyShape(per_hour)
    full = per_hour * shape.slots
    needed = full + shape.slots - shape.limit  # slots that must decay first
    assert needed / shape.decay == pytest.approx(0.75 * 3600 / per_hour)


def test_every_shape_of_a_limit_reads_as_its_calls() -> None:
    """This shape, the earlier one (3,600 slots a call, no slack) and the first (one slot a
    call) each read as the calls they hold."""

    class Limit:
        def __init__(self, limit: int, active_slots: int) -> None:
            self.limit, self.active_slots = limit, active_slots

    shape = HourlyShape(100)
    assert shape.calls_held(Limit(shape.limit, 30 * 3600)) == 30.0
    assert shape.calls_held(Limit(100 * 3600, 30 * 3600)) == 30.0
    assert shape.calls_held(Limit(100, 30)) == 30.0


async def test_calls_admitted_a_second_apart_decay_in_between(name: str) -> None:
    per_hour = 720  # a call's share of the hour decays in 5 s
    async with get_client() as client:
        await ensure_hourly_limit(client, name, per_hour)
        start = time.monotonic()
        for _ in range(5):
            assert await take_hourly_slot(client, name, per_hour)
            await asyncio.sleep(1.0)
        got = await client.read_global_concurrency_limit_by_name(name)  # decayed to now
        elapsed = time.monotonic() - start
    held = HourlyShape(per_hour).calls_held(got)
    # one slot a call counted 5: each increment within 5 s of the last dropped the decay since
    # (the tolerance is a quarter of that second of decay: round trips to the harness)
    assert held == pytest.approx(5 - elapsed * per_hour / 3600, abs=0.25), (held, elapsed)


async def test_an_earlier_one_slot_per_call_limit_keeps_its_calls(name: str) -> None:
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=100, slot_decay_per_second=100 / 3600)
        )
        await client.update_global_concurrency_limit(
            name, GlobalConcurrencyLimitUpdate(active_slots=40)
        )
        await ensure_hourly_limit(client, name, 100)
        got = await client.read_global_concurrency_limit_by_name(name)
    shape = HourlyShape(100)
    assert (got.limit, got.slot_decay_per_second) == (shape.limit, shape.decay)
    assert 39.0 < shape.calls_held(got) <= 40.0


async def test_a_limit_deleted_under_a_run_is_made_again_and_counts(name: str) -> None:
    async with get_client() as client:
        await ensure_hourly_limit(client, name, 2)
        await client.delete_global_concurrency_limit_by_name(name)
        assert await take_hourly_slot(client, name, 2)  # made again, and this call counted
        assert await take_hourly_slot(client, name, 2)
        assert not await take_hourly_slot(client, name, 2)
        got = await client.read_global_concurrency_limit_by_name(name)
    assert HourlyShape(2).calls_held(got) == pytest.approx(2, abs=0.01)
