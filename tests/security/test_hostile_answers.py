"""Hostile or broken answers end in the project's own typed errors, and one bad header does not
stall the process.

The API host here is a small HTTPS server of ``test_hosts_tls`` (certificate from the
emulator's CA) playing a misbehaving gateway; tokens come from the emulator's token endpoint
through msal, as always. Covered: ``Retry-After`` values that are not delay-seconds or an HTTP
date, an absurdly long ``Retry-After``, a 2xx whose body is an HTML page, and redirects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import DefenderError, InvalidResponseError, RateLimitedError
from prefect_defender.api.transport import RetryPolicy
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.emulator.pki import server_tls
from tests.security.test_hosts_tls import LocalServer

MACHINE = "f" * 40
GET_PATH = f"/api/machines/{MACHINE}"
ISOLATE_PATH = f"/api/machines/{MACHINE}/isolate"
MACHINE_BODY = json.dumps({"id": MACHINE, "computerDnsName": "ws-1"}).encode()
HTML = b"<html><body><h1>Sign in to continue</h1><form>...</form></body></html>"
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.02, deadline=30.0)


def _server(emulator: Any) -> LocalServer:
    """A recording HTTPS server with a certificate from the emulator's CA (trusted by blocks)."""
    tls = server_tls(Path(emulator.data_dir))
    return LocalServer(tls.cert_pem, tls.key_pem)


@pytest.fixture
def gateway(emulator: Any, fresh: Any) -> Iterator[LocalServer]:
    server = _server(emulator)
    yield server
    server.stop()


def _creds(conn: dict[str, Any], gw: LocalServer, **kw: Any) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, mde_base_url=gw.url, **kw)


class Flaky:
    """Answers ``first`` ``times`` times, then the machine."""

    def __init__(self, first: tuple[int, dict[str, str], bytes], times: int = 1) -> None:
        self.first, self.left = first, times

    def __call__(self, _path: str) -> tuple[int, dict[str, str], bytes]:
        if self.left > 0:
            self.left -= 1
            return self.first
        return 200, {}, MACHINE_BODY


BAD_RETRY_AFTER = ["soon", "-5", "inf", "nan", "-inf", "1e999", "Thu, 99 Foo 2026", "  ", "0x10"]


@pytest.mark.parametrize("value", BAD_RETRY_AFTER)
async def test_unusable_retry_after_falls_back_to_backoff(
    conn: dict[str, Any], gateway: LocalServer, value: str
) -> None:
    """A 429 whose Retry-After is garbage is retried on the client's own backoff: the call
    succeeds on the next answer, no ValueError escapes, and the limiter is not blocked for
    ever (an ``inf`` taken at face value would stop every later call of the process)."""
    gateway.routes[GET_PATH] = Flaky((429, {"Retry-After": value}, b'{"error":{}}'))
    async with _creds(conn, gateway).get_client() as client:
        client.transport.retry = FAST_RETRY
        machine = await client.machines.get(MACHINE)
        limiter = client.transport._limiter(endpoint("mde.machines.get"))
        assert limiter.backlog() <= limiter.max_penalty()
    assert machine.id == MACHINE
    assert len(gateway.seen) == 2  # the 429 and the retry


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_any_retry_after_text_parses_to_none_or_a_finite_wait(value: str) -> None:
    import math

    import httpx

    from prefect_defender.api.transport import retry_after_seconds as _retry_after

    resp = httpx.Response(429, headers={"Retry-After": value})
    got = _retry_after(resp)
    assert got is None or (math.isfinite(got) and got >= 0)


