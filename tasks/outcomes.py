"""The outcomes of bulk tasks: one :class:`ItemOutcome` per item, never one dropped.

:func:`run_bulk` runs one coroutine per item with bounded concurrency and turns an exception
into a ``failed`` outcome for its item. Re-exported by ``tasks.base``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from prefect_defender.api.errors import DefenderError

__all__ = ["ItemOutcome", "OutcomeStatus", "run_bulk"]

T = TypeVar("T")


class OutcomeStatus(StrEnum):
    """How one item of a bulk operation ended."""

    SUCCEEDED = "succeeded"
    ALREADY_IN_PROGRESS = "already_in_progress"
    SKIPPED = "skipped"
    FAILED = "failed"
    DRY_RUN = "dry_run"


class ItemOutcome(BaseModel):
    """The recorded outcome of one item of a bulk operation (nothing is ever dropped)."""

    item: str = Field(description="The item: a machine id, indicator value, tenant ...")
    status: OutcomeStatus
    result: Any = None
    error: dict[str, Any] | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True for succeeded, already in progress and dry run."""
        return self.status in (
            OutcomeStatus.SUCCEEDED,
            OutcomeStatus.ALREADY_IN_PROGRESS,
            OutcomeStatus.DRY_RUN,
        )


async def run_bulk(
    items: Iterable[T],
    action: Callable[[T], Awaitable[ItemOutcome]],
    *,
    concurrency: int = 10,
    progress: Callable[[int, int], None] | None = None,
    key: Callable[[T], str] = str,
) -> list[ItemOutcome]:
    """Run ``action`` on every item with bounded concurrency; one outcome per item, in order.

    An exception escaping ``action`` becomes a ``failed`` outcome for that item (named by
    ``key(item)``, with the error's type, code and message), so a bulk operation never loses an
    item.
    """
    todo = list(items)
    sem = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async def one(item: T) -> ItemOutcome:
        nonlocal done
        async with sem:
            try:
                outcome = await action(item)
            except DefenderError as exc:
                outcome = ItemOutcome(
                    item=key(item),
                    status=OutcomeStatus.FAILED,
                    error=exc.to_dict(),
                    reason=str(exc),
                )
            except Exception as exc:
                outcome = ItemOutcome(
                    item=key(item),
                    status=OutcomeStatus.FAILED,
                    error={"type": type(exc).__name__, "message": str(exc)},
                    reason=f"{type(exc).__name__}: {exc}",
                )
        done += 1
        if progress is not None:
            progress(done, len(todo))
        return outcome

    return list(await asyncio.gather(*(one(i) for i in todo)))
