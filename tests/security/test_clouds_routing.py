"""Per cloud, each surface's token is asked for that cloud's audience and sent to that cloud's host.

Real sockets: the client's own transport connects through a local CONNECT proxy (the explicit
``proxy`` setting), which tunnels whatever host was asked for to one HTTPS server holding a
certificate for every sovereign host name; TLS verifies those names end to end. The proxy records
which hosts were asked for, the server records each request's ``Host`` and bearer token. Only the
token provider is a stand-in (Entra's sovereign login hosts are not served by the emulator): it
mints an unsigned JWT whose ``aud`` is the resource of the scope it is asked for.

Hosts and scopes under test are the documented ones (``api/clouds.py`` cites the pages).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from prefect_defender.api.auth import TokenProvider
from prefect_defender.api.client import ClientSettings, DefenderClient
from prefect_defender.api.clouds import Cloud, Surface, cloud_endpoints
from prefect_defender.api.proxy import ProxyConfig
from tests.security.connect_proxy import ConnectProxy
from tests.security.test_hosts_tls import LocalServer

#: Microsoft's documented hosts per cloud and surface, and the audience each one accepts
#: (Defender for Endpoint for US Government customers: API table; Defender XDR for US
#: Government: API URLs; Graph national cloud deployments).
DOCUMENTED: dict[str, dict[str, tuple[str, str]]] = {
    "commercial": {
        "mde": ("api.security.microsoft.com", "https://api.securitycenter.microsoft.com"),
        "xdr": ("api.security.microsoft.com", "https://api.security.microsoft.com"),
        "graph": ("graph.microsoft.com", "https://graph.microsoft.com"),
    },
    "gcc": {
        "mde": (
            "api-gcc.securitycenter.microsoft.us",
            "https://api-gcc.securitycenter.microsoft.us",
        ),
        "xdr": ("api-gcc.security.microsoft.us", "https://api-gcc.security.microsoft.us"),
        "graph": ("graph.microsoft.com", "https://graph.microsoft.com"),
    },
    "gcc-high": {
        "mde": (
            "api-gov.securitycenter.microsoft.us",
            "https://api-gov.securitycenter.microsoft.us",
        ),
        "xdr": ("api-gov.security.microsoft.us", "https://api-gov.security.microsoft.us"),
        "graph": ("graph.microsoft.us", "https://graph.microsoft.us"),
    },
    "dod": {
        "mde": (
            "api-gov.securitycenter.microsoft.us",
            "https://api-gov.securitycenter.microsoft.us",
        ),
        "xdr": ("api-gov.security.microsoft.us", "https://api-gov.security.microsoft.us"),
        "graph": ("dod-graph.microsoft.us", "https://dod-graph.microsoft.us"),
    },
}
LOGIN = {
    "commercial": "https://login.microsoftonline.com",
    "gcc": "https://login.microsoftonline.com",
    "gcc-high": "https://login.microsoftonline.us",
    "dod": "https://login.microsoftonline.us",
}
TENANT = "11111111-2222-3333-4444-555555555555"


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


class AudienceTokens(TokenProvider):
    """Mints ``header.{aud: <scope's resource>}.sig`` and records every scope asked for."""

    kind = "test"

    def __init__(self, endpoints: Any) -> None:
        super().__init__(endpoints, TENANT, "00000000-0000-0000-0000-0000000000aa")
        self.scopes: list[str] = []

    def _acquire(self, scope: str) -> dict[str, Any]:
        self.scopes.append(scope)
        aud = scope.removesuffix("/.default")
        token = f"{_b64({'alg': 'none'})}.{_b64({'aud': aud, 'tid': TENANT})}.x"
        return {"access_token": token, "expires_in": 3600}


def _aud_of(authorization: str) -> str:
    payload = authorization.removeprefix("Bearer ").split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return str(json.loads(base64.urlsafe_b64decode(payload))["aud"])


@pytest.fixture(scope="module")
def sovereign_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalServer, Path]]:
    ca = trustme.CA()
    names = sorted({h for cloud in DOCUMENTED.values() for h, _ in cloud.values()})
    cert = ca.issue_cert(*names)
    d = tmp_path_factory.mktemp("sovereign")
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    empty = (200, {}, b'{"value": []}')
    server = LocalServer(
        cert=d / "cert.pem",
        key=d / "key.pem",
        routes={
            "/api/machines": lambda _p: empty,
            "/api/incidents": lambda _p: empty,
            "/v1.0/security/incidents": lambda _p: empty,
        },
    )
    yield server, d / "ca.pem"
    server.stop()


def test_documented_table_is_what_the_presets_hold() -> None:
    for cloud, surfaces in DOCUMENTED.items():
        ep = cloud_endpoints(cloud)
        assert ep.authority_host == LOGIN[cloud]
        for surface, (host, aud) in surfaces.items():
            assert ep.base_url(Surface(surface)).split("/")[2] == host, (cloud, surface)
            assert ep.scope(Surface(surface)) == f"{aud}/.default", (cloud, surface)


@pytest.mark.parametrize("cloud", [c.value for c in Cloud])
async def test_each_surface_gets_its_clouds_audience_at_its_clouds_host(
    cloud: str, sovereign_server: tuple[LocalServer, Path]
) -> None:
    server, ca = sovereign_server
    server.seen.clear()
    endpoints = cloud_endpoints(cloud)
    provider = AudienceTokens(endpoints)
    with ConnectProxy(server.port) as proxy:
        settings = ClientSettings(ca_bundle=str(ca), proxy=ProxyConfig(url=proxy.url))
        async with DefenderClient(endpoints, provider, settings) as client:
            assert await client.machines.list() == []
            assert await client.xdr_incidents.list() == []
            assert await client.graph_incidents.list() == []
    expected = DOCUMENTED[cloud]
    # one token per audience the cloud uses, each for exactly that cloud's resource
    assert sorted(set(provider.scopes)) == sorted({f"{a}/.default" for _, a in expected.values()})
    # every request was tunneled to one of this cloud's hosts, none elsewhere
    assert proxy.hosts() == {h for h, _ in expected.values()}
    assert not proxy.plain
    by_path = {s.path.split("?")[0]: s for s in server.seen}
    for surface, path in (
        ("mde", "/api/machines"),
        ("xdr", "/api/incidents"),
        ("graph", "/v1.0/security/incidents"),
    ):
        host, aud = expected[surface]
        seen = by_path[path]
        assert seen.headers["host"] == host, (cloud, surface)
        assert _aud_of(seen.headers["authorization"]) == aud, (cloud, surface)
