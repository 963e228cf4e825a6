"""When to try a Defender call again: the :class:`RetryPolicy`, the reading of ``Retry-After``, and
the state of one logical call across its attempts (:class:`CallState`).

A request that may already have been applied (a non-idempotent POST whose answer was lost) is not
repeated: its error says ``applied_unknown=True`` so the caller can look the outcome up.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import ssl
import time
from dataclasses import dataclass

import httpx

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.clouds import origin
from prefect_defender.api.errors import DeadlineExceededError, DefenderError, TransportError
from prefect_defender.api.ratelimit import SlidingWindowLimiter

__all__ = [
    "CallState",
    "RetryPolicy",
    "refresh_budget",
    "retry_after_seconds",
    "safe_to_repeat",
    "tls_refused",
]

#: New tokens tried for one request after a 401 before giving up with AuthenticationError: a
#: token the service calls expired can always be replaced (a shared token may expire again
#: while the request waits its turn); any other 401 (audience, tenant, signature) gets one retry.
_MAX_REFRESHES_EXPIRED = 12
_MAX_REFRESHES_OTHER = 1


def refresh_budget(resp: httpx.Response, err: DefenderError) -> int:
    """How many new tokens a request may try after this 401."""
    text = f"{err.message} {resp.headers.get('WWW-Authenticate', '')}".lower()
    return _MAX_REFRESHES_EXPIRED if "expired" in text else _MAX_REFRESHES_OTHER


_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
#: connection failures where the request certainly did not reach the server
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the transport tries before giving up.

    ``deadline`` bounds the total time of one logical call including waits for rate limits and
    ``Retry-After``; ``timeout`` bounds each HTTP exchange.
    """

    max_attempts: int = 8
    deadline: float = 600.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))


def tls_refused(exc: BaseException) -> bool:
    """True when a connection failed because the server's certificate did not verify."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def retry_after_seconds(resp: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delay-seconds or an HTTP date, RFC 9110 10.2.3), or None
    when absent or unusable (``soon``, negative, ``nan``/``inf``, a malformed date): the
    caller then backs off on its own schedule instead of trusting the header."""
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed.tzinfo is None:  # RFC dates are GMT; a zone-less one is unusable
            return None
        return max(0.0, parsed.timestamp() - time.time())
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def safe_to_repeat(method: str, idempotent: bool | None) -> bool:
    """Whether a request may be repeated blindly: ``idempotent`` when given, else by method."""
    return method in _IDEMPOTENT_METHODS if idempotent is None else bool(idempotent)


@dataclass
class CallState:
    """The state of one logical request across its attempts (see :meth:`Transport.request`)."""

    ep: Endpoint
    target: str
    safe_to_repeat: bool
    scope: str
    limiter: SlidingWindowLimiter | None
    policy: RetryPolicy
    start: float
    until: float | None = None
    attempt: int = 0
    refreshes: int = 0
    sent: bool = False
    last: DefenderError | None = None

    @property
    def deadline(self) -> float:
        """The monotonic time by which the call must have succeeded: the policy's deadline
        from its start, or ``until`` when that comes first (a listing's remaining budget)."""
        own = self.start + self.policy.deadline
        return own if self.until is None else min(own, self.until)

    def timeout_error(self) -> DeadlineExceededError:
        """The error of a call still running at its deadline (whatever it was waiting for:
        a connection, the token, the answer, its body, a retry)."""
        return DeadlineExceededError(
            f"{self.ep.name} did not finish within its deadline of "
            f"{self.deadline - self.start:.3g} s (connecting, the token, the answer and every "
            "byte of its body, retries and rate-limit waits included)",
            applied_unknown=self.sent and not self.safe_to_repeat,
            method=self.ep.method,
            url=self.target,
        )

    def deadline_error(self) -> DeadlineExceededError:
        """The error of a call whose rate-limit wait would pass its deadline."""
        return DeadlineExceededError(
            "the rate-limit wait would exceed the deadline", method=self.ep.method, url=self.target
        )

    async def wait_for_limiter(self) -> None:
        """Wait for the limiter's queue before taking a token, so the token is fresh when sent;
        raise when that wait would pass the deadline."""
        if self.limiter is None or (backlog := self.limiter.backlog()) <= 0:
            return
        if time.monotonic() + backlog > self.deadline:
            raise self.last or self.deadline_error()
        await asyncio.sleep(backlog)

    def after_transport_error(self, exc: httpx.TransportError) -> float:
        """The wait before repeating a request the network failed, or raise when repeating is
        unsafe (a write that may have arrived) or useless (an untrusted certificate)."""
        not_sent = isinstance(exc, _NOT_SENT)
        err = TransportError(
            f"{type(exc).__name__}: {exc}".rstrip(": "),
            applied_unknown=not not_sent,
            method=self.ep.method,
            url=self.target,
        )
        if tls_refused(exc):  # the certificate is not trusted: retrying cannot help
            raise TransportError(
                f"TLS verification failed for {origin(self.target)}: {exc} (add the issuing CA "
                "with the block's ca_bundle if a proxy or private CA is expected)",
                applied_unknown=False,
                method=self.ep.method,
                url=self.target,
            ) from None
        if not (not_sent or self.safe_to_repeat):
            raise err from None
        self.last = err
        return self.policy.backoff(self.attempt)
