"""The explicit proxy: tokens and API calls go through it, nothing bypasses it, TLS stays end to
end, and its credentials never leak.

The blocks here use Microsoft's real host names (commercial cloud, no host overrides). Those
names do not resolve to this machine, so a request that bypassed the proxy could never reach
the emulator: the only way in is the test proxy (:mod:`tests.security.connect_proxy`), which
tunnels every ``CONNECT`` to the emulator's port. The emulator's certificate is made for those
names by its own CA (the block's ``ca_bundle``), so TLS is verified end to end through the
tunnel, as it is through a corporate proxy.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from prefect import flow
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api.errors import AuthenticationError, DefenderError, TransportError
from prefect_defender.api.proxy import ProxyConfig, check_proxy_url
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderManagedIdentityCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from prefect_defender.tasks.incidents import list_incidents
from tests.security.connect_proxy import ConnectProxy
from tests.security.test_hosts_tls import TcpRecorder

MICROSOFT_HOSTS = (
    "login.microsoftonline.com",
    "api.security.microsoft.com",
    "api.securitycenter.microsoft.com",
    "graph.microsoft.com",
)
PROXY_USER = "svc-soar"
PROXY_PASSWORD = "MARKER-proxy-password-5e1f0b7d"
BLOCKS = (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
    DefenderManagedIdentityCredentials,
)


def _server_cert_for_microsoft_hosts(data_dir: Path) -> None:
    """Replace the emulator's server certificate by one (same CA) that also names Microsoft's
    hosts, before the emulator starts (it reuses the files of its data directory)."""
    ca_key = serialization.load_pem_private_key((data_dir / "ca-key.pem").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((data_dir / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((data_dir / "server-key.pem").read_bytes(), None)
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in ("localhost", *MICROSOFT_HOSTS)]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (data_dir / "server-cert.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    from prefect_defender.emulator.server import EmulatorServer

    data_dir = tmp_path_factory.mktemp("emulator-proxy")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data_dir / f.name)
    _server_cert_for_microsoft_hosts(data_dir)
    with EmulatorServer(data_dir=str(data_dir), port=0) as emu:
        yield emu


@pytest.fixture
def proxy(emulator: Any) -> Iterator[ConnectProxy]:
    with ConnectProxy(emulator.port, PROXY_USER, PROXY_PASSWORD) as p:
        yield p


def _not_local(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return True  # does not resolve at all here: a bypass could not connect anywhere
    return not any(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _app(conn: dict, proxy_url: str, **fields: Any) -> DefenderApplicationCredentials:
    spec = conn["apps"]["soc"]
    values: dict[str, Any] = {
        "tenant_id": spec["tenant_id"],
        "client_id": spec["client_id"],
        "client_secret": spec["client_secret"],
        "ca_bundle": conn["ca_bundle"],
        "proxy_url": proxy_url,
        "proxy_username": PROXY_USER,
        "proxy_password": PROXY_PASSWORD,
        **fields,
    }
    return DefenderApplicationCredentials(**values)


@flow(name="proxied-inventory")
async def inventory(credentials: Any) -> dict[str, int]:
    """Incidents (XDR, asked for: Graph is the default) by a task, machines (MDE) and Graph
    incidents by the client: one token per audience."""
    incidents = await list_incidents(credentials, limit=5, surface="xdr")
    async with credentials.get_client() as client:
        machines = await client.machines.list(limit=5)
        graph = await client.graph_incidents.list(limit=5)
    return {"incidents": len(incidents), "machines": len(machines), "graph": len(graph)}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{record.getMessage()} {record.args!r}")


@pytest.fixture
def all_logs() -> Iterator[_Collect]:
    handler = _Collect()
    names = ["", "httpx", "httpcore", "msal", "prefect_defender", "prefect"]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).addHandler(handler)
        logging.getLogger(n).setLevel(logging.DEBUG)
    yield handler
    for n in names:
        logging.getLogger(n).removeHandler(handler)
        logging.getLogger(n).setLevel(saved[n])


def test_microsoft_hosts_are_not_this_machine() -> None:
    """The premise of this module: a request that bypassed the proxy cannot reach the
    emulator (which listens on 127.0.0.1 only)."""
    assert all(_not_local(h) for h in MICROSOFT_HOSTS)


@pytest.mark.parametrize("proxy_scheme", ["http", "https"])
async def test_tokens_and_api_calls_are_all_tunneled(
    prefect_harness: None,
    conn: dict,
    fresh: Any,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: _Collect,
    proxy_scheme: str,
) -> None:
    tls = None
    if proxy_scheme == "https":  # the proxy itself behind TLS (its certificate from the same CA)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(
            str(Path(emulator.data_dir) / "server-cert.pem"),
            str(Path(emulator.data_dir) / "server-key.pem"),
        )
    env_proxy = TcpRecorder()  # the environment's proxy: must receive nothing
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{env_proxy.port}")
    # Prefect's own client (to the local test server) honours the environment; ours must not,
    # and the Microsoft host names it uses are not exempted here
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    try:
        with ConnectProxy(emulator.port, PROXY_USER, PROXY_PASSWORD, tls=tls) as proxy:
            creds = _app(conn, proxy.url)
            assert creds.endpoints().authority_host == "https://login.microsoftonline.com"
            counts = await inventory(creds)
    finally:
        env_proxy.stop()
    assert counts["incidents"] > 0 and counts["machines"] > 0 and counts["graph"] > 0
    assert proxy.plain == [] and proxy.denied == []
    assert proxy.hosts() == {
        "login.microsoftonline.com",
        "api.security.microsoft.com",
        "graph.microsoft.com",
    }
    assert all(t.endswith(":443") for t in proxy.tunnels)
    assert set(proxy.auth_headers) == {proxy._expected_auth()}
    assert env_proxy.connections == []
    stats = fresh.admin.stats()
    assert sum(r["count"] for r in stats["token_requests"]) == 3  # one per audience
    assert sum(r["count"] for r in stats["requests"]) >= 3
    text = "\n".join(all_logs.texts)
    assert PROXY_PASSWORD not in text


async def test_tls_is_verified_end_to_end_through_the_tunnel(
    conn: dict, fresh: Any, proxy: ConnectProxy
) -> None:
    """Without the emulator's CA the handshake through the tunnel fails: the proxy does not
    weaken verification, and nothing reaches the token endpoint."""
    creds = _app(conn, proxy.url, ca_bundle=None)
    async with creds.get_client() as client:
        with pytest.raises((AuthenticationError, TransportError)) as info:
            await client.incidents.list(limit=1)
    text = str(info.value)
    assert "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify" in text, text
    assert proxy.hosts() == {"login.microsoftonline.com"}
    assert fresh.admin.stats()["token_requests"] == []
    assert conn["apps"]["soc"]["client_secret"] not in text


async def test_wrong_proxy_password_is_a_typed_error_without_the_password(
    conn: dict, fresh: Any, proxy: ConnectProxy, all_logs: _Collect
) -> None:
    wrong = "MARKER-wrong-proxy-password-0c9d"
    creds = _app(conn, proxy.url, proxy_password=wrong)
    async with creds.get_client() as client:
        with pytest.raises(DefenderError) as info:
            await client.incidents.list(limit=1)
    assert isinstance(info.value, (AuthenticationError, TransportError))
    assert "407" in str(info.value)
    assert proxy.denied and proxy.tunnels == []
    for text in (str(info.value), repr(info.value), "\n".join(all_logs.texts)):
        assert wrong not in text and PROXY_PASSWORD not in text


async def test_managed_identity_endpoint_is_local_and_api_calls_are_proxied(
    conn: dict, fresh: Any, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    mi = conn["managed_identity"]
    monkeypatch.setenv("IDENTITY_ENDPOINT", mi["app_service_endpoint"])  # https://localhost:...
    monkeypatch.setenv("IDENTITY_HEADER", mi["identity_header"])
    creds = DefenderManagedIdentityCredentials(
        tenant_id=mi["identities"]["system"]["tenant_id"],
        ca_bundle=conn["ca_bundle"],
        proxy_url=proxy.url,
        proxy_username=PROXY_USER,
        proxy_password=PROXY_PASSWORD,
    )
    async with creds.get_client() as client:
        assert len(await client.machines.list(limit=2)) == 2
    assert proxy.hosts() == {"api.security.microsoft.com"}  # the identity endpoint went direct


def test_proxy_credentials_never_in_reprs_or_dumps(conn: dict) -> None:
    creds = _app(conn, "http://proxy.corp.example:3128")
    settings = creds.client_settings()
    assert settings.proxy is not None
    for text in (
        repr(creds),
        str(creds),
        repr(settings),
        str(settings.proxy),
        repr(settings.proxy),
        creds.model_dump_json(),
        settings.model_dump_json(),
        str(creds.model_dump()),
    ):
        assert PROXY_PASSWORD not in text
    assert settings.proxy.display() == f"http://proxy.corp.example:3128 (user {PROXY_USER})"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)
@pytest.mark.parametrize(
    "url",
    [
        "socks5://127.0.0.1:1080",
        "ftp://proxy.example",
        "http://user:pw@proxy.example:3128",
        "http://proxy.example:3128/path",
        "http://proxy.example:3128?x=1",
        "http://proxy example:3128",
        "http://:3128",
        "http://proxy.example:99999",
        "proxy.example:3128",
    ],
)
def test_bad_proxy_urls_are_refused_by_every_block(block: type, url: str, conn: dict) -> None:
    base: dict[str, Any] = {"tenant_id": conn["apps"]["soc"]["tenant_id"]}
    if block in (DefenderApplicationCredentials, DefenderUserCredentials):
        base["client_id"] = conn["apps"]["soc"]["client_id"]
    if block is DefenderPartnerCredentials:
        base = {"client_id": conn["apps"]["soc"]["client_id"]}
    if block in (DefenderApplicationCredentials, DefenderPartnerCredentials):
        base["client_secret"] = "x"
    with pytest.raises(PydanticValidationError, match="proxy_url"):
        block(**base, proxy_url=url)
    with pytest.raises(ValueError):
        check_proxy_url(url)


def test_proxy_credentials_need_a_proxy_and_a_clean_user_name(conn: dict) -> None:
    with pytest.raises(PydanticValidationError, match="need proxy_url"):
        _app(conn, None)  # type: ignore[arg-type]
    with pytest.raises(PydanticValidationError, match="proxy_username"):
        _app(conn, "http://proxy.example:3128", proxy_username="a:b")
    assert ProxyConfig(url="https://proxy.example:8443/").url == "https://proxy.example:8443"
