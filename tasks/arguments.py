"""The argument check every Defender task runs before it sends anything.

:func:`checked_arguments` reads the task function's signature and annotations: missing or
unknown arguments, values of the wrong type (a naive datetime, a string for a number, a string
for a list), an unknown value of a required enum, and the shared knobs of :data:`_BY_NAME`
(limits, timeouts, tenant ids, paths, bounded texts) raise ``ValidationError`` naming the
parameter. ``tasks.base.defender_task`` wraps every task function with it.
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
from typing import Any

from pydantic import BaseModel

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.validation import (
    check_choice,
    check_comment,
    check_guid,
    check_int,
    check_local_path,
    check_no_control,
    check_number,
    check_odata_filter,
)
from prefect_defender.blocks import CREDENTIAL_BLOCKS

__all__ = ["checked_arguments"]

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
    check_no_control(value, name)  # at any depth: list items, mapping keys and values, models
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


def checked_arguments(
    f: Callable[..., Awaitable[Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
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
            creds, (*CREDENTIAL_BLOCKS, DefenderClient)
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
