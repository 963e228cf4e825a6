"""Fixtures of the security suite: traffic counted at the emulator, a loop for task calls."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

#: figures the suite reports at the end of the run (see ``pytest_terminal_summary``)
FIGURES: dict[str, int] = {
    "task_param_combos_invalid": 0,
    "invalid_examples": 0,
    "requests_on_invalid_input": 0,
    "task_param_combos_valid": 0,
    "valid_examples": 0,
    "flow_param_combos_invalid": 0,
    "markers_found": 0,
    "marker_places_checked": 0,
}


def emulator_traffic(emu: Any) -> int:
    """Every request the emulator saw: API calls, token requests and downloads."""
    stats = emu.admin.stats()
    return sum(
        int(row["count"])
        for key in ("requests", "token_requests", "downloads")
        for row in stats.get(key, [])
    )


class Runner:
    """Runs coroutines on one event loop for the whole module (httpx clients and msal-backed
    token providers are reused across hypothesis examples)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __call__(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@pytest.fixture(scope="module")
def run() -> Iterator[Runner]:
    runner = Runner()
    yield runner
    runner.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if any(FIGURES.values()):
        terminalreporter.write_sep("-", "security suite figures")
        for k, v in FIGURES.items():
            terminalreporter.write_line(f"{k}: {v}")
