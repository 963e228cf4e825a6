"""One run's WriteGuard is shared by its tasks, which in a sync flow run on other threads, each
with its own event loop (``.submit``/``.map``): the guard counts every write once and no thread
waits on a lock another loop holds. An ``asyncio.Lock`` held across the hourly slot's Prefect
API call hung such a run (``make bench`` section 6: ``isolate_machine.map`` in a sync flow)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator

import pytest

from prefect_defender.tasks import safety
from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard

THREADS, ADMITS = 4, 50


@pytest.fixture
def prefect_api_answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The guard's Prefect API calls (the kill switch Variable, the tenant's hourly limit and a
    slot of it) answer at once, after yielding to the loop as a network call does: the lock
    and the counts are under test."""

    async def off(*names: str) -> None:
        await asyncio.sleep(0)

    async def slot(self: WriteGuard, tenant_id: str) -> bool:
        await asyncio.sleep(0.001)
        return True

    monkeypatch.setattr(safety, "ensure_not_halted", off)
    monkeypatch.setattr(WriteGuard, "_take_hourly_slot", slot)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: contention on the lock
    yield
    sys.setswitchinterval(switch)


def test_threads_with_their_own_loops_share_one_guard(prefect_api_answers: None) -> None:
    cap = THREADS * ADMITS - 7
    guard = WriteGuard(SafetyPolicy(max_actions_per_run=cap, max_actions_per_hour=10_000))
    answers: list[str | None] = []
    errors: list[BaseException] = []

    def work() -> None:
        async def admits() -> list[str | None]:  # concurrent on this loop too, as a task's are
            return list(await asyncio.gather(*(guard.admit("tenant") for _ in range(ADMITS))))

        try:
            answers.extend(asyncio.run(admits()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not [t for t in threads if t.is_alive()], "a thread waits on the guard for ever"
    assert not errors, errors[0]
    assert len(answers) == THREADS * ADMITS
    assert answers.count(None) == cap == guard.used
    assert all("per-run cap" in a for a in answers if a is not None)
