"""The MCP server under test: started by the SDK's own client, over stdio (a subprocess, as an
agent's host starts it) or streamable HTTP, against the emulator and the session's Prefect
harness."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult, Implementation
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

ROOT = Path(__file__).resolve().parents[2]
APP = "defender-application-credentials/mcp-soc"
PARTNER = "defender-partner-credentials/mcp-mssp"
AGENT = Implementation(name="test-agent", version="9.1")


def server_env(**extra: str) -> dict[str, str]:
    """What the server subprocess needs: the harness's API and a quiet Prefect."""
    from prefect.settings import PREFECT_API_URL

    return {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_HOME": os.environ.get("PREFECT_HOME", str(Path.home() / ".prefect")),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def serve_command(credentials: str, *args: str) -> list[str]:
    return ["-m", "prefect_defender.cli.main", "mcp", "serve", "--credentials", credentials, *args]


@asynccontextmanager
async def stdio_client(credentials: str, *args: str, **env: str) -> AsyncIterator[Client]:
    """The SDK's client, which starts ``prefect-defender mcp serve`` and talks over stdio."""
    params = StdioServerParameters(
        command=sys.executable, args=serve_command(credentials, *args), env=server_env(**env)
    )
    async with Client(params, client_info=AGENT, read_timeout_seconds=120) as client:
        yield client


class HeldClient:
    """An MCP client kept open across a module's tests.

    The SDK's client enters anyio cancel scopes, which must be left by the task that entered
    them; pytest-asyncio sets a fixture up and tears it down in different tasks, so one task
    here holds the client from start to stop.
    """

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.client: Client | None = None
        self.error: BaseException | None = None

    async def _hold(self) -> None:
        try:
            async with self._factory() as client:
                self.client = client
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # reported by start()
            self.error = exc
            self._ready.set()

    async def start(self) -> Client:
        self._task = asyncio.create_task(self._hold())
        await self._ready.wait()
        if self.client is None:
            raise RuntimeError(f"the MCP client did not start: {self.error!r}")
        return self.client

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


def data(result: CallToolResult) -> dict[str, Any]:
    """A successful call's structured result (the test fails on a tool error)."""
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    """A failed call's message (the test fails on a success)."""
    assert result.is_error, result.structured_content
    return " ".join(getattr(c, "text", "") for c in result.content)


def requests_to_emulator(emulator: Any) -> int:
    """API requests (not token requests) the emulator answered since its stats were reset."""
    return sum(int(r.get("count", 1)) for r in emulator.admin.stats()["requests"])


async def tool_events(
    since: datetime, expected: int, timeout: float = 20.0, match: Any = None
) -> list[Any]:
    """The ``defender.mcp.tool.called`` events since ``since`` (those ``match(event)`` accepts,
    when given; the server's pipeline is asynchronous: wait for ``expected`` of them)."""
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        async with get_client() as client:
            page = await client.read_events(
                EventFilter(
                    event=EventNameFilter(name=["defender.mcp.tool.called"]),
                    occurred=EventOccurredFilter(since=since),
                ),
                limit=50,
            )
        found = [e for e in page.events if match is None or match(e)]
        if len(found) >= expected:
            return found
        await asyncio.sleep(0.5)
    return found


@pytest.fixture(scope="module")
def blocks(prefect_harness: None, conn: dict[str, Any]) -> dict[str, str]:
    """An application block (contoso) and a partner block (contoso and fabrikam) on the
    emulator, saved for the server subprocess."""
    from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials

    DefenderApplicationCredentials.from_emulator(conn).save("mcp-soc", overwrite=True)
    DefenderPartnerCredentials.from_emulator(conn, tenants=["contoso", "fabrikam"]).save(
        "mcp-mssp", overwrite=True
    )
    return {"app": APP, "partner": PARTNER}
