"""What every Defender task shares: the task decorator, the client for its credentials, its logger.

The outcomes of bulk tasks (:class:`~prefect_defender.tasks.outcomes.ItemOutcome`,
:func:`~prefect_defender.tasks.outcomes.run_bulk`) live in ``tasks.outcomes``.

Tasks are written once, as ``async def``, and work from both kinds of flow:

* in an async flow, ``await isolate_machine(...)`` runs the task on the flow's event loop;
* in a sync flow, ``isolate_machine(...)`` returns the result (the task runs as a submitted
  task on Prefect's task runner and is waited for), and ``.submit()``/``.map()`` work as usual.

Either way a call is type-checked against the task's own signature (:class:`DefenderTask`; with
mypy's plugin ``prefect_defender.tasks.mypy_plugin`` its result too).

Retries are the client's job (rate limits, ``Retry-After``, backoff, deadline), so tasks are
created with ``retries=0``: stacking Prefect retries on top would repeat non-idempotent actions.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, cast, overload

from prefect import State, Task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, get_run_context
from prefect.exceptions import MissingContextError
from prefect.futures import PrefectFuture, PrefectFutureList
from prefect.logging import get_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.validation import (
    check_guid,
)
from prefect_defender.blocks import CREDENTIAL_BLOCKS, DefenderCredentials, ui_text
from prefect_defender.tasks.arguments import checked_arguments
from prefect_defender.tasks.write_rails import (  # noqa: F401  installs the rails: every
    check_rails,  # write of a process that uses the tasks passes them (tasks.write_rails)
)

__all__ = [
    "DefenderCredentialsLike",
    "DefenderTask",
    "calls_endpoints",
    "defender_client",
    "defender_task",
    "forwarded",
    "task_logger",
]

if TYPE_CHECKING:
    from typing import Unpack

    from prefect.tasks import OneOrManyFutureOrResult, TaskOptions

P = ParamSpec("P")
T = TypeVar("T")

#: what a task's ``credentials`` takes: any credential block (``blocks.CREDENTIAL_BLOCKS``), or
#: a client already open for one tenant (a playbook's ``tasks.scope.TenantScope.client``)
DefenderCredentialsLike = DefenderCredentials | DefenderClient


def _in_async_context() -> bool:
    """True in an async task or flow run, or on a running event loop (public Prefect API)."""
    try:
        ctx = get_run_context()
    except MissingContextError:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True
    parent = getattr(ctx, "task", None) or getattr(ctx, "flow", None)
    return bool(getattr(parent, "isasync", True))


class DefenderTask(Task[P, Coroutine[Any, Any, T]]):
    """A Prefect task over an async function that can also be called from sync code.

    ``DefenderTask[P, T]`` is the task of an ``async def`` with parameters ``P`` returning ``T``.
    Calls are checked against ``P`` by any type checker. What a call returns depends on where it
    is made (a coroutine in an async flow, ``T`` in a sync one), which a signature cannot say:
    it is declared ``Any``, and mypy with the plugin ``prefect_defender.tasks.mypy_plugin``
    reads it as ``Coroutine[Any, Any, T]`` inside an ``async def`` and ``T`` elsewhere.
    ``.submit`` gives a ``PrefectFuture[T]``, ``.map`` a ``PrefectFutureList[T]``, ``.fn`` is
    the ``async def`` itself and ``with_options`` keeps the task's type.
    """

    @overload  # type: ignore[override]
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...
    @overload
    def __call__(
        self,
        *args: Any,
        return_state: Literal[True],
        wait_for: OneOrManyFutureOrResult[Any] | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, State[T]]: ...
    @overload
    def __call__(
        self, *args: Any, wait_for: OneOrManyFutureOrResult[Any], **kwargs: Any
    ) -> Any: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("return_state") or _in_async_context():
            return super().__call__(*args, **kwargs)
        if FlowRunContext.get() is not None:
            return self.submit(*args, **kwargs).result()
        return run_coro_as_sync(super().__call__(*args, **kwargs))

    @overload  # type: ignore[override]
    def submit(self, *args: P.args, **kwargs: P.kwargs) -> PrefectFuture[T]: ...
    @overload
    def submit(
        self,
        *args: Any,
        return_state: Literal[True],
        wait_for: OneOrManyFutureOrResult[Any] | None = None,
        **kwargs: Any,
    ) -> State[T]: ...
    @overload
    def submit(
        self, *args: Any, wait_for: OneOrManyFutureOrResult[Any], **kwargs: Any
    ) -> PrefectFuture[T]: ...
    def submit(self, *args: Any, **kwargs: Any) -> Any:
        return super().submit(*args, **kwargs)

    @overload  # type: ignore[override]
    def map(self, *args: Any, return_state: Literal[True], **kwargs: Any) -> list[State[T]]: ...
    @overload
    def map(self, *args: Any, **kwargs: Any) -> PrefectFutureList[T]: ...
    def map(self, *args: Any, **kwargs: Any) -> Any:
        return super().map(*args, **kwargs)

    def with_options(self, **options: Unpack[TaskOptions]) -> DefenderTask[P, T]:  # type: ignore[override]
        new: Any = super().with_options(**cast(Any, options))
        new.__class__ = DefenderTask
        new.defender_endpoints = getattr(self, "defender_endpoints", ())
        new.defender_generic = getattr(self, "defender_generic", False)
        return cast("DefenderTask[P, T]", new)


F = TypeVar("F", bound=Callable[..., Any])


def calls_endpoints(*names: str) -> Callable[[F], F]:
    """Declare the catalog endpoints a plain function calls on a client it is given (a task's
    body run without a task run per item), so that the reading of a playbook's endpoints
    (``tasks.playbook_endpoints``: readiness report, permission docs, kill-switch tests) sees them.

    Example:
        >>> @calls_endpoints("graph.hunting.run")
        ... async def count_devices(client): ...
        >>> count_devices.defender_endpoints
        ('graph.hunting.run',)
    """
    for name in names:
        endpoint(name)  # fail at import time on a typo

    def mark(fn: F) -> F:
        fn.defender_endpoints = names  # type: ignore[attr-defined]
        return fn

    return mark


@overload
def defender_task(fn: Callable[P, Coroutine[Any, Any, T]]) -> DefenderTask[P, T]: ...
@overload
def defender_task(
    fn: None = None, *, endpoints: tuple[str, ...] = (), generic: bool = False, **options: Any
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], DefenderTask[P, T]]: ...
def defender_task(
    fn: Any = None, *, endpoints: tuple[str, ...] = (), generic: bool = False, **options: Any
) -> Any:
    """Decorate an ``async def`` as a Defender task (see the module docstring).

    ``endpoints`` names the catalog entries (``prefect_defender.api.catalog``) the task calls;
    the permission tables of docs/permissions.md are generated from them. ``generic`` marks the one
    task that calls any catalog endpoint it is given (``tasks.generic``).
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
        # the Prefect UI renders the description as Markdown: no raw Sphinx roles
        options.setdefault("description", ui_text(inspect.getdoc(f)))
        t: DefenderTask[Any, Any] = DefenderTask(fn=checked_arguments(f), **options)
        t.defender_endpoints = tuple(endpoints)  # type: ignore[attr-defined]
        t.defender_generic = generic  # type: ignore[attr-defined]
        return t

    return wrap(fn) if fn is not None else wrap


