"""Every call ends by its deadline with :class:`DeadlineExceededError`, over real sockets.

A hostile HTTPS server (``hostile_server``: starlette on uvicorn, certificate from the
emulator's CA) plays the API host or the token endpoint: it trickles a body a byte at a time,
holds the answer's headers, or never completes the TLS handshake. Tokens for the API cases
come from the emulator through msal, as always; in the token cases msal itself talks to the
hostile authority.

Each test runs under a guard (:data:`GUARD` seconds, ``asyncio.wait_for``) that only bounds
the test's own runtime: the assertion is the error's type, which a call that overran its
deadline would not raise (the guard's ``TimeoutError`` would come out instead).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.api.body import BodyLimits
from prefect_defender.api.clouds import Surface
from prefect_defender.api.errors import DeadlineExceededError
from prefect_defender.api.transport import RetryPolicy
from prefect_defender.blocks import DefenderApplicationCredentials
from tests.security.hostile_server import Hostile, hostile_server, openid_configuration, trickle

#: bounds each test's own runtime; the calls under test have deadlines far below it
GUARD = 20.0
DEADLINE = 1.5
MACHINES = "/api/machines"


def _policy(deadline: float = DEADLINE) -> RetryPolicy:
    return RetryPolicy(max_attempts=2, deadline=deadline, backoff_base=0.01, backoff_max=0.02)


async def _list_machines(creds: DefenderApplicationCredentials, **transport: Any) -> Any:
    async with creds.get_client() as client:
        for name, value in transport.items():
            setattr(client.transport, name, value)
        return await asyncio.wait_for(client.call("mde.machines.list"), GUARD)


@pytest.fixture
def api(emulator_keys: Path, fresh: Any) -> Iterator[Hostile]:
    """An API host that answers ``GET /api/machines`` with a body trickling forever."""
    state = Hostile()
    routes = [Route(MACHINES, lambda _r: trickle(state, every=0.05), methods=["GET"])]
    with hostile_server(emulator_keys, routes, state) as server:
        yield server


async def test_a_body_trickling_a_byte_at_a_time_ends_at_the_deadline(
    conn: dict[str, Any], api: Hostile
) -> None:
    """Bytes keep arriving (no read ever times out), yet the call ends by its deadline and
    the connection is closed (the server sees the client go away)."""
    creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=api.url)
    with pytest.raises(DeadlineExceededError) as info:
        await _list_machines(creds, retry=_policy())
    assert info.value.applied_unknown is False  # a GET: nothing to reconcile
    assert "deadline" in str(info.value)
    assert api.abandoned.wait(GUARD)


async def test_a_body_below_the_bytes_per_second_floor_ends_before_the_deadline(
    conn: dict[str, Any], api: Hostile
) -> None:
    """A generous deadline, but the body averages 20 bytes/s against a floor of 2 KiB/s:
    the call ends with DeadlineExceededError naming the floor."""
    creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=api.url)
    floor = BodyLimits(min_rate=2048.0, rate_grace=0.5)
    with pytest.raises(DeadlineExceededError, match="bytes per second"):
        await _list_machines(creds, retry=_policy(deadline=600.0), body_limits=floor)
    assert api.abandoned.wait(GUARD)


async def test_an_answer_whose_headers_never_come_ends_at_the_deadline(
    conn: dict[str, Any], emulator_keys: Path, fresh: Any
) -> None:
    """The server holds the request (think: a gateway waiting on a dead backend); the
    per-read timeout (60 s) is far longer than the call's deadline, which wins."""
    held = asyncio.Event()

    async def hold(_r: Request) -> Response:
        await asyncio.wait_for(held.wait(), GUARD * 2)
        return JSONResponse({"value": []})

    with hostile_server(emulator_keys, [Route(MACHINES, hold)]) as server:
        creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=server.url)
        with pytest.raises(DeadlineExceededError):
            await _list_machines(creds, retry=_policy())


async def test_a_server_that_never_completes_the_tls_handshake_ends_at_the_deadline(
    conn: dict[str, Any], fresh: Any
) -> None:
    """TCP connects (the kernel accepts into the backlog) but no TLS byte ever comes back."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"https://localhost:{silent.getsockname()[1]}"
        creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=url)
        with pytest.raises(DeadlineExceededError):
            await _list_machines(creds, retry=_policy())


@pytest.fixture
def authority(emulator_keys: Path, fresh: Any) -> Iterator[Hostile]:
    """A token endpoint whose discovery answers, and whose token answer trickles forever."""
    state = Hostile()
    routes = [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route(
            "/{tenant}/oauth2/v2.0/token",
            lambda _r: trickle(state, head=b'{"token_type": "Bearer",', every=0.05),
            methods=["POST"],
        ),
    ]
    with hostile_server(emulator_keys, routes, state) as server:
        yield server


async def test_a_trickling_token_answer_ends_at_the_call_deadline(
    conn: dict[str, Any], authority: Hostile
) -> None:
    """Real msal against a token endpoint that trickles: the token acquisition is inside the
    call's deadline (DeadlineExceededError), and msal's own HTTP client stops reading by the
    same deadline (the server sees it go away) instead of waiting on a 30 s per-read timeout
    for as long as bytes come."""
    creds = DefenderApplicationCredentials.from_emulator(conn, authority_host=authority.url)
    with pytest.raises(DeadlineExceededError):
        await _list_machines(creds, retry=_policy())
    assert authority.count(MACHINES) == 0  # no token, no API request
    assert authority.abandoned.wait(GUARD)


def test_a_trickling_token_answer_outside_any_call_is_bounded_by_the_timeout(
    conn: dict[str, Any], authority: Hostile
) -> None:
    """A token taken outside a call (the blocks' connection check, the CLI) is bounded by the
    client's per-exchange timeout: msal's HTTP client reads no exchange longer than that."""
    from prefect_defender.api.auth import exchange_bounds
    from prefect_defender.api.errors import DefenderError

    creds = DefenderApplicationCredentials.from_emulator(conn, authority_host=authority.url)
    provider = creds.get_client().transport.provider
    with exchange_bounds(timeout=DEADLINE), pytest.raises(DefenderError) as info:
        provider.get_token_sync(creds.endpoints().scope(Surface.MDE))
    assert isinstance(info.value, DeadlineExceededError)
    assert authority.abandoned.wait(GUARD)
