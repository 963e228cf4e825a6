"""The argument check every Defender task runs before it sends anything.

:func:`checked_arguments` reads the task function's annotations once, when the task is
decorated, and makes one check per parameter from its type: missing or unknown arguments,
values of the wrong shape (a naive datetime, a string for a number, a string for a list), an
unknown value of a required enum or a Literal, and the check an input type of
``api.input_types`` carries (``MachineId``, ``TenantId``, ``Limit`` ...) raise
``ValidationError`` naming the parameter. ``tasks.base.defender_task`` wraps every task
function with it. :func:`checked_parameters` does the same for a playbook's parameters of an
input type, on entry (Prefect has checked their base types before the run).
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, ParamSpec, TypeVar

from pydantic import BaseModel

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import Check, check_of
from prefect_defender.api.validation import (
    check_choice,
    check_int,
    check_no_control,
    check_number,
)
from prefect_defender.blocks import CREDENTIAL_BLOCKS

__all__ = ["checked_arguments", "checked_parameters", "parameter_check"]

#: ``check(name, value)``: raises ``ValidationError`` naming ``name``, or returns the value
ParamCheck = Callable[[str, Any], Any]
_NONE = type(None)
P = ParamSpec("P")
R = TypeVar("R")


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _bare(annotation: Any) -> Any:
    """``Annotated[X, ...]`` as ``X``."""
    return (
        typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation
    )


def _enum_ok(value: Any, enum: type[Enum]) -> bool:
    values = {str(m.value) for m in enum}
    if isinstance(value, enum) or (isinstance(value, str) and value in values):
        return True
    # Graph enums are also written in the PascalCase of Microsoft's examples
    return isinstance(value, str) and value[:1].lower() + value[1:] in values


def _fail(name: str, message: str) -> ValidationError:
    return ValidationError(f"{name}: {message}", field=name)


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
        raise _fail(
            name,
            "expected a timezone-aware datetime or ISO 8601 text with a zone "
            f"(2026-11-25T01:01:12Z), got {value[:40]!r}",
        )
    return parsed


# -- one shape check per kind of annotation ------------------------------------------------------
def _literal(values: list[Any]) -> ParamCheck:
    def check(name: str, value: Any) -> None:
        if value not in values:
            allowed = ", ".join(map(str, values))
            raise _fail(name, f"{str(value)[:40]!r} is not one of: {allowed}")

    return check


def _aware_datetime(name: str, value: Any) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise _fail(name, f"expected a timezone-aware datetime, got {str(value)[:40]!r}")


def _string(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise _fail(name, f"expected a string, got {type(value).__name__}")


def _sequence(name: str, value: Any) -> None:
    if isinstance(value, str | bytes | dict) or not isinstance(value, list | tuple):
        raise _fail(name, f"expected a list, got {type(value).__name__}")


def _mapping(accepted: tuple[type, ...]) -> ParamCheck:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, accepted):
            raise _fail(name, f"expected a mapping, got {type(value).__name__}")

    return check


def _is_mapping_like(plain: list[Any]) -> bool:
    """``Model | dict[str, Any]``: a pydantic model given as itself or as a mapping."""
    return bool(plain) and all(
        p is dict or (isinstance(p, type) and issubclass(p, BaseModel)) for p in plain
    )


def _shape(kinds: list[Any], optional: bool) -> list[ParamCheck]:
    """The shape checks of a (non-None) value of the union ``kinds``."""
    literal = [
        v for m in kinds if typing.get_origin(m) is typing.Literal for v in typing.get_args(m)
    ]
    if literal and len(literal) == sum(len(typing.get_args(m)) for m in kinds):
        return [_literal(literal)]
    out: list[ParamCheck] = []
    enums = [m for m in kinds if isinstance(m, type) and issubclass(m, Enum)]
    plain = [typing.get_origin(m) or m for m in kinds]
    if enums and not optional:
        enum = enums[0]
        out.append(lambda n, v: None if _enum_ok(v, enum) else check_choice(v, enum, n))
    if datetime in plain and str not in plain:
        out.append(_aware_datetime)
    elif plain == [int]:
        out.append(lambda n, v: check_int(v, n))
    elif plain in ([float], [int, float], [float, int]):
        out.append(lambda n, v: check_number(v, n))
    elif plain == [str]:
        out.append(_string)
    elif plain and all(p in (list, collections.abc.Sequence) for p in plain):
        out.append(_sequence)
    elif _is_mapping_like(plain):
        out.append(_mapping(tuple(p for p in plain if isinstance(p, type))))
    return out


def _item_check(kinds: list[Any]) -> Check | None:
    """The check of a list's items (``list[MachineId]``)."""
    if len(kinds) == 1 and typing.get_origin(kinds[0]) in (list, collections.abc.Sequence):
        args = typing.get_args(kinds[0])
        return check_of(args[0]) if args else None
    return None


