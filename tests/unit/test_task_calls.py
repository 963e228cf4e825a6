"""A Defender task called every way its types promise (tests/typecheck/task_calls.py): awaited in
an async flow, called directly in a sync flow and in plain code, ``.submit``, ``.map``, ``.fn`` and
``with_options``, which keeps a Defender task with its declared endpoints."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow

from prefect_defender.api.errors import ValidationError
from prefect_defender.tasks.base import DefenderTask, defender_task


@defender_task(endpoints=("mde.machines.get",))
async def double(n: int) -> int:
    """Twice ``n``."""
    await asyncio.sleep(0)
    return 2 * n


def test_sync_flow_gets_results(prefect_harness: None) -> None:
    @flow
    def sync_flow() -> tuple[int, int, list[int], int]:
        direct = double(2)
        submitted = double.submit(3).result()
        mapped = [f.result() for f in double.map([4, 5])]
        renamed = double.with_options(name="double-renamed")(6)
        return direct, submitted, mapped, renamed

    assert sync_flow() == (4, 6, [8, 10], 12)


def test_async_flow_awaits(prefect_harness: None) -> None:
    @flow
    async def async_flow() -> tuple[int, int, int]:
        pending = double(2)
        assert asyncio.iscoroutine(pending)
        return (
            await pending,
            await double.with_options(name="double-renamed")(3),
            await double.fn(4),
        )

    assert asyncio.run(async_flow()) == (4, 6, 8)


def test_plain_code_outside_a_flow(prefect_harness: None) -> None:
    assert double(7) == 14


def test_with_options_keeps_a_defender_task() -> None:
    renamed = double.with_options(name="double-renamed", timeout_seconds=30)
    assert isinstance(renamed, DefenderTask)
    assert renamed.name == "double-renamed"
    assert renamed.timeout_seconds == 30
    assert renamed.defender_endpoints == ("mde.machines.get",)  # type: ignore[attr-defined]
    assert renamed.retries == 0


def test_wrong_argument_type_is_refused_at_run_time_too(prefect_harness: None) -> None:
    with pytest.raises(ValidationError, match="n:"):
        double("2")  # type: ignore[call-overload]