async def test_absurd_retry_after_fails_the_call_typed_and_does_not_block_others(
    conn: dict[str, Any], gateway: LocalServer
) -> None:
    """Retry-After of a billion seconds: that call fails at once with RateLimitedError (the
    wait exceeds its deadline); the shared limiter pauses at most its shortest window, so a
    call started afterwards is sent and answered."""
    gateway.routes[GET_PATH] = Flaky((429, {"Retry-After": "1000000000"}, b'{"error":{}}'))
    creds = _creds(conn, gateway, rate_limit_time_scale=60.0)  # shortest window: 1 s
    async with creds.get_client() as client:
        client.transport.retry = FAST_RETRY
        with pytest.raises(RateLimitedError) as info:
            await client.machines.get(MACHINE)
        assert info.value.status == 429 and info.value.retry_after == 1e9
        limiter = client.transport._limiter(endpoint("mde.machines.get"))
        assert 0 < limiter.backlog() <= limiter.max_penalty() <= 1.0
        machine = await client.machines.get(MACHINE)  # waits the bounded pause, then answers
    assert machine.id == MACHINE
    assert len(gateway.seen) == 2


def test_flow_started_after_an_absurd_retry_after_still_runs(
    prefect_harness: None, conn: dict[str, Any], gateway: LocalServer
) -> None:
    """One call's Retry-After of a billion seconds does not stop the worker: a Prefect flow
    started afterwards in the same process (its task builds its own client on the shared
    limiter) runs to Completed and reads the machine."""
    import asyncio

    from prefect import flow

    from prefect_defender.tasks.machines import get_machine

    gateway.routes[GET_PATH] = Flaky((429, {"Retry-After": "1000000000"}, b'{"error":{}}'))
    creds = _creds(conn, gateway, rate_limit_time_scale=60.0)

    async def absurd() -> None:
        async with creds.get_client() as client:
            client.transport.retry = FAST_RETRY
            with pytest.raises(RateLimitedError):
                await client.machines.get(MACHINE)

    asyncio.run(absurd())

    @flow
    def after() -> str:
        return get_machine(creds, MACHINE).id

    state = after(return_state=True)
    assert state.is_completed()
    assert state.result() == MACHINE
    assert len(gateway.seen) == 2  # the 429, then the flow's one request


async def test_html_page_with_200_is_a_typed_error(
    conn: dict[str, Any], gateway: LocalServer
) -> None:
    """A captive portal's page answered with 200 to a read: InvalidResponseError naming the
    endpoint and the content type, not a JSONDecodeError, not a silent success."""
    gateway.routes[GET_PATH] = lambda _: (200, {"Content-Type": "text/html"}, HTML)
    async with _creds(conn, gateway).get_client() as client:
        with pytest.raises(InvalidResponseError) as info:
            await client.machines.get(MACHINE)
    err = info.value
    assert err.code == "InvalidResponseBody" and err.status == 200
    assert "mde.machines.get" in str(err) and "text/html" in str(err)
    assert err.applied_unknown is False  # a read: nothing was applied


async def test_html_page_answering_a_write_is_possibly_applied(
    conn: dict[str, Any], gateway: LocalServer
) -> None:
    gateway.routes[ISOLATE_PATH] = lambda _: (201, {"Content-Type": "text/html"}, HTML[:20])
    async with _creds(conn, gateway).get_client() as client:
        with pytest.raises(InvalidResponseError) as info:
            await client.transport.request_json(
                endpoint("mde.actions.isolate"),
                path_params={"id": MACHINE},
                json={"Comment": "x", "IsolationType": "Full"},
            )
    assert info.value.applied_unknown is True  # reconciled like a lost answer
    assert [s.method for s in gateway.seen] == ["POST"]  # and not sent twice


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_not_followed_and_are_typed(
    conn: dict[str, Any], emulator: Any, gateway: LocalServer, status: int
) -> None:
    """A proxy redirecting API calls to its login page: the client neither follows it (the
    target receives nothing, so no token goes there) nor treats it as success."""
    portal = _server(emulator)
    try:
        target = f"{portal.url}/login?next=api"
        gateway.routes[GET_PATH] = lambda _: (status, {"Location": target}, b"")
        gateway.routes[ISOLATE_PATH] = lambda _: (status, {"Location": target}, b"")
        async with _creds(conn, gateway).get_client() as client:
            with pytest.raises(InvalidResponseError) as read:
                await client.machines.get(MACHINE)
            with pytest.raises(InvalidResponseError) as write:
                await client.transport.request(
                    endpoint("mde.actions.isolate"),
                    path_params={"id": MACHINE},
                    json={"Comment": "x", "IsolationType": "Full"},
                )
    finally:
        portal.stop()
    assert read.value.status == status and read.value.code == "UnexpectedRedirect"
    assert read.value.applied_unknown is False and write.value.applied_unknown is True
    assert isinstance(read.value, DefenderError)
    assert portal.seen == []  # never followed
    assert [s.method for s in gateway.seen] == ["GET", "POST"]  # each sent once, not retried


