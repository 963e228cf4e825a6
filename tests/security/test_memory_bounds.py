"""Every answer is read within a size bound for its kind of endpoint, enforced while reading
and inflating it, and JSON nesting is bounded; both end in typed errors. Over real sockets.

The hostile HTTPS server sends compression bombs (a small gzip or deflate body inflating to
64 MiB), bodies longer than the bound (declared or not), an encoding the client never asked
for, and JSON nested far deeper than any Microsoft answer. Peak memory is measured with
``tracemalloc`` around the call (both sides run in this process, so the peak includes the
server's share, which is small).
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prefect_defender.api.body import BodyLimits
from prefect_defender.api.errors import (
    DefenderError,
    InvalidResponseError,
    ResponseTooDeepError,
    ResponseTooLargeError,
    ServerError,
)
from prefect_defender.api.transport import RetryPolicy
from prefect_defender.blocks import DefenderApplicationCredentials
from tests.security.hostile_server import Hostile, hostile_server, openid_configuration

GUARD = 30.0
MiB = 1 << 20
BOMB_SIZE = 64 * MiB
#: the bound used by these tests (the defaults are larger: see BodyLimits)
SMALL = BodyLimits(api=1 * MiB, hunting=4 * MiB, error=256 * 1024, download=1 * MiB)
#: a call reading at most SMALL's bounds never comes near this; inflating a bomb whole does
PEAK_BOUND = 16 * MiB
MACHINES = "/api/machines"
FAST = RetryPolicy(max_attempts=1, deadline=60.0)


def _deflated(size: int, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = b"0" * MiB
    return b"".join(packer.compress(zeros) for _ in range(size // MiB)) + packer.flush()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """ASCII zeros inflating to 64 MiB, in gzip and both deflate framings."""
    return {
        "gzip": _deflated(BOMB_SIZE, 16 + zlib.MAX_WBITS),
        "deflate": _deflated(BOMB_SIZE, zlib.MAX_WBITS),
        "raw-deflate": _deflated(BOMB_SIZE, -zlib.MAX_WBITS),
    }


def _answer(body: bytes, status: int = 200, **headers: str) -> Callable[[Request], Response]:
    def route(_r: Request) -> Response:
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    return route


@pytest.fixture
def server(emulator_keys: Path, fresh: Any) -> Iterator[Callable[..., Any]]:
    """Start a hostile API host with the given routes: ``server({path: handler})``."""
    stack: list[Any] = []

    def start(routes: dict[str, Callable[[Request], Any]]) -> Hostile:
        cm = hostile_server(
            emulator_keys, [Route(p, h, methods=["GET", "POST"]) for p, h in routes.items()]
        )
        stack.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


async def _peak(call: Callable[[], Awaitable[Any]]) -> tuple[BaseException | None, int]:
    """The exception ``call`` raised (or None) and the peak traced memory meanwhile."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        await asyncio.wait_for(call(), GUARD)
        raised: BaseException | None = None
    except Exception as exc:
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


async def _call(conn: dict[str, Any], host: Hostile, name: str, **kw: Any) -> Any:
    creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=host.url)
    async with creds.get_client() as client:
        client.transport.retry = FAST
        client.transport.body_limits = SMALL
        await client.transport.provider.get_token(client.endpoints.scope(_surface(name)))
        return await client.call(name, **kw)


def _surface(name: str) -> Any:
    from prefect_defender.api.catalog import endpoint

    return endpoint(name).surface


@pytest.mark.parametrize("kind", ["gzip", "deflate", "raw-deflate"])
async def test_a_compression_bomb_stops_at_the_bound_without_inflating_it(
    conn: dict[str, Any], server: Any, bombs: dict[str, bytes], kind: str
) -> None:
    """64 MiB behind a small compressed body: ResponseTooLargeError, and the memory peak of
    the call stays far below what inflating the body would take."""
    encoding = "gzip" if kind == "gzip" else "deflate"
    host = server({MACHINES: _answer(bombs[kind], **{"Content-Encoding": encoding})})
    raised, peak = await _peak(lambda: _call(conn, host, "mde.machines.list"))
    assert isinstance(raised, ResponseTooLargeError), repr(raised)
    assert "1048576" in str(raised) or "1 MiB" in str(raised)
    assert peak < PEAK_BOUND, f"peak {peak / MiB:.1f} MiB"


async def test_an_encoding_the_client_did_not_ask_for_is_refused(
    conn: dict[str, Any], server: Any
) -> None:
    """The client asks for gzip and deflate only (never br or zstd, whose decoders cannot be
    bounded here); an answer in another encoding is refused, not passed on raw."""
    seen: list[str] = []

    def br(request: Request) -> Response:
        seen.append(request.headers.get("accept-encoding", ""))
        return Response(b"\x1b\x00\x00", headers={"Content-Encoding": "br"})

    host = server({MACHINES: br})
    with pytest.raises(InvalidResponseError) as info:
        await asyncio.wait_for(_call(conn, host, "mde.machines.list"), GUARD)
    assert info.value.code == "UnexpectedContentEncoding"
    assert seen == ["gzip, deflate"]


async def test_a_declared_length_over_the_bound_is_refused_before_reading(
    conn: dict[str, Any], server: Any
) -> None:
    """Content-Length says 1 GiB: refused at the headers (the body never comes here)."""

    def huge(_r: Request) -> Response:
        resp = Response(b'{"value": []}', media_type="application/json")
        resp.headers["content-length"] = str(1 << 30)
        return resp

    host = server({MACHINES: huge})
    with pytest.raises(ResponseTooLargeError, match="Content-Length"):
        await asyncio.wait_for(_call(conn, host, "mde.machines.list"), GUARD)