def forwarded(arguments: dict[str, Any], *leave_out: str) -> dict[str, Any]:
    """A task's arguments as keywords for the client method that takes the same names.

    ``arguments`` is the task's ``locals()`` taken as its first statement (its parameters and
    nothing else); ``credentials``, ``tenant_id`` and ``leave_out`` are left out. For the tasks
    whose filters or fields pass to the client unchanged, so that each name is written once.
    """
    skip = {"credentials", "tenant_id", *leave_out}
    return {k: v for k, v in arguments.items() if k not in skip}


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
    """Yield a client for ``credentials`` (or the given client, left open).

    A value that is not a credentials block or a client, a ``tenant_id`` that is not a GUID, or
    one the block cannot act in raises :class:`ValidationError` before anything is sent.
    """
    if isinstance(credentials, DefenderClient):
        # a playbook's shared client (``tasks.scope.TenantScope``) acts in one tenant only
        if tenant_id is not None and check_guid(tenant_id, "tenant_id").lower() != (
            credentials.tenant_id.lower()
        ):
            raise ValidationError(
                f"tenant_id: the given client acts in {credentials.tenant_id}, not {tenant_id}",
                field="tenant_id",
            )
        yield credentials
        return
    if not isinstance(credentials, CREDENTIAL_BLOCKS):
        raise ValidationError(
            "credentials: expected a Defender credentials block or a DefenderClient, got "
            f"{type(credentials).__name__}",
            field="credentials",
        )
    if tenant_id is not None:
        tenant_id = check_guid(tenant_id, "tenant_id")
    try:
        client = credentials.get_client(tenant_id)
    except ValidationError:
        raise
    except ValueError as exc:  # the block's own tenant checks
        raise ValidationError(f"tenant_id: {exc}", field="tenant_id") from None
    try:
        yield client
    finally:
        await client.aclose()


def require(condition: bool, message: str, field: str) -> None:
    """Raise a :class:`ValidationError` unless ``condition``."""
    if not condition:
        raise ValidationError(f"{field}: {message}", field=field)
