"""The sliding-window limiter never lets a window exceed its limit."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_defender.api.ratelimit import DEFAULT_LIMITS, Limit, SlidingWindowLimiter, scaled


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] + window <= t + 1e-9:  # float noise of now + (start - now)
            j += 1
        best = max(best, i - j + 1)
    return best


@given(
    calls=st.integers(1, 20),
    window=st.floats(0.1, 10),
    arrivals=st.lists(st.floats(0, 30), min_size=1, max_size=200),
)
@settings(max_examples=200, deadline=None)
def test_no_window_ever_exceeds_its_limit(calls: int, window: float, arrivals: list[float]) -> None:
    lim = SlidingWindowLimiter((Limit(calls, window),), margin=0.0)
    sends = []
    for now in sorted(arrivals):
        # the reserved send time itself (now + delay would round: 2.2e-16 + 2.2052 != 2.2052)
        sends.append(lim.reserve_slot(now=now))
    assert _max_in_window(sends, window) <= calls
    # and nobody waits longer than necessary: sends are monotone and start at the first arrival
    assert sends == sorted(sends)
    assert sends[0] == min(arrivals)


def test_two_windows_both_respected() -> None:
    lim = SlidingWindowLimiter((Limit(3, 1.0), Limit(5, 10.0)), margin=0.0)
    sends = [lim.reserve(now=0.0) for _ in range(7)]
    assert sends[:3] == [0.0, 0.0, 0.0]
    assert sends[3] == pytest.approx(1.0)
    assert sends[5] == pytest.approx(10.0)  # the 6th call waits for the 10 s window


def test_penalize_pushes_next_send() -> None:
    lim = SlidingWindowLimiter((Limit(100, 60),), margin=0.0)
    lim.penalize(5.0, now=0.0)
    assert lim.reserve(now=1.0) == pytest.approx(4.0)


def test_thread_safe_reservations() -> None:
    lim = SlidingWindowLimiter((Limit(10, 1.0),), margin=0.0)
    out: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            d = lim.reserve(now=0.0)
            with lock:
                out.append(d)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _max_in_window(out, 1.0) <= 10
    assert len(out) == 100


def test_scaled_divides_windows() -> None:
    s = scaled(DEFAULT_LIMITS, 30)
    assert s["mde"] == (Limit(100, 2.0), Limit(1500, 120.0))
    with pytest.raises(ValueError):
        scaled(DEFAULT_LIMITS, 0)


def test_the_client_paces_within_every_quota_the_emulator_read() -> None:
    """The emulator reads each page's rate-limit sentence on its own (emulator/state.py); the
    client's defaults must keep to every window it found, at the same or a lower count."""
    from prefect_defender.emulator.state import RATE_LIMITS

    for family, windows in RATE_LIMITS.items():
        client = {limit.seconds: limit.calls for limit in DEFAULT_LIMITS[family]}
        for calls, seconds in windows:
            assert seconds in client, f"{family}: no client limit per {seconds:.0f} s"
            assert client[seconds] <= calls, f"{family}: {client[seconds]} > {calls}"
