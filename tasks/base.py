"""What every Defender task shares: the task decorator, credential handling and outcomes.

Tasks are written once, as ``async def``, and work from both kinds of flow:

* in an async flow, ``await isolate_machine(...)`` runs the task on the flow's event loop;
* in a sync flow, ``isolate_machine(...)`` returns the result (the task runs as a submitted
  task on Prefect's task runner and is waited for), and ``.submit()``/``.map()`` work as usual.

Retries are the client's job (rate limits, ``Retry-After``, backoff, deadline), so tasks are
created with ``retries=0``: stacking Prefect retries on top would repeat non-idempotent actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar, overload

from prefect import Task
from prefect._internal.compatibility.async_dispatch import is_in_async_context
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import BaseModel, Field

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)

__all__ = [
    "DefenderCredentialsLike",
    "DefenderTask",
    "ItemOutcome",
    "OutcomeStatus",
    "defender_client",
    "defender_task",
    "run_bulk",
    "task_logger",
]

P = ParamSpec("P")
R = TypeVar("R")

DefenderCredentialsLike = (
    DefenderApplicationCredentials | DefenderUserCredentials | DefenderPartnerCredentials
)


class DefenderTask(Task[P, R]):
    """A Prefect task over an async function that can also be called from sync code."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("return_state") or is_in_async_context():
            return super().__call__(*args, **kwargs)
        if FlowRunContext.get() is not None:
            return self.submit(*args, **kwargs).result()
        return run_coro_as_sync(super().__call__(*args, **kwargs))

    def with_options(self, *args: Any, **kwargs: Any) -> DefenderTask[P, R]:  # type: ignore[override]
        new = super().with_options(*args, **kwargs)
        new.__class__ = DefenderTask
        new.defender_endpoints = getattr(self, "defender_endpoints", ())  # type: ignore[attr-defined]
        return new  # type: ignore[return-value]


@overload
def defender_task(
    fn: Callable[P, Coroutine[Any, Any, R]],
) -> DefenderTask[P, Coroutine[Any, Any, R]]: ...
@overload
def defender_task(
    fn: None = None, *, endpoints: tuple[str, ...] = (), **options: Any
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], DefenderTask[P, Coroutine[Any, Any, R]]]: ...
def defender_task(fn: Any = None, *, endpoints: tuple[str, ...] = (), **options: Any) -> Any:
    """Decorate an ``async def`` as a Defender task (see the module docstring).

    ``endpoints`` names the catalog entries (``prefect_defender.api.catalog``) the task calls;
    the README's capability/permission table is generated from them.
    """
    options.setdefault("retries", 0)
    # inputs hold credential blocks: never hash them into cache keys or persist them
    options.setdefault("cache_policy", NO_CACHE)
    for name in endpoints:
        endpoint(name)  # fail at import time on a typo

    def wrap(f: Callable[..., Awaitable[Any]]) -> DefenderTask[Any, Any]:
        if not asyncio.iscoroutinefunction(f):
            raise TypeError("defender_task needs an async function")
        options.setdefault("name", f.__name__.replace("_", "-"))
        t: DefenderTask[Any, Any] = DefenderTask(fn=f, **options)
        t.defender_endpoints = tuple(endpoints)  # type: ignore[attr-defined]
        return t

    return wrap(fn) if fn is not None else wrap


def task_logger() -> Any:
    """The run logger inside a task or flow, a module logger otherwise."""
    try:
        return get_run_logger()
    except Exception:
        import logging

        return logging.getLogger("prefect_defender.tasks")


@asynccontextmanager
async def defender_client(
    credentials: DefenderCredentialsLike | DefenderClient, tenant_id: str | None = None
) -> AsyncIterator[DefenderClient]:
    """Yield a client for ``credentials`` (or the given client, left open)."""
    if isinstance(credentials, DefenderClient):
        yield credentials
        return
    client = credentials.get_client(tenant_id)
    try:
        yield client
    finally:
        await client.aclose()


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
    items: Iterable[str],
    action: Callable[[str], Awaitable[ItemOutcome]],
    *,
    concurrency: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> list[ItemOutcome]:
    """Run ``action`` on every item with bounded concurrency; one outcome per item, in order.

    An exception escaping ``action`` becomes a ``failed`` outcome for that item (with the error's
    type, code and message), so a bulk operation never loses an item.
    """
    todo = list(items)
    sem = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async def one(item: str) -> ItemOutcome:
        nonlocal done
        async with sem:
            try:
                outcome = await action(item)
            except DefenderError as exc:
                outcome = ItemOutcome(
                    item=item, status=OutcomeStatus.FAILED, error=exc.to_dict(), reason=str(exc)
                )
            except Exception as exc:
                outcome = ItemOutcome(
                    item=item,
                    status=OutcomeStatus.FAILED,
                    error={"type": type(exc).__name__, "message": str(exc)},
                    reason=f"{type(exc).__name__}: {exc}",
                )
        done += 1
        if progress is not None:
            progress(done, len(todo))
        return outcome

    return list(await asyncio.gather(*(one(i) for i in todo)))


def require(condition: bool, message: str, field: str) -> None:
    """Raise a :class:`ValidationError` unless ``condition``."""
    if not condition:
        raise ValidationError(f"{field}: {message}", field=field)
