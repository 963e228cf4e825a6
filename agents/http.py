"""Serving the MCP server: over stdio, or over streamable HTTP behind a bearer token.

HTTP is never anonymous: every request must carry ``Authorization: Bearer <token>``, compared in
constant time with the token read from a Prefect Secret block or an environment variable; the
SDK's DNS-rebinding protection is on for loopback hosts (127.0.0.1 is the default).
"""

from __future__ import annotations

import hmac
import os
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import SecretStr

from prefect_defender.agents.runtime import AgentRuntime
from prefect_defender.agents.server import build_server

__all__ = ["TOKEN_ENV", "BearerAuth", "load_token", "serve_http", "serve_stdio"]

#: the environment variable that may hold the HTTP bearer token
TOKEN_ENV = "PREFECT_DEFENDER_MCP_TOKEN"
_MIN_TOKEN = 16

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def load_token(secret_block: str | None) -> SecretStr | None:
    """The bearer token: from the Prefect Secret block ``secret_block``, else ``$TOKEN_ENV``.

    A token shorter than 16 characters is refused (``ValueError``).
    """
    value: str | None
    if secret_block:
        from prefect.blocks.system import Secret

        block: Any = await Secret.aload(secret_block)
        value = str(block.get())
    else:
        value = os.environ.get(TOKEN_ENV)
    if not value:
        return None
    if len(value) < _MIN_TOKEN:
        raise ValueError(f"the MCP bearer token must be at least {_MIN_TOKEN} characters")
    return SecretStr(value)


class BearerAuth:
    """ASGI middleware: 401 unless the request carries the bearer token."""

    def __init__(self, app: ASGIApp, token: SecretStr) -> None:
        self.app = app
        self._token = token.get_secret_value().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._token):
            await self.app(scope, receive, send)
            return
        body = b'{"error": "unauthorized: a bearer token is required"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="prefect-defender-mcp"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def serve_stdio(runtime: AgentRuntime) -> None:
    """Serve over stdin/stdout until the client closes the pipe."""
    try:
        await build_server(runtime).run_stdio_async()
    finally:
        await runtime.aclose()


async def serve_http(
    runtime: AgentRuntime, token: SecretStr, host: str = "127.0.0.1", port: int = 0
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` (``port`` 0: a free one, printed on
    standard error) until interrupted."""
    import uvicorn

    app = build_server(runtime).streamable_http_app(host=host)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(BearerAuth(app, token), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    print(f"MCP server on http://{host}:{bound}/mcp (bearer token required)", file=sys.stderr)
    try:
        await server.serve(sockets=[sock])
    finally:
        await runtime.aclose()
