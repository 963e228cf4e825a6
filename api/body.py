"""Reading an answer's body within bounds: the call's deadline, a bytes-per-second floor, a
decoded size per kind of endpoint, and a JSON nesting depth.

httpx reads a body for as long as bytes keep coming (its timeouts are per read) and inflates
``gzip``/``deflate`` a network chunk at a time with no output bound, so a body trickling a byte
a second never times out and a 254 KiB compression bomb becomes 512 MiB. Here the raw bytes
are read with each read's timeout set so it cannot outlast the deadline or the floor
(:class:`BodyClock`), and inflated in steps of at most 64 KiB, counting as they come
(:class:`BodyReader`), so an answer over its bound is refused having held at most one step
more. Only ``gzip`` and ``deflate`` are asked for and read; another encoding is refused.

:func:`loads` decodes JSON after checking its nesting depth without recursion (the builtin
decoder raises ``RecursionError`` on deep input).

Examples:
    >>> loads(b'{"value": [[1], {"a": []}]}', max_depth=3)
    {'value': [[1], {'a': []}]}
    >>> nesting_exceeds(b'[[["]]]]]"]]]', 3), nesting_exceeds(b"[[[[]]]]", 3)
    (False, True)
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.errors import (
    DeadlineExceededError,
    InvalidResponseError,
    ResponseTooDeepError,
    ResponseTooLargeError,
)

__all__ = [
    "ACCEPT_ENCODING",
    "BodyClock",
    "BodyLimits",
    "BodyReader",
    "loads",
    "nesting_exceeds",
    "plain_response",
    "receive",
    "receive_sync",
]

MiB = 1 << 20
#: the only content codings the client asks for and reads (bounded inflation with zlib)
ACCEPT_ENCODING = "gzip, deflate"
#: at most this many decoded bytes come out of one inflation step
_STEP = 1 << 16


@dataclass(frozen=True)
class BodyLimits:
    """Bounds on reading one answer (configurable per client: ``ClientSettings.body_limits``).

    Sizes are decoded bytes. ``api`` is any JSON answer except hunting (a page of 10,000
    machines is about 20 MB); ``hunting`` is larger: Microsoft stops a query at about 124 MB
    of results ("Query execution has exceeded the allowed result size",
    https://learn.microsoft.com/defender-endpoint/api/run-advanced-query-api), and it also
    bounds a hunting answer streamed to a file. ``error`` is an error answer's body (read for
    its message only, never refused: the status decides the error), ``token`` an answer of
    the token endpoint, ``download`` a download link (an investigation package, a live
    response file) saved to disk.

    Once ``rate_grace`` seconds have passed since an answer's headers arrived, its body must
    have averaged at least ``min_rate`` bytes per second. ``max_depth`` bounds JSON nesting
    (Microsoft's deepest answers nest about ten levels).

    Example:
        >>> from prefect_defender.api.catalog import endpoint
        >>> limits = BodyLimits(api=64 * MiB, hunting=256 * MiB)
        >>> limits.for_endpoint(endpoint("graph.hunting.run")) // MiB
        256
    """

    api: int = 64 * MiB
    hunting: int = 256 * MiB
    error: int = 1 * MiB
    token: int = 1 * MiB
    download: int = 4096 * MiB
    min_rate: float = 1024.0
    rate_grace: float = 10.0
    max_depth: int = 64

    def for_endpoint(self, ep: Endpoint) -> int:
        """The decoded size allowed for a successful answer of ``ep``."""
        return self.hunting if ep.family == "hunting" else self.api


@dataclass
class BodyClock:
    """The time bounds of one HTTP exchange: its ``deadline`` (monotonic), the per-operation
    ``timeout``, and the bytes-per-second floor once the headers have arrived.

    :meth:`wait` is how long the next network wait may take without passing any of them;
    :meth:`arm` puts it into the request's ``timeout`` extension, which httpcore reads at the
    start of each phase (connecting, sending, the headers, the body); :meth:`overrun` says
    whether a timeout was the deadline's or the floor's doing.
    """

    deadline: float
    timeout: float
    min_rate: float = 0.0
    grace: float = 0.0
    headers_at: float | None = None
    received: int = 0

    def remaining(self) -> float:
        """Seconds left until the deadline."""
        return self.deadline - time.monotonic()

    def _floor_at(self) -> float:
        if self.headers_at is None or self.min_rate <= 0:
            return float("inf")
        return self.headers_at + self.grace + self.received / self.min_rate

    def wait(self) -> float:
        """Seconds the next network wait may take (at least a millisecond)."""
        now = time.monotonic()
        return max(min(self.timeout, self.deadline - now, self._floor_at() - now), 0.001)

    def expired(self) -> bool:
        """True once the deadline or the floor has passed."""
        now = time.monotonic()
        return now >= self.deadline or now >= self._floor_at()

    def arm(self, request: httpx.Request) -> None:
        """Bound the waits of the phases of ``request`` that start from now on."""
        wait = self.wait()
        timeouts = request.extensions.setdefault("timeout", {})
        for phase in ("connect", "read", "write", "pool"):
            timeouts[phase] = wait

    def overrun(self, url: str, method: str, applied_unknown: bool = False) -> Exception | None:
        """The :class:`DeadlineExceededError` to raise when a timeout was the deadline's or
        the floor's doing (``None``: an ordinary per-operation timeout)."""
        now = time.monotonic() + 0.01
        if now >= self.deadline:
            why = "the call's deadline passed"
        elif now >= self._floor_at() and self.headers_at is not None:
            rate = self.received / max(now - self.headers_at, 1e-3)
            why = (
                f"the body came at {rate:.0f} bytes per second, below the floor of "
                f"{self.min_rate:.0f} bytes per second"
            )
        else:
            return None
        return DeadlineExceededError(
            f"{why} while reading the answer ({self.received} bytes received)",
            applied_unknown=applied_unknown,
            method=method,
            url=url,
        )


class _Inflater:
    """``Content-Encoding`` decoding in steps of at most :data:`_STEP` output bytes."""

    def __init__(self, encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        self.kind = codings[0] if len(codings) == 1 else ("" if not codings else "many")
        self._z: Any = None
        if self.kind in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.kind == "deflate":  # RFC 9110: zlib framing; some servers send raw deflate
            self._z = zlib.decompressobj()
        elif self.kind:
            raise InvalidResponseError(
                f"the answer is encoded as {encoding!r}, which the client did not ask for "
                f"(Accept-Encoding: {ACCEPT_ENCODING})",
                code="UnexpectedContentEncoding",
            )
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            if data:
                yield data
            return
        tail = data
        while True:
            out = self._step(tail)
            if out:
                yield out
            tail = self._z.unconsumed_tail
            if not tail and len(out) < _STEP:
                return

    def _step(self, data: bytes) -> bytes:
        try:
            out: bytes = self._z.decompress(data, _STEP)
        except zlib.error as exc:
            if not (self._first and self.kind == "deflate"):
                raise InvalidResponseError(
                    f"the answer's {self.kind} encoding is corrupt ({exc})",
                    code="InvalidContentEncoding",
                ) from None
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate after all
            out = self._z.decompress(data, _STEP)
        self._first = False
        return out

    def finish(self) -> bytes:
        return b"" if self._z is None else bytes(self._z.flush())


@dataclass
class BodyReader:
    """Counts and inflates one body's raw chunks within ``limit`` decoded bytes.

    ``truncate`` (error answers): stop keeping bytes at the limit instead of raising.
    """

    limit: int
    clock: BodyClock
    encoding: str | None = None
    truncate: bool = False
    size: int = 0
    full: bool = False

    def __post_init__(self) -> None:
        try:
            self._inflater = _Inflater(self.encoding)
        except InvalidResponseError:
            if not self.truncate:
                raise
            self._inflater, self.full = _Inflater(None), True  # an error body: keep nothing
        self.clock.headers_at = time.monotonic()

    def check_declared(self, headers: httpx.Headers) -> None:
        """Refuse at once a ``Content-Length`` beyond the limit (raw length; for a compressed
        body the decoded one is larger still)."""
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.limit:
            if self.truncate:
                return
            raise self._too_large(f"Content-Length {int(declared)} bytes")

    def take(self, raw: bytes) -> list[bytes]:
        """The decoded pieces of one raw chunk; raises :class:`ResponseTooLargeError` past the
        limit (or, with ``truncate``, returns nothing more)."""
        self.clock.received += len(raw)
        return [p for p in self._inflater.feed(raw) if self._count(p)]

    def finish(self) -> list[bytes]:
        """The last decoded bytes once the raw stream ended."""
        tail = self._inflater.finish()
        return [tail] if tail and self._count(tail) else []

    def _count(self, piece: bytes) -> bool:
        if self.full:
            return False
        self.size += len(piece)
        if self.size > self.limit:
            if not self.truncate:
                raise self._too_large(f"more than {self.limit} decoded bytes")
            self.full = True
            return False
        return True

    def _too_large(self, what: str) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"the answer's body is larger than allowed ({what}; the bound is {self.limit} "
            f"bytes = {self.limit / MiB:g} MiB, ClientSettings.body_limits)",
            code="ResponseTooLarge",
        )


async def receive(
    client: httpx.AsyncClient,
    request: httpx.Request,
    clock: BodyClock,
    limit: int,
    error_limit: int,
    dest: Path | None = None,
) -> httpx.Response:
    """Send ``request`` and read its answer within ``clock`` and the size bounds: a success
    within ``limit`` (into ``dest`` when given, through ``dest.part``), any other answer's body
    truncated at ``error_limit``. Returns the answer with its decoded body in memory (empty
    when it went to ``dest``)."""
    clock.arm(request)
    resp = await client.send(request, stream=True)
    try:
        ok = resp.status_code < 300
        reader = _reader(resp, clock, limit if ok else error_limit, truncate=not ok)
        if ok and dest is not None:
            await _to_file(resp, reader, dest)
            content = b""
        else:
            content = b"".join([p async for p in _decoded(resp, reader)])
    finally:
        await resp.aclose()
    return plain_response(resp, content, request)


def receive_sync(
    client: httpx.Client, request: httpx.Request, clock: BodyClock, limit: int, **send: Any
) -> httpx.Response:
    """:func:`receive` for a synchronous client (msal's), every body within ``limit``."""
    clock.arm(request)
    resp = client.send(request, stream=True, **send)
    try:
        reader = _reader(resp, clock, limit, truncate=False)
        # httpcore takes the body's read timeout once, when the body starts: each read may
        # wait at most that (no more than the floor's grace); the bounds are checked after each
        clock.arm(request)
        chunks: list[bytes] = []
        for raw in [resp.content] if _read_already(resp) else resp.iter_raw():
            chunks += reader.take(raw)
            if clock.expired():
                raise httpx.ReadTimeout("the answer's time bounds passed", request=request)
        chunks += reader.finish()
    finally:
        resp.close()
    return plain_response(resp, b"".join(chunks), request)


def _read_already(resp: httpx.Response) -> bool:
    """An answer whose body is in memory, decoded, already (``httpx.MockTransport``'s)."""
    return resp.is_stream_consumed


def _reader(resp: httpx.Response, clock: BodyClock, limit: int, truncate: bool) -> BodyReader:
    encoding = None if _read_already(resp) else resp.headers.get("content-encoding")
    reader = BodyReader(limit, clock, encoding, truncate=truncate)
    reader.check_declared(resp.headers)
    return reader


async def _decoded(resp: httpx.Response, reader: BodyReader) -> AsyncIterator[bytes]:
    """The decoded body, each raw read bounded by the clock (httpcore would take the body's
    read timeout once, so a trickle that never pauses long would never time out)."""
    if _read_already(resp):
        for piece in [*reader.take(resp.content), *reader.finish()]:
            yield piece
        return
    raw_chunks = resp.aiter_raw()
    while not reader.full:
        try:
            async with asyncio.timeout(reader.clock.wait()):
                raw = await anext(raw_chunks, None)
        except TimeoutError:
            raise httpx.ReadTimeout(
                "the answer's time bounds passed", request=resp.request
            ) from None
        if raw is None:
            break
        for piece in reader.take(raw):
            yield piece
    for piece in reader.finish():
        yield piece


async def _to_file(resp: httpx.Response, reader: BodyReader, dest: Path) -> None:
    part = dest.with_name(dest.name + ".part")
    try:
        with part.open("wb") as fh:
            async for piece in _decoded(resp, reader):
                fh.write(piece)
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)


