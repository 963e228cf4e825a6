"""A small CONNECT proxy for tests: asyncio on its own thread, 127.0.0.1 only.

It records every request line it receives, tunnels ``CONNECT host:port`` to one upstream port
(the emulator, whatever host was asked for), checks ``Proxy-Authorization`` when credentials are
configured (``407`` otherwise) and refuses anything but ``CONNECT`` (``405``): a client that
sent a plain request through it, or sent it a token, would show up in :attr:`plain`.
The bytes inside a tunnel are TLS between the client and the emulator: the proxy sees none of
them, exactly like a corporate proxy without TLS inspection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import threading
from dataclasses import dataclass, field

__all__ = ["ConnectProxy"]


@dataclass
class ConnectProxy:
    """``with ConnectProxy(upstream_port) as proxy: ... proxy.tunnels``"""

    upstream_port: int
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None  # serve the proxy itself over TLS (an https:// proxy)
    tunnels: list[str] = field(default_factory=list)  # CONNECT targets that were tunneled
    denied: list[str] = field(default_factory=list)  # CONNECT targets refused with 407
    plain: list[str] = field(default_factory=list)  # anything that was not a CONNECT
    auth_headers: list[str | None] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        host = "localhost" if self.tls is not None else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}"

    def _expected_auth(self) -> str | None:
        if self.username is None:
            return None
        raw = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        request_line = lines[0]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] != "CONNECT":
            self.plain.append(request_line)
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        target = parts[1]
        got = headers.get("proxy-authorization")
        self.auth_headers.append(got)
        expected = self._expected_auth()
        if expected is not None and got != expected:
            self.denied.append(target)
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            await writer.drain()
            writer.close()
            return
        self.tunnels.append(target)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self) -> ConnectProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test proxy did not start")
        return self

    def stop(self) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(close)
        self._thread.join(timeout=5)

    def hosts(self) -> set[str]:
        """The host names that were tunneled (without ports)."""
        return {t.rsplit(":", 1)[0] for t in self.tunnels}

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
