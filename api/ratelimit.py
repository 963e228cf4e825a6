"""Client-side rate limiting: sliding windows per (app, tenant, API family, and API where the
limit is stated per API).

Defender counts calls per application and tenant over a minute and an hour (hunting per tenant);
Defender for Endpoint counts each API on its own (see :data:`PER_API_FAMILIES`).
The limiter reserves a send time for each call so that no window of ``seconds`` ever holds more
than ``calls`` sends, plus a small safety margin for network jitter. It is thread-safe and shared
by every client in the process (Prefect runs tasks on several threads, each with its own event
loop), and it never sleeps while holding its lock: the caller sleeps for the returned delay.

A 429 answer with ``Retry-After`` pushes the family's next send time out (:meth:`penalize`).
Several processes do not coordinate; ``Retry-After`` handling covers that case.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_defender.api.catalog import Endpoint

__all__ = [
    "DEFAULT_LIMITS",
    "PER_API_FAMILIES",
    "REGISTRY",
    "Limit",
    "LimiterRegistry",
    "SlidingWindowLimiter",
    "limiter_for",
    "scaled",
]


@dataclass(frozen=True)
class Limit:
    """At most ``calls`` calls in any window of ``seconds`` seconds."""

    calls: int
    seconds: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.seconds <= 0:
            raise ValueError(f"invalid rate limit {self.calls}/{self.seconds}s")


#: Documented defaults (Microsoft Learn pages of each endpoint; see docs/reference.md).
DEFAULT_LIMITS: dict[str, tuple[Limit, ...]] = {
    "mde": (Limit(100, 60), Limit(1500, 3600)),
    "xdr_incidents": (Limit(50, 60), Limit(1500, 3600)),
    "hunting": (Limit(45, 60), Limit(1500, 3600)),
    "live_response": (Limit(10, 60),),
    "package_uri": (Limit(2, 60), Limit(120, 3600)),
    "alerts_batch": (Limit(10, 60), Limit(500, 3600)),
    "create_alert": (Limit(15, 60),),
    "indicators_import": (Limit(30, 60),),
    # batch-delete-ti-indicators: "30 calls per minute and 1,500 calls per hour"
    "indicators_batch_delete": (Limit(30, 60), Limit(1500, 3600)),
    "investigation_start": (Limit(50, 3600),),
    # get-discovered-vulnerabilities: "50 calls per minute and 1500 calls per hour"
    "machine_vulnerabilities": (Limit(50, 60), Limit(1500, 3600)),
    "graph_security": (Limit(150, 60),),
}


#: Families whose limit Microsoft states on each API's own page ("Rate limitations for this API
#: are 100 calls per minute and 1500 calls per hour", on every Defender for Endpoint API page,
#: machine actions included): each API (method and path) of such a family gets the family's
#: limits for itself, so isolating and scanning at once are not paced as one 100/min budget.
#: The other families are one budget for all their APIs: the XDR incidents API is "50 calls per
#: minute or 1500 calls per hour" overall, advanced hunting is per tenant, live response,
#: the package download and Graph's /security limits are stated for the group.
PER_API_FAMILIES: frozenset[str] = frozenset({"mde"})


def scaled(
    limits: Mapping[str, Iterable[Limit]], time_scale: float
) -> dict[str, tuple[Limit, ...]]:
    """``limits`` with every window divided by ``time_scale`` (for emulator tests)."""
    if time_scale <= 0:
        raise ValueError("time_scale must be positive")
    return {k: tuple(Limit(x.calls, x.seconds / time_scale) for x in v) for k, v in limits.items()}


class SlidingWindowLimiter:
    """Reserves send times so that every window respects its limit.

    Examples:
        >>> lim = SlidingWindowLimiter((Limit(2, 1.0),), margin=0.0)
        >>> [round(lim.reserve(now=0.0), 3) for _ in range(3)]
        [0.0, 0.0, 1.0]
    """

    def __init__(self, limits: Iterable[Limit], *, margin: float | None = None) -> None:
        self.limits = tuple(limits)
        longest = max((x.seconds for x in self.limits), default=0.0)
        keep = max((x.calls for x in self.limits), default=0)
        self._sent: deque[float] = deque(maxlen=keep or None)
        self._lock = threading.Lock()
        self._blocked_until = 0.0
        # jitter margin between our send time and the server's count: 1% of the shortest
        # window, at least 50 ms (server queueing) and at most 1 s
        shortest = min((x.seconds for x in self.limits), default=0.0)
        self.margin = min(1.0, max(0.05, shortest * 0.01)) if margin is None else margin
        self._longest = longest

    def reserve(self, now: float | None = None) -> float:
        """Reserve the next send slot; return how many seconds to wait before sending."""
        t = time.monotonic() if now is None else now
        return max(0.0, self.reserve_slot(t) - t)

    def reserve_slot(self, now: float | None = None) -> float:
        """Reserve the next send slot; return its (monotonic) time, for :meth:`release`."""
        with self._lock:
            t = time.monotonic() if now is None else now
            start = max(t, self._blocked_until)
            sent = self._sent
            for lim in self.limits:
                if len(sent) >= lim.calls:
                    start = max(start, sent[-lim.calls] + lim.seconds + self.margin)
            sent.append(start)
            return start

    def release(self, slot: float) -> None:
        """Give back a slot reserved with :meth:`reserve_slot` that will not be used.

        Examples:
            >>> lim = SlidingWindowLimiter((Limit(1, 1.0),), margin=0.0)
            >>> slot = lim.reserve_slot(now=0.0)
            >>> lim.release(slot)
            >>> lim.reserve(now=0.0)
            0.0
        """
        with self._lock, contextlib.suppress(ValueError):  # ValueError: already out of the window
            self._sent.remove(slot)

    def backlog(self, now: float | None = None) -> float:
        """Seconds until a reservation made now could be sent (nothing is reserved).

        Callers holding something short-lived (an access token) wait this long *before*
        taking it, so the wait at send time stays short.

        Examples:
            >>> lim = SlidingWindowLimiter((Limit(1, 1.0),), margin=0.0)
            >>> lim.reserve(now=0.0), lim.backlog(now=0.0), lim.backlog(now=0.5)
            (0.0, 1.0, 0.5)
        """
        with self._lock:
            t = time.monotonic() if now is None else now
            start = max(t, self._blocked_until)
            for lim in self.limits:
                if len(self._sent) >= lim.calls:
                    start = max(start, self._sent[-lim.calls] + lim.seconds + self.margin)
            return max(0.0, start - t)

    def max_penalty(self) -> float:
        """The longest shared pause one 429 may impose: the shortest window (60 s for
        Defender's per-minute limits). Pacing covers the longer windows by itself, so a
        larger ``Retry-After`` only delays the call that received it."""
        return min((x.seconds for x in self.limits), default=60.0)

    def penalize(self, seconds: float, now: float | None = None) -> None:
        """Send nothing more for ``seconds`` (after a 429 with ``Retry-After``).

        A 429 also means our sends and the server's count drifted further apart than the
        margin allowed for (queueing, clock skew, another process using the same app): the
        margin doubles, up to 10% of the shortest window, so pacing settles below the limit.
        """
        with self._lock:
            t = time.monotonic() if now is None else now
            self._blocked_until = max(self._blocked_until, t + seconds)
            shortest = min((x.seconds for x in self.limits), default=0.0)
            self.margin = min(max(self.margin * 2, 0.05), max(0.05, shortest * 0.1))


class LimiterRegistry:
    """Process-wide limiters keyed by ``(client_id, tenant_id, family)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, ...], SlidingWindowLimiter] = {}

    def get(self, key: tuple[str, ...], limits: Iterable[Limit]) -> SlidingWindowLimiter:
        """The limiter for ``key``, created with ``limits`` on first use."""
        limits = tuple(limits)
        full_key = (*key, repr(limits))
        with self._lock:
            lim = self._limiters.get(full_key)
            if lim is None:
                lim = self._limiters[full_key] = SlidingWindowLimiter(limits)
            return lim

    def clear(self) -> None:
        """Forget every limiter (tests)."""
        with self._lock:
            self._limiters.clear()


#: The shared registry used by :class:`prefect_defender.api.client.DefenderClient`.
REGISTRY = LimiterRegistry()


def limiter_for(
    ep: Endpoint, limits: Mapping[str, tuple[Limit, ...]], client_id: str, tenant_id: str
) -> SlidingWindowLimiter:
    """The process-wide limiter the calls of ``ep`` share: per tenant for hunting (documented
    per tenant, whatever the app), per app and tenant otherwise; within a family whose pages
    state each API's limit, per API."""
    family_limits = limits.get(ep.family) or limits["mde"]
    if ep.family == "hunting":
        key: tuple[str, ...] = (tenant_id.lower(), ep.family, ep.surface.value)
    else:
        key = (client_id, tenant_id.lower(), ep.family)
    if ep.family in PER_API_FAMILIES:  # each API has the family's limit for itself
        key = (*key, f"{ep.method} {ep.path}")
    return REGISTRY.get(key, family_limits)
