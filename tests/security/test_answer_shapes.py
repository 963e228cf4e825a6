"""Every task, answered in a wrong shape, ends only in the project's own errors.

Unit level: each task of ``tasks.all_tasks()`` is called with the bad-input suite's baseline
arguments (``test_bad_input``'s machinery) on a client whose HTTP goes to an
``httpx.MockTransport`` answering every request ``200`` with one wrong-shape body: JSON of
another type, a collection that is not one, items of the wrong type, every field any model
knows with a value of the wrong type, hunting results that do not match their schema or repeat
a row. The task may return (an outcome per item, an empty list) or raise a
:class:`DefenderError`; anything else (pydantic's ``ValidationError``, ``AttributeError``,
``KeyError``, ``ValueError``, ``RecursionError`` ...) fails the test, named by task and shape.
An error for a wrong shape names the endpoint and the field, and never quotes the body.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
import time
from typing import Any

import httpx
import pytest

from prefect_defender.api.auth import AccessToken, TokenProvider
from prefect_defender.api.client import ClientSettings, DefenderClient
from prefect_defender.api.clouds import cloud_endpoints
from prefect_defender.api.errors import DefenderError, InvalidResponseError
from prefect_defender.api.models.common import DefenderModel
from tests.security.kinds import Ctx
from tests.security.test_bad_input import TASKS, _baseline

TENANT = "8b9f5f5e-0000-4000-8000-00000000a001"
MACHINE = "1e5cbd2a9a9f4c0f8a4b7d6e5f4a3b2c1d0e9f8a"
SECRET_IN_BODY = "s3cr3t-in-the-body-7f1e"
#: a task run against the mock ends within this (the calls have no network to wait for)
RUN_GUARD = 20.0


def _all_aliases() -> set[str]:
    import prefect_defender.api.models as models

    out: set[str] = set()
    for info in pkgutil.iter_modules(models.__path__):
        mod = importlib.import_module(f"prefect_defender.api.models.{info.name}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, DefenderModel):
                for name, f in obj.model_fields.items():
                    out.add(f.alias or name)
    return out


#: every field of every response model, with a value of the wrong type for nearly all
WRONG = {alias: {"unexpected": [SECRET_IN_BODY]} for alias in sorted(_all_aliases())}
ROW = {"DeviceId": MACHINE, "DeviceName": "ws-1", "Timestamp": "2026-01-01T00:00:00Z"}
SHAPES: dict[str, Any] = {
    "null": None,
    "list": [],
    "string": "a string",
    "number": 12345,
    "object-empty": {},
    "value-not-a-list": {"value": 7},
    "value-items-not-objects": {"value": [1, "x", None, [], {}]},
    "value-wrong-fields": {"value": [WRONG], "@odata.count": "many"},
    "wrong-fields": WRONG,
    "next-link-not-a-string": {"value": [], "@odata.nextLink": 5},
    "hunting-schema-not-a-list": {"Schema": "x", "Results": 5, "schema": 1, "results": "r"},
    "hunting-rows-not-objects": {"Schema": [1, "a"], "Results": [1, [2]]},
    "hunting-cells-wrong-type": {
        "Schema": [
            {"Name": "DeviceId", "Type": "String"},
            {"Name": "Timestamp", "Type": "DateTime"},
            {"Name": "Hits", "Type": "Int64"},
        ],
        "Results": [{"DeviceId": [1], "Timestamp": "not a date", "Hits": "²"}],
    },
    "hunting-duplicate-rows": {
        "Schema": [
            {"Name": "DeviceId", "Type": "String"},
            {"Name": "DeviceName", "Type": "String"},
        ],
        "Results": [ROW, ROW, {**ROW, "DeviceId": MACHINE.upper()}],
    },
    "ids-in-other-digits": {"value": [{"id": "١٢٣", "incidentId": "²", "machineId": "٣"}]},
}


class StaticProvider(TokenProvider):
    """A token provider that never goes to the network (unit level)."""

    kind = "static"

    def __init__(self) -> None:
        super().__init__(
            cloud_endpoints("commercial"), TENANT, "00000000-0000-0000-0000-0000000000c1"
        )

    async def get_token(self, scope: str) -> AccessToken:
        return AccessToken("static-token-0123456789", time.time() + 3600, scope)

    def get_token_sync(self, scope: str) -> AccessToken:
        return AccessToken("static-token-0123456789", time.time() + 3600, scope)


def _mock_client(body: Any) -> DefenderClient:
    content = json.dumps(body).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"Content-Type": "application/json"})

    settings = ClientSettings(rate_limits_enabled=False, max_attempts=1, deadline=10.0)
    client = DefenderClient(cloud_endpoints("commercial"), StaticProvider(), settings)
    client.transport.use_http_transport(httpx.MockTransport(answer))
    return client


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Ctx:
    tmp = tmp_path_factory.mktemp("shapes")
    (tmp / "upload.ps1").write_text("Write-Output 'shapes'\n")
    return Ctx(TENANT, MACHINE, "ws-1", str(tmp))


async def _run(task: str, base: dict[str, Any]) -> BaseException | None:
    try:
        await asyncio.wait_for(TASKS[task].fn(**base), RUN_GUARD)
    except BaseException as exc:
        return exc
    return None


@pytest.mark.parametrize("task", sorted(TASKS))
async def test_wrong_shape_answers_end_in_our_errors(
    task: str, ctx: Ctx, prefect_harness: None
) -> None:
    """(The session's Prefect harness: some tasks read the kill switch or write artifacts.
    The shapes run concurrently, each on its own client.)"""

    async def one(shape: str, body: Any) -> str | None:
        client = _mock_client(body)
        base = {**_baseline(task, ctx, client), "credentials": client}
        exc = await _run(task, base)
        await client.aclose()
        if exc is None or isinstance(exc, DefenderError):
            if isinstance(exc, InvalidResponseError):
                assert SECRET_IN_BODY not in str(exc), f"{task}/{shape} quotes the body: {exc}"
            return None
        return f"{shape}: {type(exc).__module__}.{type(exc).__name__}: {str(exc)[:160]}"

    found = await asyncio.gather(*(one(shape, body) for shape, body in SHAPES.items()))
    wrong = [w for w in found if w is not None]
    assert not wrong, f"{task} let other errors out:\n" + "\n".join(wrong)


async def test_a_wrong_shape_names_the_endpoint_and_the_field(ctx: Ctx) -> None:
    client = _mock_client({"id": MACHINE, "computerDnsName": {"unexpected": [SECRET_IN_BODY]}})
    with pytest.raises(InvalidResponseError) as info:
        await client.machines.get(MACHINE)
    await client.aclose()
    text = str(info.value)
    assert "mde.machines.get" in text and "computerDnsName" in text
    assert SECRET_IN_BODY not in text and info.value.code == "UnexpectedAnswerShape"


#: token endpoint answers of the wrong shape (status, body), read by real msal
TOKEN_SHAPES: dict[str, tuple[int, bytes]] = {
    "error-fields-of-other-types": (
        400,
        json.dumps(
            {"error": 5, "error_description": ["a"], "error_codes": 7, "correlation_id": {}}
        ).encode(),
    ),
    "error-codes-in-other-digits": (
        401,
        json.dumps({"error": "invalid_client", "error_codes": ["²", "١٢"]}).encode(),
    ),
    "token-fields-of-other-types": (
        200,
        json.dumps({"access_token": {"a": 1}, "token_type": 5, "expires_in": "soon"}).encode(),
    ),
    "a-list": (200, b"[1, 2]"),
    "not-json": (200, b"<html>sign in</html>"),
    "nested-too-deep": (200, b"[" * 100_000 + b"]" * 100_000),
}


@pytest.mark.parametrize("shape", sorted(TOKEN_SHAPES))
async def test_wrong_shape_token_answers_end_in_our_errors(
    shape: str, conn: dict[str, Any], emulator_keys: Any, fresh: Any
) -> None:
    """Real msal against a token endpoint (HTTPS, the emulator's CA) answering in a wrong
    shape: the call ends in one of the project's errors."""
    from starlette.responses import Response
    from starlette.routing import Route

    from prefect_defender.blocks import DefenderApplicationCredentials
    from tests.security.hostile_server import hostile_server, openid_configuration

    status, body = TOKEN_SHAPES[shape]
    routes = [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route(
            "/{tenant}/oauth2/v2.0/token",
            lambda _r: Response(body, status_code=status, media_type="application/json"),
            methods=["POST"],
        ),
    ]
    with hostile_server(emulator_keys, routes) as authority:
        block = DefenderApplicationCredentials.from_emulator(conn, authority_host=authority.url)
        async with block.get_client() as client:
            client.transport.retry = type(client.transport.retry)(max_attempts=1, deadline=20.0)
            try:
                await asyncio.wait_for(client.machines.list(limit=1), RUN_GUARD)
            except DefenderError:
                return
            except BaseException as exc:
                pytest.fail(f"{shape}: {type(exc).__module__}.{type(exc).__name__}: {exc!s:.160}")
        pytest.fail(f"{shape}: the call succeeded on a wrong-shape token answer")
