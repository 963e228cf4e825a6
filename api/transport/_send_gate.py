"""Rate-limit admission at send time (:class:`SendGate`) and the two ways it turns one back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prefect_defender.api.ratelimit import SlidingWindowLimiter

__all__ = ["MAX_GATE_WAIT", "DeadlineWait", "Requeue", "SendGate"]

#: Longest wait at send time while holding a token; longer waits queue again first.
MAX_GATE_WAIT = 1.0


class DeadlineWait(Exception):
    """The rate-limit wait would pass the call's deadline."""


class Requeue(Exception):
    """The rate-limit wait at send time grew too long; nothing was sent."""


class SendGate:
    """Rate-limit admission at the moment the request bytes go on the wire.

    httpcore awaits the ``trace`` extension's callback before it writes the request headers, on
    an already established connection. Reserving the limiter slot there (rather than before the
    connection is acquired and the TLS handshake done) makes the client's send times match what
    the server counts, so pacing holds even while connections are being opened.
    """

    def __init__(self, limiter: SlidingWindowLimiter, deadline: float) -> None:
        self.limiter = limiter
        self.deadline = deadline

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: wait for the limiter's slot before the headers go out."""
        if not event.endswith("send_request_headers.started"):
            return
        now = time.monotonic()
        slot = self.limiter.reserve_slot(now)
        delay = slot - now
        if delay <= 0:
            return
        if now + delay > self.deadline:
            self.limiter.release(slot)
            raise DeadlineWait
        if delay > MAX_GATE_WAIT:
            # the queue grew after the token was taken (a 429 pushed every send back): give
            # the slot back and queue again before taking a token, rather than send a stale one
            self.limiter.release(slot)
            raise Requeue
        await asyncio.sleep(delay)
