"""Tokens go only to the configured hosts, download links get no token, TLS is always verified.

Two small HTTPS servers of this module (127.0.0.1, certificates from the emulator's CA, or from
an unrelated CA for the untrusted case) record every request they receive, so "nothing was
sent there" is checked where it would have arrived. The existing checks of
``tests/test_client_core.py`` (``check_host`` refusing foreign and http hosts, a foreign
nextLink on the emulator's own port) and ``tests/machines`` (downloads counted without an
Authorization header at the emulator) are not repeated here.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api import auth, ratelimit
from prefect_defender.api.client import ClientSettings, DefenderClient
from prefect_defender.api.clouds import cloud_endpoints
from prefect_defender.api.errors import (
    AuthenticationError,
    TransportError,
    UnsafeRequestError,
)
from prefect_defender.api.tls import ssl_context
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from prefect_defender.emulator.pki import server_tls

BLOCKS = (DefenderApplicationCredentials, DefenderPartnerCredentials, DefenderUserCredentials)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class LocalServer:
    """An HTTPS server on 127.0.0.1 answering from ``routes`` and recording every request."""

    cert: Path
    key: Path
    routes: dict[str, Callable[[str], tuple[int, dict[str, str], bytes]]] = field(
        default_factory=dict
    )
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                server.seen.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                route = server.routes.get(self.path.split("?")[0])
                status, headers, body = (
                    route(self.path) if route else (404, {}, b'{"error": {"code": "NotFound"}}')
                )
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _any

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _json(body: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, json.dumps(body).encode()


@pytest.fixture(scope="module")
def trusted_tls(emulator: Any) -> Any:
    """The emulator's server certificate (signed by the CA the blocks trust)."""
    return server_tls(Path(emulator.data_dir))


@pytest.fixture
def servers(trusted_tls: Any) -> Iterator[tuple[LocalServer, LocalServer]]:
    a = LocalServer(trusted_tls.cert_pem, trusted_tls.key_pem)
    b = LocalServer(trusted_tls.cert_pem, trusted_tls.key_pem)
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
def untrusted(tmp_path: Path) -> Iterator[LocalServer]:
    """A server whose certificate comes from a CA nobody configured."""
    tls = server_tls(tmp_path / "other-ca")
    s = LocalServer(tls.cert_pem, tls.key_pem)
    yield s
    s.stop()


def _client(conn: dict, **overrides: Any) -> DefenderClient:
    creds = DefenderApplicationCredentials.from_emulator(conn, **overrides)
    return creds.get_client()


# -- hosts --------------------------------------------------------------------------------------
async def test_next_link_to_another_server_is_refused_and_that_server_gets_nothing(
    conn: dict, fresh: Any, servers: tuple[LocalServer, LocalServer]
) -> None:
    """A (configured) Graph host answers with a nextLink to a second server: the client raises
    ``UnsafeRequestError`` and the second server receives no request at all."""
    graph, other = servers
    foreign = f"https://127.0.0.1:{other.port}/v1.0/security/incidents?$skip=2"
    graph.routes["/v1.0/security/incidents"] = lambda _: _json(
        {"value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": foreign}
    )
    other.routes["/v1.0/security/incidents"] = lambda _: _json({"value": []})
    async with _client(conn, graph_base_url=f"{graph.url}/v1.0") as client:
        with pytest.raises(UnsafeRequestError, match=rf"127\.0\.0\.1:{other.port}") as info:
            async for _ in client.paginate("graph.incidents.list", params={"$top": 2}):
                pass
    assert str(info.value.code).startswith("Foreign")
    assert len(graph.seen) == 1
    assert graph.seen[0].headers["authorization"].startswith("Bearer ")
    assert other.seen == []  # not one request, with or without a token


