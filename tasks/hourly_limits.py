"""Hourly caps as Prefect global concurrency limits with slot decay, counted exactly.

The tenants' hourly write caps (``defender-writes-<tenant>``) and the agent policy's hourly
tool caps (``defender-mcp-<policy>-<tool>``) live on the Prefect server, so they hold across
runs, workers and restarts. Prefect keeps a decaying limit's slots as whole numbers and, at
every update of the limit, subtracts ``floor(decay per second * seconds since its last
update)``. One slot per call with N/3600 slots decaying per second counted wrongly:

* decay under one slot per update was dropped: at 100 per hour a slot decays in 36 s, so while
  admitted calls came more often than that, nothing decayed at all (a burst of 100 writes over
  six minutes got none of its 10 slots back);
* on PostgreSQL ``now()`` is the time the transaction began: an increment whose transaction
  began before another one committed saw the limit updated in its future, and the floor of
  that small negative time added a whole slot. 40 writes at once at a cap of 40 admitted 29 to
  33; a burst of 50 containments (100 writes) at the default cap of 100 refused the 99th.

So a call takes 3,600 slots and N calls per hour is a limit of N x 3,600 slots decaying N slots
per second: the rounding is at most 1/3,600 of a call per update, and a transaction's negative
time takes back only the decay of the milliseconds it spans (the next update decays them again).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectHTTPStatusError

__all__ = ["HourlyShape", "ensure_hourly_limit", "take_hourly_slot"]

#: slots one call takes: an hour in seconds, so N calls per hour decay N slots per second
SLOTS_PER_CALL = 3600
#: a limit's size is a 32-bit integer on the Prefect server: the most calls per hour it counts
MAX_PER_HOUR = (2**31 - 1) // SLOTS_PER_CALL


@dataclass(frozen=True)
class HourlyShape:
    """The Prefect limit that allows ``per_hour`` calls per hour (at most :data:`MAX_PER_HOUR`,
    596,523: a higher cap counts as that many).

    Example:
        >>> shape = HourlyShape(100)
        >>> shape.slots, shape.limit, shape.decay
        (3600, 360000, 100.0)
    """

    per_hour: int
    slots: ClassVar[int] = SLOTS_PER_CALL

    @property
    def limit(self) -> int:
        """The limit's size in slots."""
        return min(self.per_hour, MAX_PER_HOUR) * self.slots

    @property
    def decay(self) -> float:
        """Slots decaying per second: the limit's size in an hour."""
        return self.limit / 3600.0

    def calls_held(self, limit: Any) -> float:
        """How many calls the existing ``limit`` counts at the moment: 3,600 slots a call, or
        one slot a call in a limit of the earlier shape (its size the calls per hour; a size
        that is a multiple of 3,600 reads as this shape, a cap of 3,600 and more calls an hour
        that caps nothing a burst could reach)."""
        per_call = self.slots if limit.limit % self.slots == 0 else 1
        return float(limit.active_slots) / per_call


async def ensure_hourly_limit(client: Any, name: str, per_hour: int) -> None:
    """Create the limit ``name`` for ``per_hour`` calls an hour, or reshape an existing one
    (another cap, or the one-slot-per-call shape of earlier versions) keeping the calls it
    counts. Errors other than "absent" and "made meanwhile" propagate: a cap that cannot be
    set up admits nothing.

    Example:
        ```python
        from prefect.client.orchestration import get_client

        from prefect_defender.tasks.hourly_limits import ensure_hourly_limit

        async with get_client() as client:
            await ensure_hourly_limit(client, "example-hourly-cap", 100)
            assert (await client.read_global_concurrency_limit_by_name("example-hourly-cap")).limit
        ```
    """
    shape = HourlyShape(per_hour)
    try:
        existing = await client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        # another run may make it at the same moment: that one is as good
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(
                    name=name, limit=shape.limit, slot_decay_per_second=shape.decay
                )
            )
        return
    if existing.limit == shape.limit and math.isclose(existing.slot_decay_per_second, shape.decay):
        return
    held = math.ceil(shape.calls_held(existing) * shape.slots)  # rounded up: never frees a call
    reshaped = GlobalConcurrencyLimitUpdate(
        limit=shape.limit, slot_decay_per_second=shape.decay, active_slots=min(held, shape.limit)
    )
    await client.update_global_concurrency_limit(name, reshaped)


async def take_hourly_slot(client: Any, name: str, per_hour: int) -> bool:
    """Count one call against the limit ``name`` (made by :func:`ensure_hourly_limit`) now,
    without waiting; False when the hour's calls are used up (423).

    The server admits an increment of a limit it does not have; then the limit is made again
    and the call counted on it.

    Example:
        ```python
        from prefect.client.orchestration import get_client

        from prefect_defender.tasks.hourly_limits import ensure_hourly_limit, take_hourly_slot

        async with get_client() as client:
            await ensure_hourly_limit(client, "example-one-an-hour", 1)
            assert await take_hourly_slot(client, "example-one-an-hour", 1)
            assert not await take_hourly_slot(client, "example-one-an-hour", 1)  # the hour's one
        ```
    """
    if per_hour <= 0:
        return False
    slots = HourlyShape.slots
    for _ in range(2):
        try:
            resp = await client.increment_concurrency_slots(
                names=[name], slots=slots, mode="rate_limit"
            )
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code == 423:
                return False
            raise
        if any(item.get("name") == name for item in resp.json()):
            return True
        await ensure_hourly_limit(client, name, per_hour)  # deleted meanwhile: counted nothing
    raise RuntimeError(f"the Prefect server counts no slot of the limit {name!r}")
