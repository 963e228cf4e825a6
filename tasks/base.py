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
import collections.abc
import functools
import inspect
import re
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum, StrEnum
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
from prefect_defender.api.validation import (
    _CONTROL,
    check_choice,
    check_comment,
    check_guid,
    check_int,
    check_local_path,
    check_number,
    check_odata_filter,
)
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderManagedIdentityCredentials,
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
T = TypeVar("T")

DefenderCredentialsLike = (
    DefenderApplicationCredentials
    | DefenderUserCredentials
    | DefenderPartnerCredentials
    | DefenderManagedIdentityCredentials
)
_CREDENTIAL_TYPES = (
    DefenderApplicationCredentials,
    DefenderUserCredentials,
    DefenderPartnerCredentials,
    DefenderManagedIdentityCredentials,
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
        new.defender_generic = getattr(self, "defender_generic", False)  # type: ignore[attr-defined]
        return new  # type: ignore[return-value]


@overload
def defender_task(
    fn: Callable[P, Coroutine[Any, Any, R]],
) -> DefenderTask[P, Coroutine[Any, Any, R]]: ...
@overload
def defender_task(
    fn: None = None, *, endpoints: tuple[str, ...] = (), generic: bool = False, **options: Any
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], DefenderTask[P, Coroutine[Any, Any, R]]]: ...
def defender_task(
    fn: Any = None, *, endpoints: tuple[str, ...] = (), generic: bool = False, **options: Any
) -> Any:
    """Decorate an ``async def`` as a Defender task (see the module docstring).

    ``endpoints`` names the catalog entries (``prefect_defender.api.catalog``) the task calls;
    the README's capability/permission table is generated from them. ``generic`` marks the one
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
        t: DefenderTask[Any, Any] = DefenderTask(fn=_checked(f), **options)
        t.defender_endpoints = tuple(endpoints)  # type: ignore[attr-defined]
        t.defender_generic = generic  # type: ignore[attr-defined]
        return t

    return wrap(fn) if fn is not None else wrap


#: range and format checks for the parameter names every task module shares
_BY_NAME: dict[str, Callable[[Any, str], Any]] = {
    "limit": lambda v, f: check_int(v, f, 0),
    "concurrency": lambda v, f: check_int(v, f, 1, 100),
    "index": lambda v, f: check_int(v, f, 0),
    "lookback_days": lambda v, f: check_int(v, f, 1, 30),
    "look_back_hours": lambda v, f: check_int(v, f, 1, 720),
    "sample": lambda v, f: check_int(v, f, 1, 1000),
    "page_size": lambda v, f: check_int(v, f, 1),
    "timeout": lambda v, f: check_number(v, f, positive=True),
    "poll_interval": lambda v, f: check_number(v, f, positive=True),
    "max_interval": lambda v, f: check_number(v, f, positive=True),
    "min_cvss": lambda v, f: check_number(v, f, 0, 10),
    "odata_filter": check_odata_filter,
    "dest": check_local_path,
    "tenant_id": check_guid,
    **{
        name: lambda v, f: check_comment(v, f, 4000)
        for name in (
            "name",
            "name_startswith",
            "os_platform",
            "created_by",
            "vendor",
            "product_name",
            "service_source",
            "detection_source",
            "value",
            "category",
            "status",
            "action",
        )
    },
}


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _enum_ok(value: Any, enum: type[Enum]) -> bool:
    values = {str(m.value) for m in enum}
    if isinstance(value, enum) or (isinstance(value, str) and value in values):
        return True
    # Graph enums are also written in the PascalCase of Microsoft's examples
    return isinstance(value, str) and value[:1].lower() + value[1:] in values


def _mapping_like(plain: list[Any]) -> bool:
    """``Model | dict[str, Any]``: a pydantic model given as itself or as a mapping."""
    return bool(plain) and all(
        p is dict or (isinstance(p, type) and issubclass(p, BaseModel)) for p in plain
    )


def _takes_datetime(annotation: Any) -> bool:
    """True for ``datetime`` and ``datetime | None`` (not when a plain string is accepted too)."""
    members = (
        typing.get_args(annotation)
        if typing.get_origin(annotation)
        in (
            typing.Union,
            types.UnionType,
        )
        else (annotation,)
    )
    return datetime in members and str not in members


def _parse_datetime(name: str, value: str) -> datetime:
    """An ISO 8601 timestamp with a zone, as Defender writes them (``...T01:01:12.0000000Z``)."""
    text = value.strip()
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)", text)
    if match:  # Python reads at most 6 fractional digits; Defender writes 7
        frac = (match.group(2) or "")[:7]
        text = match.group(1) + frac[:7] + ("+00:00" if match.group(3) == "Z" else match.group(3))
        text = re.sub(r"(\.\d{6})\d", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise ValidationError(
            f"{name}: expected a timezone-aware datetime or ISO 8601 text with a zone "
            f"(2026-11-25T01:01:12Z), got {value[:40]!r}",
            field=name,
        )
    return parsed


def _check_value(name: str, value: Any, annotation: Any) -> None:
    """Type checks from the annotation: ``ValidationError`` naming ``name`` on a mismatch."""
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValidationError(f"{name}: contains control characters", field=name)
    members = _members(annotation)
    if annotation is Any or Any in members or annotation is inspect.Parameter.empty:
        return
    optional = type(None) in members
    kinds = [m for m in members if m is not type(None)]
    if value is None:
        if not optional:
            raise ValidationError(f"{name}: required (got None)", field=name)
        return
    literal = [
        v for m in kinds if typing.get_origin(m) is typing.Literal for v in typing.get_args(m)
    ]
    if literal and len(literal) == sum(len(typing.get_args(m)) for m in kinds):
        if value not in literal:
            allowed = ", ".join(map(str, literal))
            raise ValidationError(
                f"{name}: {str(value)[:40]!r} is not one of: {allowed}", field=name
            )
        return
    enums = [m for m in kinds if isinstance(m, type) and issubclass(m, Enum)]
    if enums and not optional and not _enum_ok(value, enums[0]):
        check_choice(value, enums[0], name)  # raises, listing the allowed values
    plain = [typing.get_origin(m) or m for m in kinds]
    if datetime in plain and str not in plain:
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValidationError(
                f"{name}: expected a timezone-aware datetime, got {str(value)[:40]!r}", field=name
            )
    elif plain == [int]:
        check_int(value, name)
    elif plain in ([float], [int, float], [float, int]):
        check_number(value, name)
    elif plain == [str] and not isinstance(value, str):
        raise ValidationError(f"{name}: expected a string, got {type(value).__name__}", field=name)
    elif plain and all(p in (list, collections.abc.Sequence) for p in plain):
        if isinstance(value, str | bytes | dict) or not isinstance(value, list | tuple):
            raise ValidationError(
                f"{name}: expected a list, got {type(value).__name__}", field=name
            )
    elif _mapping_like(plain) and not isinstance(
        value, tuple(p for p in plain if isinstance(p, type))
    ):
        raise ValidationError(f"{name}: expected a mapping, got {type(value).__name__}", field=name)


def _checked(f: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``f`` with its arguments checked against its signature before it runs.

    Missing or unknown arguments, values of the wrong type (a naive datetime, a string for a
    number, a string for a list), an unknown value of a required enum and the shared knobs of
    :data:`_BY_NAME` raise :class:`ValidationError` naming the parameter: nothing is sent.
    """
    sig = inspect.signature(f)
    hints: dict[str, Any] = {}

    @functools.wraps(f)
    async def checked(*args: Any, **kwargs: Any) -> Any:
        if not hints:
            try:
                hints.update(typing.get_type_hints(f))
            except Exception:  # unresolvable annotations: leave them to the task
                hints["return"] = None
        try:
            bound = sig.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise ValidationError(f"{f.__name__}: {exc}") from None
        creds = bound.arguments.get("credentials")
        if "credentials" in sig.parameters and not isinstance(
            creds, (*_CREDENTIAL_TYPES, DefenderClient)
        ):
            raise ValidationError(
                "credentials: expected a Defender credentials block or a DefenderClient, got "
                f"{type(creds).__name__}",
                field="credentials",
            )
        for name, param in sig.parameters.items():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL) or name == "credentials":
                continue
            if name not in bound.arguments:
                if param.default is param.empty:
                    raise ValidationError(f"{name}: required", field=name)
                continue
            value = bound.arguments[name]
            if isinstance(value, str) and _takes_datetime(hints.get(name, param.empty)):
                value = bound.arguments[name] = _parse_datetime(name, value)
            _check_value(name, value, hints.get(name, param.empty))
            if name in _BY_NAME and value is not None:
                _BY_NAME[name](value, name)
        return await f(*bound.args, **bound.kwargs)

    return checked


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
    if not isinstance(credentials, _CREDENTIAL_TYPES):
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


def require(condition: bool, message: str, field: str) -> None:
    """Raise a :class:`ValidationError` unless ``condition``."""
    if not condition:
        raise ValidationError(f"{field}: {message}", field=field)