MALFORMED_LINKS = [
    "https://{host}:99999/v1.0/security/incidents?$skip=2",  # port out of range
    "https://{host}:abc/v1.0/security/incidents",  # port not a number
    "https://{host}:/v1.0/security/incidents",  # empty port
    "https://user:pw@{host}/v1.0/security/incidents",  # userinfo
    "https://[::1]:443/v1.0/security/incidents",  # IPv6 literal
    "/v1.0/security/incidents?$skip=2",  # relative
    "https://{host}/v1.0/security/incidents?$skip= 2",  # whitespace
    " https://{host}/v1.0/security/incidents",  # leading space
    "https://{host}/v1.0/security/incidents\r\nX-Injected: 1",  # header injection
]


@pytest.mark.parametrize("template", MALFORMED_LINKS)
async def test_malformed_next_link_is_refused_before_anything_is_sent(
    conn: dict[str, Any], gateway: LocalServer, template: str
) -> None:
    from prefect_defender.api.errors import UnsafeRequestError

    link = template.format(host=f"localhost:{gateway.port}")
    gateway.routes["/v1.0/security/incidents"] = lambda _: (
        200,
        {},
        json.dumps({"value": [{"id": "1"}], "@odata.nextLink": link}).encode(),
    )
    creds = DefenderApplicationCredentials.from_emulator(conn, graph_base_url=f"{gateway.url}/v1.0")
    async with creds.get_client() as client:
        with pytest.raises(UnsafeRequestError) as info:
            async for _ in client.paginate("graph.incidents.list"):
                pass
    assert info.value.code in ("MalformedLink", "ForeignNextLink")
    assert len(gateway.seen) == 1  # the first page only


async def test_download_link_redirect_is_not_followed_nor_saved(
    conn: dict[str, Any], gateway: LocalServer, tmp_path: Any
) -> None:
    gateway.routes["/_downloads/p.zip"] = lambda _: (302, {"Location": "https://example.org/"}, b"")
    dest = tmp_path / "p.zip"
    async with _creds(conn, gateway).get_client() as client:
        with pytest.raises(InvalidResponseError) as info:
            await client.transport.download(f"{gateway.url}/_downloads/p.zip?sig=SECRETSIG", dest)
    assert info.value.status == 302 and "SECRETSIG" not in str(info.value)
    assert not dest.exists()
    assert [s.headers.get("authorization") for s in gateway.seen] == [None]  # no token


async def test_malformed_download_link_sends_nothing(
    conn: dict[str, Any], gateway: LocalServer, tmp_path: Any
) -> None:
    from prefect_defender.api.errors import UnsafeRequestError

    async with _creds(conn, gateway).get_client() as client:
        with pytest.raises(UnsafeRequestError) as info:
            await client.transport.download(
                f"https://u@localhost:{gateway.port}/_downloads/p.zip?sig=SECRETSIG",
                tmp_path / "p.zip",
            )
    assert info.value.code == "MalformedLink" and "SECRETSIG" not in str(info.value)
    assert gateway.seen == []