def plain_response(
    streamed: httpx.Response, content: bytes, request: httpx.Request
) -> httpx.Response:
    """A read :class:`httpx.Response` with ``content`` (already decoded) in place of the
    streamed one: the encoding and length headers describe the wire, not ``content``."""
    headers = [
        (k, v)
        for k, v in streamed.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        streamed.status_code,
        headers=headers,
        content=content,
        request=request,
        extensions={"http_version": streamed.extensions.get("http_version", b"HTTP/1.1")},
    )


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_exceeds(data: bytes, max_depth: int) -> bool:
    """True when the JSON text ``data`` nests deeper than ``max_depth`` (or its brackets do
    not balance within that depth), found without recursion: strings are removed, then
    adjacent ``[]``/``{}`` pairs ``max_depth`` times; balanced text of depth d empties in d
    rounds."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    for rounds in range(max_depth):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return _unbalanced_too_deep(brackets, max_depth - rounds)
        brackets = shorter
    return bool(brackets)


def _unbalanced_too_deep(brackets: bytes, budget: int) -> bool:
    """For brackets with no adjacent pair left (a truncated or malformed body): would a
    decoder descend more than ``budget`` levels before failing? It fails at the first
    closer, so only the openers before it count (at most ``budget + 1`` steps here)."""
    for depth, b in enumerate(brackets, start=1):
        if b in b"]}":
            return False
        if depth > budget:
            return True
    return False


def loads(data: bytes, max_depth: int) -> Any:
    """Decode JSON ``data`` whose nesting is at most ``max_depth``; raises
    :class:`ResponseTooDeepError`, or ``ValueError`` for text that is not JSON."""
    if nesting_exceeds(data, max_depth):
        raise ResponseTooDeepError(
            f"the answer's JSON nests deeper than {max_depth} levels", code="ResponseTooDeep"
        )
    try:
        return json.loads(data)
    except RecursionError:  # cannot happen after the check; kept typed all the same
        raise ResponseTooDeepError(
            f"the answer's JSON nests deeper than {max_depth} levels", code="ResponseTooDeep"
        ) from None
