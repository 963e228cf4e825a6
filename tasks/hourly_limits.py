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
Until that next update the limit holds those few slots too many: 40 writes at once at a cap of
40 still refused the 40th now and then on PostgreSQL. The limit therefore has
:data:`SLACK_SLOTS` (a quarter of a call) above the N calls: N calls at once are admitted with up
to a quarter call of such slots held, and call N + 1 still needs three quarters of a call's share
of the hour to have decayed (68 s at 40 an hour instead of 90 s).
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
#: slots a limit has above its calls: a quarter of a call, for the slots concurrent updates
#: hold until their next update takes them back (see the module)
SLACK_SLOTS = SLOTS_PER_CALL // 4
#: a limit's size is a 32-bit integer on the Prefect server: the most calls per hour it counts
MAX_PER_HOUR = (2**31 - 1 - SLACK_SLOTS) // SLOTS_PER_CALL


@dataclass(frozen=True)
class HourlyShape:
    """The Prefect limit that allows ``per_hour`` calls per hour (at most :data:`MAX_PER_HOUR`,
    596,522: a higher cap counts as that many).

    Example:
        >>> shape = HourlyShape(100)
        >>> shape.slots, shape.limit, shape.decay
        (3600, 360900, 100.0)
    """

    per_hour: int
    slots: ClassVar[int] = SLOTS_PER_CALL

    @property
    def calls(self) -> int:
        """The calls per hour the limit counts."""
        return min(self.per_hour, MAX_PER_HOUR)

    @property
    def limit(self) -> int:
        """The limit's size in slots: the calls' slots and :data:`SLACK_SLOTS`."""
        return self.calls * self.slots + SLACK_SLOTS

    @property
    def decay(self) -> float:
        """Slots decaying per second: the calls' slots in an hour."""
        return float(self.calls * self.slots) / 3600.0

    def calls_held(self, limit: Any) -> float:
        """How many calls the existing ``limit`` counts at the moment: 3,600 slots a call (this
        shape, or the earlier one without slack, whose size is a multiple of 3,600), or one
        slot a call in a limit of the first shape (its size the calls per hour; such a size of
        3,600 calls or more reads as 3,600 slots a call: a cap that high caps nothing a burst
        could reach).

        Example:
            >>> from types import SimpleNamespace as Limit
            >>> shape = HourlyShape(40)
            >>> shape.calls_held(Limit(limit=shape.limit, active_slots=2 * 3600))
            2.0
            >>> shape.calls_held(Limit(limit=40, active_slots=2))  # one slot a call
            2.0
        """
        extra = limit.limit % self.slots
        shaped = limit.limit >= self.slots and extra in (0, SLACK_SLOTS)
        return float(limit.active_slots) / (self.slots if shaped else 1)


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
