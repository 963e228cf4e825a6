"""Graph security lists (``incidents``, ``alerts_v2``) read completely, past Graph's paging limits.

What the service enforces (and the emulator with it):

* ``$top`` is at most 1,000 and ``$top + $skip`` at most 6,000: "``/security/alerts?$top=10&
  $skip=5990`` will return a ``200 OK`` response code, but ``...&$skip=5991`` will return a ``400
  Bad Request``" (microsoftgraph/microsoft-graph-docs pull request 3551, the "Constraints" of
  https://learn.microsoft.com/graph/api/resources/security-error-codes; hit in practice on
  ``/security/incidents``: elastic/integrations#20234). The page's own workaround is a time
  filter. A list is therefore read in **time windows** on ``lastUpdateDateTime``: a window is
  paged through ``@odata.nextLink`` until the next link would pass the 6,000 limit; then it is
  split at the oldest timestamp read, ``<= t`` and ``> t``. The ``> t`` part holds every item read
  so far when the service lists newest first (as the list page says it does); a ``$count`` probe
  confirms it, or that part is read again too. Items read twice (ties at ``t``, re-read parts)
  are yielded once. More than 6,000 items sharing one ``lastUpdateDateTime`` are told apart by
  ``createdDateTime``; past that a typed error says so. The split needs no ordering: each part
  excludes some item the other holds, so every split makes progress and paging always ends.
* A window read while incidents change can lose an item that moved out of it (``$skip``
  shifts): a window whose pass saw fewer distinct items than its first page's ``@odata.count``
  is read again (at most :data:`MAX_PASSES` times).
* ``$expand=alerts`` can fail with HTTP 500 on large tenants (elastic/integrations#18144): the
  page is then read without the expansion and each item's alerts are fetched separately
  (``GET .../incidents/{id}?$expand=alerts``, at most :data:`EXPAND_CONCURRENCY` at a time), and
  the rest of the list is read that way too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.clouds import origin
from prefect_defender.api.errors import (
    BadRequestError,
    InvalidResponseError,
    PagingError,
    ServerError,
    UnsafeRequestError,
)
from prefect_defender.api.page_guard import PageGuard, PagingLimits
from prefect_defender.api.transport import Transport

__all__ = [
    "EXPAND_CONCURRENCY",
    "GRAPH_SKIP_TOP_MAX",
    "GRAPH_TOP_MAX",
    "MAX_PASSES",
    "PagingLimitError",
    "WindowReader",
]

logger = logging.getLogger("prefect_defender.http")

GRAPH_TOP_MAX = 1000
GRAPH_SKIP_TOP_MAX = 6000
MAX_PASSES = 3
EXPAND_CONCURRENCY = 4
#: the fields windows split on, in order (the second only inside a tie of the first)
WINDOW_FIELDS = ("lastUpdateDateTime", "createdDateTime")


class PagingLimitError(PagingError):
    """A list cannot be read completely within Graph's ``$top``/``$skip`` limits, or the
    service repeats its pages."""


#: an OData datetime literal as Graph writes its timestamps (up to 7 fractional digits)
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True, order=True)
class Stamp:
    """An item's timestamp: ordered at the precision the service wrote it, and the text it
    wrote (reused as the filter literal, so a split cuts exactly where the service compares)."""

    instant: datetime
    nanos: int
    text: str = field(compare=False)


def _stamp(value: Any) -> Stamp | None:
    """``value`` as a :class:`Stamp`; ``None`` unless it is a plain datetime literal (a value
    from the service is only ever put back into a filter after this check)."""
    m = _DATETIME.match(value) if isinstance(value, str) else None
    if m is None:
        return None
    digits = (m.group(2) or "").ljust(9, "0")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        base = datetime.fromisoformat(m.group(1) + zone)
    except ValueError:
        return None
    return Stamp(base.astimezone(UTC), int(digits), value)


@dataclass(frozen=True)
class Window:
    """The caller's filter narrowed to ``low < field <= high`` on ``WINDOW_FIELDS[level]`` (each
    bound optional), and ``fixed`` equalities on the fields before it (a tie being split)."""

    level: int = 0
    fixed: tuple[str, ...] = ()
    low: str | None = None  # "gt <timestamp>"
    high: str | None = None  # "le <timestamp>"

    @property
    def field(self) -> str:
        return WINDOW_FIELDS[self.level]

    def clauses(self) -> tuple[str, ...]:
        bounds = (f"{self.field} {b}" for b in (self.low, self.high) if b)
        return (*self.fixed, *bounds)


@dataclass
class Pass:
    """What one read of a window saw: distinct ids with their timestamps, the first page's
    ``@odata.count``, and whether the 6,000 limit stopped it."""

    stamps: dict[str, Stamp | None] = field(default_factory=dict)
    count: int | None = None
    capped: bool = False


@dataclass
class WindowReader:
    """Reads one Graph security list completely (see the module docstring).

    ``params`` are the caller's query (``$filter``, ``$expand`` ...); ``page_size`` the ``$top``
    (at most 1,000); ``fetch_one`` gets one item with its expansion (for the ``$expand``
    fallback). Yields each item once, as a dict.
    """

    transport: Transport
    ep: Endpoint
    params: Mapping[str, Any]
    page_size: int = GRAPH_TOP_MAX
    limit: int | None = None
    fetch_one: Callable[[str], Awaitable[dict[str, Any]]] | None = None
    yielded: set[str] = field(default_factory=set)
    requests: int = 0
    expand_failed: bool = False

    def __post_init__(self) -> None:
        self.page_size = max(1, min(self.page_size, GRAPH_TOP_MAX))
        self._origin = origin(self.transport.endpoints.base_url(self.ep.surface))
        # pages, empty pages, fetching time and the count bounded (api.page_guard); repeats
        # are this reader's own to judge (it reads windows again on purpose)
        limits = getattr(self.transport, "paging_limits", None) or PagingLimits()
        self.guard = PageGuard(self.ep, limits, repeats=False)

    def _done(self) -> bool:
        return self.limit is not None and len(self.yielded) >= self.limit

    async def items(self) -> AsyncIterator[dict[str, Any]]:
        """Every item of the list, once (a :class:`PagingError` says how far it got)."""
        try:
            async for item in self._windows():
                yield item
        except PagingError as exc:
            exc.items_read, exc.pages_read = len(self.yielded), self.guard.pages
            raise

    async def _windows(self) -> AsyncIterator[dict[str, Any]]:
        todo = [Window()]
        while todo and not self._done():
            window = todo.pop()
            for _ in range(MAX_PASSES):
                seen = Pass()
                async for item in self._read(window, seen):
                    yield item
                    if self._done():
                        return
                if seen.capped:
                    todo += await self._split(window, seen)
                    break
                if seen.count is None or len(seen.stamps) >= seen.count:
                    break
                logger.info(
                    "a window read %d of %d items; reading it again", len(seen.stamps), seen.count
                )

    # -- one pass over one window ----------------------------------------------------------
    def _query(self, window: Window, top: int, count: bool) -> dict[str, Any]:
        query = {k: v for k, v in self.params.items() if k != "$top"}
        if self.expand_failed:
            query.pop("$expand", None)
        parts = [p for p in (query.get("$filter"), *window.clauses()) if p]
        if parts:
            query["$filter"] = (
                parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)
            )
        query["$top"] = top
        if count:
            query["$count"] = "true"
        return query

    def _top(self) -> int:
        if self.limit is None:
            return self.page_size
        return max(1, min(self.page_size, self.limit - len(self.yielded)))

    async def _read(self, window: Window, seen: Pass) -> AsyncIterator[dict[str, Any]]:
        query: dict[str, Any] | None = self._query(window, self._top(), count=True)
        url: str | None = None
        links: set[str] = set()
        while True:
            body = await self._page(url, query)
            if seen.count is None and isinstance(body.get("@odata.count"), int):
                seen.count = body["@odata.count"]
            fresh = 0
            values = _values(body, self.ep)
            self.guard.page(
                body, values, sum(1 for i in values if str(i.get("id")) not in self.yielded)
            )
            for item in await self._expanded(values):
                ident = str(item.get("id"))
                if ident not in seen.stamps:
                    fresh += 1
                seen.stamps[ident] = _stamp(item.get(window.field))
                if ident not in self.yielded:
                    self.yielded.add(ident)
                    yield item
                    if self._done():
                        return
            link = body.get("@odata.nextLink")
            if not link:
                return
            url = self._next(str(link), links, fresh, not body.get("value"))
            if url is None:
                seen.capped = True
                return
            query = None

    async def _page(self, url: str | None, query: dict[str, Any] | None) -> dict[str, Any]:
        self.requests += 1
        self.guard.next_page()
        try:
            body = await self.transport.request_json(
                self.ep, url=url, params=query, deadline=self.guard.deadline()
            )
        except BadRequestError as exc:
            smaller = _top_limit(exc.message)
            if query is None or smaller is None or smaller >= int(query["$top"]):
                raise
            # a tenant whose list allows fewer than 1,000 a page (wazuh/wazuh#28070 met 50)
            self.page_size = smaller
            return await self._page(None, {**query, "$top": smaller})
        except ServerError:
            if self.fetch_one is None or self.expand_failed or not self._expanding(url, query):
                raise
            # elastic/integrations#18144: the expansion fails, the list does not
            logger.warning("%s: $expand=alerts failed; reading alerts per item", self.ep.name)
            self.expand_failed = True
            url, query = _without_expand(url), (_without_expand_params(query) if query else None)
            self.requests += 1
            body = await self.transport.request_json(
                self.ep, url=url, params=query, deadline=self.guard.deadline()
            )
        if not isinstance(body, dict):
            raise InvalidResponseError(f"{self.ep.name}: expected an OData collection")
        return body

    def _expanding(self, url: str | None, query: Mapping[str, Any] | None) -> bool:
        if query is not None:
            return "$expand" in query
        return url is not None and "$expand" in dict(parse_qsl(urlsplit(url).query))

    async def _expanded(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``items``, each with its expansion fetched on its own once ``$expand`` failed."""
        if not self.expand_failed or self.fetch_one is None or "$expand" not in self.params:
            return items
        fetch = self.fetch_one
        sem = asyncio.Semaphore(EXPAND_CONCURRENCY)

        async def one(item: dict[str, Any]) -> dict[str, Any]:
            async with sem:
                return await fetch(str(item.get("id")))

        self.requests += len(items)
        return list(await asyncio.gather(*(one(i) for i in items)))

    def _next(self, link: str, links: set[str], fresh: int, empty: bool) -> str | None:
        """The next page's URL, or ``None`` when following it would pass the 6,000 limit."""
        if origin(link) != self._origin:
            raise UnsafeRequestError(
                f"refusing to follow @odata.nextLink to {origin(link)!r}: not the Graph host "
                f"{self._origin!r}",
                code="ForeignNextLink",
            )
        if link in links or (fresh == 0 and not empty):
            raise PagingLimitError(
                f"{self.ep.name}: the service repeated a page (nextLink {link[:120]!r}); "
                "stopping instead of reading it forever",
                code="RepeatedPage",
            )
        links.add(link)
        query = dict(parse_qsl(urlsplit(link).query))
        try:
            skip, top = int(query.get("$skip", 0)), int(query.get("$top", self.page_size))
        except ValueError:
            return link
        return link if skip + top <= GRAPH_SKIP_TOP_MAX else None

    # -- splitting a window ----------------------------------------------------------------
    async def _split(self, window: Window, seen: Pass) -> list[Window]:
        """The parts of a window the 6,000 limit stopped, still to read (oldest part last)."""
        stamps = [t for t in seen.stamps.values() if t is not None]
        if not stamps:
            raise PagingLimitError(
                f"{self.ep.name}: items without a valid {window.field}: cannot page past "
                f"{GRAPH_SKIP_TOP_MAX}",
                code="PagingLimit",
            )
        low = min(stamps)
        if low == max(stamps) or window.high == f"le {low.text}":
            # one instant (or the service compares coarser than it writes): no split helps
            return [self._tie(window, low)]
        above = sum(1 for t in stamps if t > low)
        upper = replace(window, low=f"gt {low.text}")
        parts = [replace(window, high=f"le {low.text}")]
        if await self._count(upper) != above:
            parts.append(upper)  # not only what was read already: read it (again)
        return parts

    def _tie(self, window: Window, at: Stamp) -> Window:
        """The items of ``window`` at the instant ``at``, split next on the following field."""
        if window.level + 1 >= len(WINDOW_FIELDS):
            raise PagingLimitError(
                f"{self.ep.name}: more than {GRAPH_SKIP_TOP_MAX} items share the same "
                f"{' and '.join(WINDOW_FIELDS)}: Graph cannot page past them",
                code="PagingLimit",
            )
        return Window(window.level + 1, (*window.fixed, f"{window.field} eq {at.text}"))

    async def _count(self, window: Window) -> int | None:
        """``@odata.count`` of ``window`` (one item asked for), or ``None`` if not answered."""
        query = self._query(window, 1, count=True)
        query.pop("$expand", None)
        self.requests += 1
        body = await self.transport.request_json(
            self.ep, params=query, deadline=self.guard.deadline()
        )
        value = body.get("@odata.count") if isinstance(body, dict) else None
        return value if isinstance(value, int) else None


_TOP_LIMIT = re.compile(r"limit of '(\d+)' for Top query has been exceeded")


def _top_limit(message: str) -> int | None:
    """The page size a "limit ... for Top query" refusal names, if it names a positive one."""
    m = _TOP_LIMIT.search(message or "")
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


def _values(body: dict[str, Any], ep: Endpoint) -> list[dict[str, Any]]:
    values = body.get("value")
    if not isinstance(values, list):
        raise InvalidResponseError(f"{ep.name}: expected an OData collection with 'value'")
    return [v for v in values if isinstance(v, dict)]


def _without_expand(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "$expand"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _without_expand_params(query: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in query.items() if k != "$expand"}