async def test_hunting_answers_get_a_larger_bound_than_lists(
    conn: dict[str, Any], server: Any
) -> None:
    """The same 2 MiB answer: too large for a list (1 MiB here), read for hunting (4 MiB)."""
    row = '{"DeviceName": "' + "x" * 1000 + '"}'
    rows = ",".join([row] * 2048)
    body = '{"Schema": [{"Name": "DeviceName", "Type": "String"}], "Results": [' + rows + "]}"
    host = server(
        {MACHINES: _answer(body.encode()), "/api/advancedqueries/run": _answer(body.encode())}
    )
    with pytest.raises(ResponseTooLargeError):
        await asyncio.wait_for(_call(conn, host, "mde.machines.list"), GUARD)
    data = await asyncio.wait_for(
        _call(conn, host, "mde.hunting.run", json={"Query": "DeviceInfo"}), GUARD
    )
    assert len(data["Results"]) == 2048


async def test_a_hunting_answer_streamed_to_a_file_is_bounded_and_leaves_no_file(
    conn: dict[str, Any], server: Any, bombs: dict[str, bytes], tmp_path: Path
) -> None:
    host = server(
        {"/api/advancedqueries/run": _answer(bombs["gzip"], **{"Content-Encoding": "gzip"})}
    )
    dest = tmp_path / "hunt.json"

    async def run() -> Any:
        creds = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=host.url)
        async with creds.get_client() as client:
            client.transport.retry = FAST
            client.transport.body_limits = SMALL
            return await client.hunting.run_to_file("DeviceInfo", dest, surface="mde")

    raised, peak = await _peak(run)
    assert isinstance(raised, ResponseTooLargeError), repr(raised)
    assert peak < PEAK_BOUND
    assert not dest.exists() and not list(tmp_path.iterdir())


async def test_a_download_link_is_bounded_and_leaves_no_file(
    conn: dict[str, Any], server: Any, bombs: dict[str, bytes], tmp_path: Path
) -> None:
    host = server({"/package.zip": _answer(bombs["gzip"], **{"Content-Encoding": "gzip"})})
    dest = tmp_path / "package.zip"

    async def run() -> Any:
        creds = DefenderApplicationCredentials.from_emulator(conn)
        async with creds.get_client() as client:
            client.transport.body_limits = SMALL
            return await client.download(f"{host.url}/package.zip?sig=abc", dest)

    raised, peak = await _peak(run)
    assert isinstance(raised, ResponseTooLargeError), repr(raised)
    assert "sig=abc" not in str(raised)
    assert peak < PEAK_BOUND
    assert not list(tmp_path.iterdir())


async def test_an_error_answer_with_a_bomb_body_keeps_its_status_type(
    conn: dict[str, Any], server: Any, bombs: dict[str, bytes]
) -> None:
    """A 500 whose body inflates to 64 MiB: the error body is read only up to its small
    bound, and the answer still ends as the status's typed error."""
    host = server({MACHINES: _answer(bombs["gzip"], status=500, **{"Content-Encoding": "gzip"})})
    raised, peak = await _peak(lambda: _call(conn, host, "mde.machines.list"))
    assert isinstance(raised, ServerError), repr(raised)
    assert peak < PEAK_BOUND


@pytest.mark.parametrize("depth", [65, 200_000])
async def test_json_nested_too_deep_is_a_typed_error(
    conn: dict[str, Any], server: Any, depth: int
) -> None:
    """Deeper than the bound (64): ResponseTooDeepError, never the builtin RecursionError."""
    body = b'{"value": ' + b"[" * depth + b"]" * depth + b"}"
    host = server({MACHINES: _answer(body)})
    with pytest.raises(ResponseTooDeepError, match="64"):
        await asyncio.wait_for(_call(conn, host, "mde.machines.list"), GUARD)


async def test_json_at_the_nesting_bound_is_read(conn: dict[str, Any], server: Any) -> None:
    body = b'{"value": ' + b"[" * 63 + b'"[[[{{{"' + b"]" * 63 + b"}"
    host = server({MACHINES: _answer(body)})
    data = await asyncio.wait_for(_call(conn, host, "mde.machines.list"), GUARD)
    assert isinstance(data["value"], list)


async def test_a_token_answer_bomb_is_bounded_in_msal_http_client(
    conn: dict[str, Any], emulator_keys: Path, fresh: Any, bombs: dict[str, bytes]
) -> None:
    """msal's HTTP client reads token answers within the same kind of bound."""
    routes = [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route(
            "/{tenant}/oauth2/v2.0/token",
            _answer(bombs["gzip"], **{"Content-Encoding": "gzip"}),
            methods=["POST"],
        ),
    ]
    with hostile_server(emulator_keys, routes) as authority:
        creds = DefenderApplicationCredentials.from_emulator(conn, authority_host=authority.url)

        async def run() -> Any:
            async with creds.get_client() as client:
                return await client.call("mde.machines.list")

        raised, peak = await _peak(run)
    assert isinstance(raised, DefenderError), repr(raised)
    assert isinstance(raised, ResponseTooLargeError), repr(raised)
    assert peak < PEAK_BOUND


def test_gzip_helper_makes_a_real_bomb(bombs: dict[str, bytes]) -> None:
    """The fixture's bodies really inflate to 64 MiB (so the bounds above are exercised)."""
    assert len(bombs["gzip"]) < 256 * 1024
    assert len(gzip.decompress(bombs["gzip"])) == BOMB_SIZE
