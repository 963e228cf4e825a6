"""A hostile HTTPS server for bound tests: a starlette app on uvicorn, on 127.0.0.1, with a
certificate from the emulator's CA (so blocks built ``from_emulator`` trust it).

Routes are plain starlette handlers; :func:`trickle` streams a body a few bytes at a time for
as long as the client keeps reading, and records when the client went away, so a test can
show that the client (and msal's worker thread) really stopped reading.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from prefect_defender.emulator.pki import server_tls

__all__ = ["Hostile", "hostile_server", "openid_configuration", "trickle"]


@dataclass
class Hostile:
    """What the server saw: requests by path, and trickles the client abandoned."""

    url: str = ""
    requests: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    abandoned: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)

    def count(self, path: str) -> int:
        """How many requests reached ``path``."""
        return sum(1 for p in self.requests if p == path)


def trickle(
    state: Hostile,
    head: bytes = b'{"value": [',
    step: bytes = b" ",
    every: float = 0.05,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """``head``, then ``step`` every ``every`` seconds until the client stops reading."""

    async def body() -> AsyncIterator[bytes]:
        try:
            yield head
            while not state.stopping.is_set():
                await asyncio.sleep(every)
                yield step
        finally:  # the client closed the connection (or the server stops)
            state.abandoned.set()

    return StreamingResponse(
        body(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def openid_configuration(request: Request) -> JSONResponse:
    """Entra's tenant discovery document, pointing at this server's token endpoint."""
    base = f"https://{request.headers['host']}/{request.path_params['tenant']}"
    return JSONResponse(
        {
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "issuer": f"{base}/v2.0",
        }
    )


class _Recorder:
    """ASGI middleware noting each request's path (and body) before the app answers."""

    def __init__(self, app: Any, state: Hostile) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.state.requests.append(scope["path"])
        await self.app(scope, receive, send)


@contextmanager
def hostile_server(
    keys: Path, routes: list[Route], state: Hostile | None = None
) -> Iterator[Hostile]:
    """Serve ``routes`` over HTTPS on 127.0.0.1 (free port) with the certificate of the
    emulator keys in ``keys``; stops (and ends every trickle) on exit."""
    state = state or Hostile()
    tls = server_tls(keys)
    config = uvicorn.Config(
        _Recorder(Starlette(routes=routes), state),
        host="127.0.0.1",
        port=0,
        ssl_certfile=str(tls.cert_pem),
        ssl_keyfile=str(tls.key_pem),
        log_level="error",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hostile server did not start")
        time.sleep(0.01)
    state.url = f"https://localhost:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        state.stopping.set()
        server.should_exit = True
        thread.join(timeout=10)
