"""Reading a large JSON document from a file without decoding it whole.

A hunting answer is one JSON object whose results array may hold 100,000 rows (70 MB and
more). :func:`iter_object` walks the top-level object member by member and, for the members
named in ``stream``, yields the array's items one at a time; other members are decoded whole
(they are small: the schema, statistics). Memory stays at one chunk plus one item.

It reads answers, so what is not JSON raises
:class:`~prefect_defender.api.errors.InvalidResponseError` and a value nested deeper than
``max_depth`` :class:`~prefect_defender.api.errors.ResponseTooDeepError`.

Examples:
    >>> import io
    >>> doc = io.StringIO('{"schema": [{"name": "a"}], "results": [{"a": 1}, {"a": 2}]}')
    >>> [(k, v) for k, v in iter_object(doc, stream={"results"}, chunk_size=4)]
    [('schema', [{'name': 'a'}]), ('results', {'a': 1}), ('results', {'a': 2})]
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterator
from typing import Any, TextIO

from prefect_defender.api.body import BodyLimits, nesting_exceeds
from prefect_defender.api.errors import InvalidResponseError, ResponseTooDeepError

__all__ = ["iter_object"]

_WS = " \t\r\n"
_NUMBER_CHARS = "0123456789.eE+-"
_DECODER = json.JSONDecoder()


def _malformed(why: str) -> InvalidResponseError:
    return InvalidResponseError(f"malformed JSON: {why}", code="InvalidResponseBody")


class _Reader:
    """A sliding text buffer over a file, refilled on demand."""

    def __init__(self, fh: TextIO, chunk_size: int, max_depth: int) -> None:
        self.fh = fh
        self.chunk_size = chunk_size
        self.max_depth = max_depth
        self.buf = ""
        self.pos = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(self.chunk_size)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ("" at the end)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        got = self.peek()
        if got != char:
            raise _malformed(f"expected {char!r}, found {got or 'end'!r}")
        self.pos += 1

    def comma_or(self, close: str) -> bool:
        """Step past the ``,`` or ``close`` after an item; True when it was ``close``."""
        nxt = self.peek()
        self.pos += 1
        if nxt == close:
            return True
        if nxt != ",":
            raise _malformed(f"expected ',' or '{close}', found {nxt!r}")
        return False

    def value(self) -> Any:
        """Decode the next JSON value, reading more until it is complete."""
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if not self._fill():
                    raise _malformed(exc.msg) from None
                continue
            except RecursionError:
                raise self._too_deep() from None
            # a number that reaches the buffer's end (or stops at a "." or "e" there) may
            # continue in the next chunk
            if isinstance(obj, int | float) and not isinstance(obj, bool) and not self.eof:
                tail = self.buf[end:].rstrip(_NUMBER_CHARS) if end < len(self.buf) else ""
                if tail == "" and self._fill():
                    continue
            deep_enough = end - self.pos > 2 * self.max_depth  # d levels take 2d characters
            if deep_enough and nesting_exceeds(self.buf[self.pos : end].encode(), self.max_depth):
                raise self._too_deep()
            self.pos = end
            return obj

    def _too_deep(self) -> ResponseTooDeepError:
        return ResponseTooDeepError(
            f"the answer's JSON nests deeper than {self.max_depth} levels", code="ResponseTooDeep"
        )


def iter_object(
    fh: TextIO,
    stream: Container[str],
    chunk_size: int = 1 << 16,
    max_depth: int = BodyLimits.max_depth,
) -> Iterator[tuple[str, Any]]:
    """``(key, value)`` for each member of the top-level object; for a key in ``stream`` whose
    value is an array, one ``(key, item)`` per item instead."""
    r = _Reader(fh, chunk_size, max_depth)
    r.expect("{")
    if r.peek() == "}":
        return
    while True:
        key = r.value()
        if not isinstance(key, str):
            raise _malformed("object key is not a string")
        r.expect(":")
        if key in stream and r.peek() == "[":
            r.pos += 1
            if r.peek() == "]":
                r.pos += 1
            else:
                while True:
                    yield key, r.value()
                    if r.comma_or(close="]"):
                        break
        else:
            yield key, r.value()
        if r.comma_or(close="}"):
            return
