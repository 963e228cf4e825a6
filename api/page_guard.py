"""Paging that always ends: the checks every paginator runs on each page it reads.

A listing ends in :class:`~prefect_defender.api.errors.PagingError` (with how far it got)
instead of running for ever when the service

* repeats an ``@odata.nextLink`` it already gave (seen on Graph: 11,000 requests in 15 s),
* answers a page it already gave: the same items again, for instance an MDE or XDR list that
  ignores ``$skip`` (the incident poller made 5,700 requests in 15 s against one),
* gives more items than its own ``@odata.count`` (plus one page of newcomers) implies,
* keeps linking to empty pages (more than :attr:`PagingLimits.max_empty_pages` in a row), or
* needs more than :attr:`PagingLimits.max_pages` pages.

The time spent fetching pages is bounded too: every page's request gets what is left of
:attr:`PagingLimits.deadline` (the time the consumer spends between pages does not count).

A reader that reads some pages twice on purpose (Graph's time windows,
:mod:`~prefect_defender.api.window_paging`, which detects repeats itself) uses a guard with
``repeats=False``: the page bound, empty pages, the deadline, and the count checked on the
distinct items it reports.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.errors import PagingError
from prefect_defender.api.redact import redact_url

__all__ = ["PageGuard", "PagingLimits", "page_guard"]


@dataclass(frozen=True)
class PagingLimits:
    """Bounds of one listing (``ClientSettings.paging_limits``): at most ``max_pages`` pages,
    ``max_empty_pages`` empty ones in a row, and ``deadline`` seconds spent fetching them.

    Example:
        >>> PagingLimits().max_pages
        10000
    """

    max_pages: int = 10_000
    max_empty_pages: int = 20
    deadline: float = 3600.0


def _fingerprint(items: list[Any]) -> str:
    """A page's identity: its length and its first and last items (distinct pages of one
    listing never share both)."""
    ends = [items[0], items[-1]] if items else []
    text = json.dumps([len(items), ends], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class PageGuard:
    """The state of one listing: pages and items read, links and pages seen, time spent."""

    ep: Endpoint
    limits: PagingLimits
    repeats: bool = True
    pages: int = 0
    items: int = 0
    total: int | None = None
    spent: float = 0.0
    empty_run: int = 0
    _links: set[str] = field(default_factory=set)
    _pages_seen: dict[str, int] = field(default_factory=dict)
    _fetch_started: float | None = None

    def deadline(self) -> float:
        """The ``time.monotonic()`` by which the next request of the listing must have ended."""
        self._close_fetch()
        self._fetch_started = time.monotonic()
        return self._fetch_started + max(self.limits.deadline - self.spent, 0.0)

    def _close_fetch(self) -> None:
        if self._fetch_started is not None:
            self.spent += time.monotonic() - self._fetch_started
            self._fetch_started = None

    def page(self, body: Any, items: list[Any], distinct: int | None = None) -> None:
        """Account for a page just read (``distinct``: how many of its items are new to the
        listing, for a reader that reads pages again); raise :class:`PagingError` when it
        shows that the listing would not end."""
        self._close_fetch()
        self.pages += 1
        count = body.get("@odata.count") if isinstance(body, dict) else None
        if self.total is None and isinstance(count, int) and not isinstance(count, bool):
            self.total = count
        self.empty_run = 0 if items else self.empty_run + 1
        if self.empty_run > self.limits.max_empty_pages:
            raise self.error(
                f"{self.empty_run} empty pages in a row, each linking to another",
                "EmptyPages",
            )
        if items and self.repeats:
            mark = _fingerprint(items)
            first = self._pages_seen.setdefault(mark, self.pages)
            if first != self.pages:
                raise self.error(
                    f"page {self.pages} repeats page {first} (a service that ignores $skip, "
                    "or pages in a loop)",
                    "RepeatedPage",
                )
        self.items += len(items) if distinct is None else distinct
        if self.total is not None and self.items > self.total + self._slack(items):
            raise self.error(
                f"{self.items} items read, more than the {self.total} the service counted",
                "MorePagesThanCounted",
            )

    def next_page(self, link: str | None = None) -> None:
        """Before asking for another page (``link``: Graph's nextLink)."""
        if self.pages >= self.limits.max_pages:
            raise self.error(
                f"more than {self.limits.max_pages} pages (PagingLimits.max_pages)",
                "TooManyPages",
            )
        if link is None:
            return
        if link in self._links:
            raise self.error(
                f"the service gave the same @odata.nextLink twice ({redact_url(link)[:200]})",
                "RepeatedNextLink",
            )
        self._links.add(link)

    def _slack(self, items: list[Any]) -> int:
        """Items that may join a listing while it is read: one page's worth."""
        return max(len(items), self.items // max(self.pages, 1))

    def error(self, why: str, code: str) -> PagingError:
        """The error ending this listing, with how far it got."""
        return PagingError(
            f"{self.ep.name}: paging stopped after {self.pages} page(s) and {self.items} "
            f"item(s): {why}",
            code=code,
            items_read=self.items,
            pages_read=self.pages,
            method=self.ep.method,
        )


def page_guard(transport: Any, ep: Endpoint) -> PageGuard:
    """A new guard for one listing of ``ep`` within the transport's ``paging_limits`` (the
    defaults for a transport without them)."""
    return PageGuard(ep, getattr(transport, "paging_limits", None) or PagingLimits())