def parameter_check(annotation: Any) -> ParamCheck:
    """The check of a parameter annotated ``annotation``, made once.

    Control characters are refused at any depth; ``None`` only when the type allows it; then the
    shape (:func:`_shape`), then the check of the input type, if any, on the value or on each
    item of a list (``machine_ids[2]``).

    Example:
        >>> from prefect_defender.api.input_types import Limit
        >>> try:
        ...     parameter_check(Limit | None)("limit", -1)
        ... except ValueError as exc:
        ...     print(exc)
        InvalidInput: limit: -1 is out of range (from 0)
    """
    if annotation is Any or annotation is inspect.Parameter.empty:
        return lambda name, value: check_no_control(value, name)
    members = _members(annotation)
    if Any in members:
        return lambda name, value: check_no_control(value, name)
    optional = _NONE in members
    kinds = [m for m in members if m is not _NONE]
    own = check_of(kinds[0]) if len(kinds) == 1 else None
    bare = [m for k in kinds for m in _members(_bare(k))]
    items = _item_check(bare)
    shape = _shape(bare, optional)
    takes_text_time = datetime in kinds and str not in kinds

    def check(name: str, value: Any) -> Any:
        if takes_text_time and isinstance(value, str):
            value = _parse_datetime(name, value)
        check_no_control(value, name)  # at any depth: list items, mapping keys and values
        if value is None:
            if not optional:
                raise _fail(name, "required (got None)")
            return None
        for step in shape:
            step(name, value)
        return _typed(own, items, name, value, optional)

    return check


def _typed(own: Check | None, items: Check | None, name: str, value: Any, optional: bool) -> Any:
    """The check of the input type (``own``) on ``value``, or of its items' type on each item
    (``machine_ids[2]``); what the callee gets."""
    if optional and own is not None and own.empty_is_unset and not value:
        return value  # "" or 0: not given
    if own is not None:
        value = own(value, name)
    if items is not None:
        checked = [items(v, f"{name}[{i}]") for i, v in enumerate(value)]
        value = checked if items.passes_checked else value
    return value


def _hints(f: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(f, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"{f.__module__}.{f.__qualname__}: a parameter's type is not defined when the task "
            f"is ({exc}); define or import it before the task"
        ) from None


def checked_arguments(
    f: Callable[..., Awaitable[Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """``f`` with its arguments checked against its signature before it runs.

    The annotations are read here, once: each parameter gets the check of its type
    (:func:`parameter_check`). Missing or unknown arguments and values that fail their check
    raise :class:`ValidationError` naming the parameter: nothing is sent.
    """
    sig = inspect.signature(f)
    hints = _hints(f)
    checks = {
        name: parameter_check(hints.get(name, param.empty))
        for name, param in sig.parameters.items()
        if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and name != "credentials"
    }
    required = {n for n, p in sig.parameters.items() if n in checks and p.default is p.empty}

    @functools.wraps(f)
    async def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = sig.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise ValidationError(f"{f.__name__}: {exc}") from None
        if "credentials" in sig.parameters:
            _check_credentials(bound.arguments.get("credentials"))
        for name, check in checks.items():
            if name in bound.arguments:
                bound.arguments[name] = check(name, bound.arguments[name])
            elif name in required:
                raise _fail(name, "required")
        return await f(*bound.args, **bound.kwargs)

    return checked


def _check_credentials(creds: Any) -> None:
    if not isinstance(creds, (*CREDENTIAL_BLOCKS, DefenderClient)):
        raise ValidationError(
            "credentials: expected a Defender credentials block or a DefenderClient, got "
            f"{type(creds).__name__}",
            field="credentials",
        )


def _entry_check(annotation: Any) -> ParamCheck | None:
    """The check a playbook parameter's input type carries, for a value of its base type (the
    type's check on the value or on each list item); ``None`` for a type without one. An empty
    value means "not given" for types that say so; a value of another type is left to the
    playbook, which names it."""
    kinds = [m for m in _members(annotation) if m is not _NONE]
    own = check_of(kinds[0]) if len(kinds) == 1 else None
    bare = [m for k in kinds for m in _members(_bare(k))]
    items = _item_check(bare)
    if own is None and items is None:
        return None
    base = tuple({b for m in bare if isinstance(b := typing.get_origin(m) or m, type)})

    def check(name: str, value: Any) -> Any:
        if value is None or (base and not isinstance(value, base)):
            return value
        return _typed(own, items, name, value, optional=True)

    return check


def checked_parameters(
    f: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """A playbook (flow function) whose parameters of an input type are checked on entry.

    Prefect validates a flow parameter's base type before the run; this adds the check the
    parameter's input type carries (``MachineId``, ``TenantId`` ...), read once here, so a bad
    id is refused before the playbook does anything. The signature (and so the parameter schema
    Prefect shows) is the function's own.

    Example:
        >>> from prefect_defender.api.input_types import MachineId
        >>> @checked_parameters
        ... async def playbook(machine_ids: list[MachineId] | None = None) -> int:
        ...     return len(machine_ids or [])
        >>> import asyncio
        >>> asyncio.run(playbook(["a" * 40]))
        1
    """
    sig = inspect.signature(f)
    hints = _hints(f)
    checks = {n: c for n in sig.parameters if (c := _entry_check(hints.get(n, Any))) is not None}

    @functools.wraps(f)
    async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = sig.bind(*args, **kwargs)
        for name, check in checks.items():
            if name in bound.arguments:
                bound.arguments[name] = check(name, bound.arguments[name])
        return await f(*bound.args, **bound.kwargs)

    # the types resolved, so that Prefect reads them without the flow module's namespace
    checked.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(annotation=hints.get(n, p.annotation)) for n, p in sig.parameters.items()
        ],
        return_annotation=hints.get("return", sig.return_annotation),
    )
    return checked
