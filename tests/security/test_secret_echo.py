"""A server that quotes the request's secrets back never gets them into our error texts, log
lines or outcomes.

Hostile HTTPS servers (``hostile_server``, certificate from the emulator's CA) play the token
endpoint and the API host. The token endpoint answers every token request with an Entra-shaped
error whose description repeats the whole posted form and the request's headers; real msal
talks to it, with each kind of credential: a client secret, a certificate (its client
assertion; and the private key itself, quoted as if the server had it), a refresh token from a
signed-in user's cache, a password. The API host answers with errors quoting the
``Authorization`` header, and Graph pages with a nextLink carrying credentials. Each test
checks the exception's text, ``repr``, ``to_dict()``, its chain, and every log record of the
call (all loggers at DEBUG).
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.api.errors import DefenderError, UnsafeRequestError
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderUserCredentials
from tests.security.hostile_server import Hostile, hostile_server, openid_configuration

GUARD = 30.0


def _fragments(secret: str, size: int = 24) -> set[str]:
    """The secret, its URL-encoded forms, and every ``size``-character piece of it (a text
    cut short, at 500 characters say, may still hold part of a token)."""
    pieces = {secret[i : i + size] for i in range(0, max(len(secret) - size, 0) + 1, size // 2)}
    return {secret, quote(secret, safe=""), quote_plus(secret)} | pieces


def _leaks(exc: BaseException, caplog: pytest.LogCaptureFixture, secrets: list[str]) -> list[str]:
    """Every place a secret (or part of it, or its URL-encoded form) shows up: the error and
    its chain, its summary, and the log records."""
    places = {
        "str": str(exc),
        "repr": repr(exc),
        "to_dict": json.dumps(exc.to_dict()) if isinstance(exc, DefenderError) else "",
        "traceback": "".join(traceback.format_exception(exc)),
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    found = []
    for secret in secrets:
        forms = _fragments(secret)
        for where, text in places.items():
            if any(f in text for f in forms):
                found.append(f"{secret[:12]}... in {where}")
    return found


class Echo:
    """A token endpoint that refuses every request quoting its form and headers."""

    def __init__(self, state: Hostile) -> None:
        self.state = state
        self.forms: list[dict[str, str]] = []

    async def token(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        self.forms.append({k: v[0] for k, v in parse_qs(raw).items()})
        headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        key = self.state.bodies[0].decode() if self.state.bodies else ""
        return JSONResponse(
            {
                "error": "invalid_client",
                "error_description": (
                    f"AADSTS7000215: Invalid client secret provided. Request: {raw} "
                    f"Headers: {headers} Key: {key}"
                ),
                "error_codes": [7000215],
                "correlation_id": f"corr {raw[:300]}",
            },
            status_code=401,
        )


@pytest.fixture
def echo(emulator_keys: Path, fresh: Any) -> Iterator[Echo]:
    state = Hostile()
    handler = Echo(state)
    routes = [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route("/{tenant}/oauth2/v2.0/token", handler.token, methods=["POST"]),
        Route(
            "/common/userrealm/{user}",
            lambda _r: JSONResponse({"account_type": "Managed", "ver": "1.0"}),
        ),
    ]
    with hostile_server(emulator_keys, routes, state):
        yield handler


async def _token_error(block: Any) -> DefenderError:
    async with block.get_client() as client:
        with pytest.raises(DefenderError) as info:
            await asyncio.wait_for(client.machines.list(limit=1), GUARD)
    return info.value


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_a_client_secret_quoted_by_the_token_endpoint_is_scrubbed(
    conn: dict[str, Any], echo: Echo, debug_logs: pytest.LogCaptureFixture
) -> None:
    secret = conn["apps"]["soc"]["client_secret"]
    block = DefenderApplicationCredentials.from_emulator(conn, authority_host=echo.state.url)
    err = await _token_error(block)
    assert echo.forms and echo.forms[0]["client_secret"] == secret  # it was sent, and echoed
    assert "AADSTS7000215" in str(err)  # the server's message is kept, minus the secret
    assert _leaks(err, debug_logs, [secret]) == []


async def test_a_client_assertion_and_the_private_key_quoted_are_scrubbed(
    conn: dict[str, Any], echo: Echo, debug_logs: pytest.LogCaptureFixture
) -> None:
    """A certificate credential: the signed assertion msal posts, and (as if the server had
    it) the private key's PEM, both quoted in the error description."""
    block = DefenderApplicationCredentials.from_emulator(
        conn, use_certificate=True, authority_host=echo.state.url
    )
    key_pem = block.certificate_private_key.get_secret_value()  # type: ignore[union-attr]
    echo.state.bodies.append(key_pem.encode())
    err = await _token_error(block)
    assertion = echo.forms[0]["client_assertion"]
    key_lines = [ln for ln in key_pem.splitlines() if len(ln) > 40]
    assert _leaks(err, debug_logs, [assertion, key_pem, *key_lines]) == []


