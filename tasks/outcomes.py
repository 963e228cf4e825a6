"""The outcomes of bulk tasks: one :class:`ItemOutcome` per item, never one dropped.

:func:`run_bulk` runs one coroutine per item with bounded concurrency and turns an exception
into a ``failed`` outcome for its item (``skipped`` when the safety rails refused its write,
``dry_run`` in a dry run: nothing was sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.write_gate import DryRunRefusedError, WriteRefusedError

__all__ = ["ItemOutcome", "OutcomeStatus", "error_outcome", "run_bulk"]

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


def _status_of(exc: DefenderError) -> OutcomeStatus:
    """An item's status when ``exc`` ended it: refused by the safety rails is not a failure."""
    if isinstance(exc, DryRunRefusedError):
        return OutcomeStatus.DRY_RUN
    if isinstance(exc, WriteRefusedError):
        return OutcomeStatus.SKIPPED
    return OutcomeStatus.FAILED


def error_outcome(item: str, exc: DefenderError) -> ItemOutcome:
    """The outcome of ``item`` ended by ``exc``: ``failed``, or ``skipped``/``dry_run`` when the
    safety rails refused its write (nothing was sent).

    Example:
        >>> error_outcome("203.0.113.66", DefenderError("boom")).status.value
        'failed'
    """
    return ItemOutcome(item=item, status=_status_of(exc), error=exc.to_dict(), reason=str(exc))


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
                outcome = error_outcome(key(item), exc)
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