async def test_download_links_are_fetched_without_the_token(
    conn: dict, fresh: Any, servers: tuple[LocalServer, LocalServer], tmp_path: Path
) -> None:
    """Package and live-response links are signed URLs: the bearer token never goes with them,
    even when the link's host is one of the configured API hosts."""
    _, storage = servers
    for path in ("/packages/abc.zip", "/liveresponse/abc-0"):
        storage.routes[path] = lambda _: (200, {"Content-Type": "application/zip"}, b"PK\x03\x04x")
    async with _client(conn, mde_base_url=storage.url) as client:
        for path in ("/packages/abc.zip", "/liveresponse/abc-0"):
            size = await client.download(f"{storage.url}{path}?se=1&sig=x", tmp_path / "out.bin")
            assert size == 5
        with pytest.raises(ValueError, match="https"):  # refused before connecting
            await client.download(
                f"http://localhost:{storage.port}/packages/abc.zip", tmp_path / "x"
            )
    assert [s.path.split("?")[0] for s in storage.seen] == [
        "/packages/abc.zip",
        "/liveresponse/abc-0",
    ]
    assert all("authorization" not in s.headers for s in storage.seen)


async def test_package_download_through_the_task_sends_no_token(
    conn: dict, fresh: Any, servers: tuple[LocalServer, LocalServer], tmp_path: Path
) -> None:
    """The task path: the API answers with a link to another host; the link is fetched there,
    without the token, and the token went only to the API host."""
    from prefect_defender.tasks.machine_actions import download_investigation_package

    api, storage = servers
    action_id = "7f0d1c9e-1111-4222-8333-944445555666"
    link = f"{storage.url}/packages/{action_id}.zip?se=9&sig=abc"
    api.routes[f"/api/machineactions/{action_id}/getPackageUri"] = lambda _: _json({"value": link})
    storage.routes[f"/packages/{action_id}.zip"] = lambda _: (200, {}, b"PK\x03\x04zip")
    creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=api.url)
    info = await download_investigation_package.fn(creds, action_id, str(tmp_path / "p.zip"))
    assert info["bytes"] == 7
    assert len(api.seen) == 1 and api.seen[0].headers["authorization"].startswith("Bearer ")
    assert len(storage.seen) == 1 and "authorization" not in storage.seen[0].headers


