"""Local stand-ins for the services notifications go to: an HTTP webhook receiver and a TLS
proxy that answers for any host (so Slack's and Teams' real webhook URLs can be used offline).

Both listen on 127.0.0.1 in daemon threads and record every request they receive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Received", "Receiver", "TLSInterceptor", "TestCA", "closed_port"]


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    host: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Sink:
    """Where handlers record requests and learn what to answer."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: paths starting with one of these get a 500
    failing_prefixes: tuple[str, ...] = ("/fail",)
    reply: bytes = b"ok"


class _Handler(BaseHTTPRequestHandler):
    """Record the request, answer 200 ``ok`` (or 500 for a failing path)."""

    sink: _Sink

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = Received(
            method=self.command,
            host=self.headers.get("Host", ""),
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        with self.sink.lock:
            self.sink.received.append(rec)
        failing = self.path.startswith(self.sink.failing_prefixes)
        payload = b"boom" if failing else self.sink.reply
        self.send_response(500 if failing else 200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


def _handler_for(sink: _Sink) -> type[_Handler]:
    return type("RecordingHandler", (_Handler,), {"sink": sink})


class Receiver:
    """A plain-HTTP webhook receiver on 127.0.0.1.

    Example:
        ```python
        with Receiver() as rx:
            httpx.post(rx.url("/hook"), json={"text": "hi"})
            assert rx.received[0].json() == {"text": "hi"}
        ```
    """

    def __init__(self) -> None:
        self.sink = _Sink()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self.sink))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def received(self) -> list[Received]:
        """Requests received so far."""
        with self.sink.lock:
            return list(self.sink.received)

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self.sink.lock:
            self.sink.received.clear()

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    """A throw-away certificate authority issuing server certificates for any host name."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name("prefect-defender notify test CA"))
            .issuer_name(_name("prefect-defender notify test CA"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_pem = folder / "notify-test-ca.pem"
        self.ca_pem.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def server_context(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for ``host``."""
        with self._lock:
            if host in self._contexts:
                return self._contexts[host]
            key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name(host))
                .issuer_name(self._cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(
                    x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                    critical=False,
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                    critical=False,
                )
                .sign(self._key, hashes.SHA256())
            )
            safe = host.replace("*", "_")
            cert_path = self.folder / f"{safe}.pem"
            key_path = self.folder / f"{safe}-key.pem"
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert_path, key_path)
            self._contexts[host] = ctx
            return ctx


class _ConnectHandler(socketserver.StreamRequestHandler):
    """Answer ``CONNECT host:443``, terminate TLS as ``host``, then record the HTTP request."""

    ca: TestCA
    sink: _Sink

    def handle(self) -> None:
        line = self.rfile.readline(65537).decode("latin-1").split()
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
        if len(line) < 2 or line[0].upper() != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host = line[1].rsplit(":", 1)[0]
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        tls = self.ca.server_context(host).wrap_socket(self.connection, server_side=True)
        try:
            _handler_for(self.sink)(tls, self.client_address, self.server)  # type: ignore[arg-type]
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class TLSInterceptor:
    """An HTTPS proxy on 127.0.0.1 that impersonates every host with certificates of ``ca``.

    Point ``HTTPS_PROXY`` at :attr:`proxy_url` and ``REQUESTS_CA_BUNDLE`` at ``ca.ca_pem``: a
    client then talks TLS to, say, ``hooks.slack.com`` as usual, with certificate verification
    on, and the request lands here instead of on the internet.
    """

    def __init__(self, ca: TestCA) -> None:
        self.sink = _Sink()
        handler = type("Connect", (_ConnectHandler,), {"ca": ca, "sink": self.sink})
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def received(self) -> list[Received]:
        """Requests received so far (after TLS)."""
        with self.sink.lock:
            return list(self.sink.received)

    def __enter__(self) -> TLSInterceptor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