async def test_a_refresh_token_quoted_by_the_token_endpoint_is_scrubbed(
    conn: dict[str, Any], emulator: Any, echo: Echo, debug_logs: pytest.LogCaptureFixture
) -> None:
    """A user's cache signed in at the emulator, then the token endpoint turns hostile: msal
    posts the refresh token for a new audience, the server quotes it back."""
    signer = DefenderUserCredentials.from_emulator(conn)
    user = await asyncio.to_thread(signer.sign_in_with_device_code, lambda _m: None)
    cache = signer.token_cache.get_secret_value()  # type: ignore[union-attr]
    refresh_tokens = [rt["secret"] for rt in json.loads(cache).get("RefreshToken", {}).values()]
    block = DefenderUserCredentials.from_emulator(
        conn, token_cache=cache, username=user, authority_host=echo.state.url
    )
    block.persist_refreshed_cache = False
    async with block.get_client() as client:
        with pytest.raises(DefenderError) as info:  # Graph: no token in the cache for it
            await asyncio.wait_for(client.graph_incidents.list(limit=1), GUARD)
    assert refresh_tokens and echo.forms[-1]["refresh_token"] in refresh_tokens
    assert _leaks(info.value, debug_logs, refresh_tokens) == []


async def test_a_password_quoted_by_the_token_endpoint_is_scrubbed(
    conn: dict[str, Any], echo: Echo, debug_logs: pytest.LogCaptureFixture
) -> None:
    import warnings

    user = next(u for u in conn["users"] if u["username"].startswith("analyst@"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        block = DefenderUserCredentials.from_emulator(
            conn,
            username=user["username"],
            password=user["password"],
            authority_host=echo.state.url,
        )
        block.persist_refreshed_cache = False
        err = await _token_error(block)
    assert echo.forms[-1]["password"] == user["password"]
    assert _leaks(err, debug_logs, [user["password"]]) == []


# -- the API host ---------------------------------------------------------------------------------
MACHINES = "/api/machines"


def _quoting_authorization(status: int, as_json: bool) -> Any:
    def answer(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        text = f"Request rejected. Authorization: {auth}; token={auth[7:]}"
        if as_json:
            return JSONResponse(
                {"error": {"code": "BadRequest", "message": text, "target": auth[7:40]}},
                status_code=status,
            )
        return Response(text, status_code=status, media_type="text/plain")

    return answer


@pytest.fixture
def api(emulator_keys: Path, fresh: Any) -> Iterator[Any]:
    opened: list[Any] = []

    def start(routes: dict[str, Any]) -> Hostile:
        handlers = [Route(p, h, methods=["GET", "POST"]) for p, h in routes.items()]
        cm = hostile_server(emulator_keys, handlers)
        opened.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(opened):
        cm.__exit__(None, None, None)


@pytest.mark.parametrize(("status", "as_json"), [(400, True), (500, False), (404, True)])
async def test_an_api_error_quoting_the_bearer_token_is_scrubbed(
    conn: dict[str, Any], api: Any, debug_logs: pytest.LogCaptureFixture, status: int, as_json: bool
) -> None:
    host = api({MACHINES: _quoting_authorization(status, as_json)})
    block = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=host.url)
    async with block.get_client() as client:
        client.transport.retry = type(client.transport.retry)(max_attempts=1)
        token = (await client.transport.provider.get_token(client.endpoints.mde_scope)).token
        with pytest.raises(DefenderError) as info:
            await asyncio.wait_for(client.machines.list(limit=1), GUARD)
    assert info.value.status == status
    assert "Request rejected" in str(info.value)
    assert _leaks(info.value, debug_logs, [token]) == []


async def test_a_bulk_outcome_quoting_the_bearer_token_is_scrubbed(
    conn: dict[str, Any], api: Any, debug_logs: pytest.LogCaptureFixture
) -> None:
    """Per-item outcomes (what artifacts and events are made of) carry the scrubbed text."""
    from prefect_defender.tasks.machine_actions import isolate_machines

    machine = "a" * 40
    host = api(
        {
            f"{MACHINES}/{machine}/isolate": _quoting_authorization(400, True),
            f"{MACHINES}/{machine}": lambda _r: JSONResponse({"id": machine}),
            "/api/machineactions": lambda _r: JSONResponse({"value": []}),
        }
    )
    block = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=host.url)
    async with block.get_client() as client:
        token = (await client.transport.provider.get_token(client.endpoints.mde_scope)).token
        outcomes = await asyncio.wait_for(
            isolate_machines.fn(client, [machine], "security suite"), GUARD
        )
    text = json.dumps([o.model_dump(mode="json") for o in outcomes])
    assert "Request rejected" in text
    assert token not in text and token not in debug_logs.text


@pytest.mark.parametrize("where", ["same-host", "other-host"])
async def test_a_next_link_with_credentials_is_refused_without_quoting_them(
    conn: dict[str, Any], api: Any, debug_logs: pytest.LogCaptureFixture, where: str
) -> None:
    password = "hunter2-Pa55word-9f3c"

    def page(request: Request) -> JSONResponse:
        host = request.headers["host"] if where == "same-host" else "evil.example:8443"
        link = f"https://admin:{password}@{host}/v1.0/security/incidents?$skiptoken=2"
        return JSONResponse({"value": [{"id": "1"}], "@odata.nextLink": link})

    host = api({"/v1.0/security/incidents": page})
    block = DefenderApplicationCredentials.from_emulator(conn, graph_base_url=f"{host.url}/v1.0")
    async with block.get_client() as client:
        with pytest.raises(UnsafeRequestError) as info:
            await asyncio.wait_for(client.graph_incidents.list(), GUARD)
    assert _leaks(info.value, debug_logs, [password]) == []