class TcpRecorder:
    """A plain TCP listener on 127.0.0.1 that records every connection (a would-be proxy)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1.0)
            try:
                self.connections.append(conn.recv(4096))
            except OSError:
                self.connections.append(b"")
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def proxy_env(monkeypatch: Any) -> Iterator[TcpRecorder]:
    rec = TcpRecorder()
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{rec.port}")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    yield rec
    rec.stop()


def test_api_calls_ignore_proxy_and_ca_environment_variables(
    conn: dict, fresh: Any, monkeypatch: Any
) -> None:
    """``HTTPS_PROXY``/``SSL_CERT_FILE`` in the environment cannot redirect API calls (and their
    bearer tokens) or swap the trust store: the API clients do not read the environment."""
    import asyncio

    creds = DefenderApplicationCredentials.from_emulator(conn)
    provider = creds.get_client().transport.provider
    asyncio.run(provider.get_token(creds.endpoints().mde_scope))  # token first (see below)
    rec = TcpRecorder()
    try:
        for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(var, f"http://127.0.0.1:{rec.port}")
        monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")

        async def call() -> None:
            settings = creds.client_settings()
            async with DefenderClient(creds.endpoints(), provider, settings) as client:
                await client.machines.list(limit=1)

        asyncio.run(call())
    finally:
        rec.stop()
    assert rec.connections == []


def test_token_requests_ignore_proxy_environment_variables(
    conn: dict, fresh: Any, proxy_env: TcpRecorder
) -> None:
    """The client secret is posted to the configured authority only, never to a proxy taken
    from the environment."""
    import asyncio

    async def call() -> None:
        async with _client(conn) as client:
            await client.machines.list(limit=1)

    asyncio.run(call())
    assert proxy_env.connections == [], proxy_env.connections[:1]


# -- TLS ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)
def test_no_block_setting_turns_tls_verification_off(block: type, conn: dict) -> None:
    fields = set(block.model_fields)
    suspicious = {
        f
        for f in fields
        if any(w in f.lower() for w in ("verify", "insecure", "ssl", "tls", "cert_req", "unsafe"))
    }
    assert suspicious == set(), suspicious
    assert not any("verify" in f or "ssl" in f for f in ClientSettings.model_fields)
    # an attempt to pass such a setting is refused or has no effect on verification
    base: dict[str, Any] = {"client_id": conn["apps"]["soc"]["client_id"]}
    if block is not DefenderPartnerCredentials:
        base["tenant_id"] = conn["apps"]["soc"]["tenant_id"]
    if block is not DefenderUserCredentials:
        base["client_secret"] = "x"
    for attempt in ({"verify": False}, {"verify_ssl": False}, {"ssl_verify": False}):
        try:
            b = block(**base, **attempt, ca_bundle=conn["ca_bundle"])
        except PydanticValidationError:
            continue
        settings = b.client_settings()
        assert not hasattr(settings, "verify")
        ctx = ssl_context(settings.ca_bundle)
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_client_ssl_contexts_always_verify(conn: dict) -> None:
    client = _client(conn)
    for ctx in (ssl_context(None), ssl_context(conn["ca_bundle"])):
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    http = client.transport._http()
    pool = http._transport._pool  # httpx's connection pool holds the SSL context it uses
    assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert pool._ssl_context.check_hostname is True
    assert ClientSettings.model_config.get("extra") != "allow"
    settings = ClientSettings(verify=False)  # type: ignore[call-arg]
    assert not hasattr(settings, "verify")


async def test_untrusted_api_certificate_fails_with_a_clear_tls_error(
    conn: dict, fresh: Any, untrusted: LocalServer
) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=untrusted.url)
    settings = creds.client_settings().model_copy(update={"max_attempts": 5, "backoff_base": 0.01})
    client = DefenderClient(creds.endpoints(), creds.get_client().transport.provider, settings)
    async with client:
        with pytest.raises(TransportError) as info:
            await client.machines.list(limit=1)
        retries = client.transport.stats.retries
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate verify" in str(info.value)
    assert "TLS verification failed" in str(info.value) and "ca_bundle" in str(info.value)
    assert retries == 0  # an untrusted certificate is not retried like a network error
    assert untrusted.seen == []  # the handshake failed: no request (and no token) went there


async def test_untrusted_authority_certificate_fails_with_a_clear_tls_error(
    conn: dict, fresh: Any, untrusted: LocalServer
) -> None:
    auth.REGISTRY.clear()
    ratelimit.REGISTRY.clear()
    creds = DefenderApplicationCredentials.from_emulator(conn, authority_host=untrusted.url)
    async with creds.get_client() as client:
        with pytest.raises((AuthenticationError, TransportError)) as info:
            await client.machines.list(limit=1)
    text = str(info.value)
    assert "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify" in text, text
    assert conn["apps"]["soc"]["client_secret"] not in text
    assert untrusted.seen == []  # the secret was never posted there


FIELDS = ("authority_host", "xdr_base_url", "mde_base_url", "graph_base_url")


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("name", FIELDS)
def test_http_base_urls_are_rejected(block: type, name: str, conn: dict) -> None:
    base: dict[str, Any] = {"client_id": conn["apps"]["soc"]["client_id"]}
    if block is not DefenderPartnerCredentials:
        base["tenant_id"] = conn["apps"]["soc"]["tenant_id"]
    if block is not DefenderUserCredentials:
        base["client_secret"] = "x"
    for url in ("http://127.0.0.1:8080", "ftp://example.com", "//example.com", "example.com"):
        with pytest.raises(PydanticValidationError, match="https"):
            block(**base, **{name: url})
        with pytest.raises(ValueError, match="https"):
            cloud_endpoints("commercial", **{name: url})


async def test_plain_http_download_link_is_refused_before_anything_is_sent(
    conn: dict, fresh: Any, tmp_path: Path
) -> None:
    from prefect_defender.api.errors import ValidationError as OurValidationError

    client = _client(conn)
    async with client:
        with pytest.raises(OurValidationError) as info:
            await client.transport.download(
                "http://127.0.0.1:9/pkg.zip?sig=SECRETSIG", tmp_path / "p"
            )
    assert info.value.field == "url" and "https://" in str(info.value)
    assert "SECRETSIG" not in str(info.value)  # the link's signature is not echoed
    assert not (tmp_path / "p").exists()
