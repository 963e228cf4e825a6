"""Checks of plain values sent to Defender: free text, choices, lists, numbers, OData filters,
durations, paths, KQL queries and whole models. Each returns the normalised value or raises
:class:`~prefect_defender.api.errors.ValidationError` naming the field; public through
:mod:`prefect_defender.api.validation`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api.errors import ValidationError

__all__ = [
    "MAX_DEPTH",
    "MAX_QUERY",
    "ascii_digits",
    "check_choice",
    "check_comment",
    "check_int",
    "check_items",
    "check_local_path",
    "check_model",
    "check_no_control",
    "check_number",
    "check_odata_filter",
    "check_query",
    "check_required_text",
    "check_timespan",
    "fail",
    "text_of",
]

E = TypeVar("E", bound=Enum)
#: control characters refused in text: C0 (tab, newline and CR allowed), DEL and C1
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: how deep :func:`check_no_control` looks into lists and mappings before it refuses
MAX_DEPTH = 32


def ascii_digits(text: str) -> bool:
    """True for a non-empty string of the ASCII digits 0-9 only (``"١٢"`` is not one, although
    ``str.isdigit`` and ``int`` take it).

    Examples:
        >>> ascii_digits("123"), ascii_digits("\u0661\u0662"), ascii_digits("")
        (True, False, False)
    """
    return text.isascii() and text.isdigit()


def check_no_control(value: Any, field: str, _depth: int = 0) -> Any:
    """``value`` unchanged when no string in it, at any depth of lists, tuples, sets, mappings
    (keys too) and pydantic models, holds a control character; else a ``ValidationError``
    naming where (``users[1]``, ``filters.name``).

    Example:
        >>> check_no_control(["jdoe", {"a": "b"}], "users")
        ['jdoe', {'a': 'b'}]
    """
    if isinstance(value, str):
        if CONTROL_CHARACTERS.search(value):
            raise fail(field, "contains control characters")
        return value
    if _depth >= MAX_DEPTH:
        raise fail(field, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            check_no_control(getattr(value, name, None), f"{field}.{name}", _depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_no_control(k, f"{field} key", _depth + 1)
            check_no_control(v, f"{field}.{k}" if isinstance(k, str) else field, _depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            check_no_control(item, f"{field}[{i}]", _depth + 1)
    return value


def fail(field: str, message: str) -> ValidationError:
    """The :class:`ValidationError` ``"{field}: {message}"``."""
    return ValidationError(f"{field}: {message}", field=field)


def text_of(value: Any, field: str) -> str:
    """``value`` stripped, when it is a string."""
    if not isinstance(value, str):
        raise fail(field, f"expected a string, got {type(value).__name__}")
    return value.strip()


def check_comment(value: Any, field: str = "comment", max_length: int = 4000) -> str:
    """Free text sent to Defender: no control characters (tab and newline allowed), bounded."""
    text = text_of(value, field)
    if CONTROL_CHARACTERS.search(text):
        raise fail(field, "contains control characters")
    if len(text) > max_length:
        raise fail(field, f"is {len(text)} characters long; at most {max_length} are allowed")
    return text


def check_choice(value: Any, enum: type[E], field: str) -> E:
    """One of ``enum``'s values (exact spelling; the API is case-sensitive)."""
    if isinstance(value, enum):
        return value
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        raise fail(field, f"{str(value)[:60]!r} is not one of: {allowed}") from None


def check_items(
    values: Any, check: Callable[[Any, str], Any], field: str, *, max_items: int | None = None
) -> list[Any]:
    """Check every element of a list (each error names its index)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise fail(field, "expected a list")
    items = list(values)
    if max_items is not None and len(items) > max_items:
        raise fail(field, f"{len(items)} items given; at most {max_items} are allowed")
    return [check(v, f"{field}[{i}]") for i, v in enumerate(items)]


def check_int(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    """An integer (booleans refused) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(field, f"expected an integer, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"from {low}" if high is None else f"from {low} to {high}"
        raise fail(field, f"{value} is out of range ({bounds})")
    return value


def check_number(
    value: Any,
    field: str,
    low: float | None = None,
    high: float | None = None,
    *,
    positive: bool = False,
) -> float:
    """A finite number (booleans refused), ``> 0`` when ``positive``, within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(field, f"expected a finite number, got {str(value)[:40]!r}")
    if positive and value <= 0:
        raise fail(field, f"{value} must be greater than 0")
    if (low is not None and value < low) or (high is not None and value > high):
        raise fail(field, f"{value} is out of range ({low} to {high})")
    return float(value)


def check_odata_filter(value: Any, field: str = "odata_filter", max_length: int = 8000) -> str:
    """A raw OData ``$filter`` expression: non-empty text, no control characters, bounded."""
    text = text_of(value, field)
    if not text:
        raise fail(field, "must not be empty (leave it unset for no filter)")
    if CONTROL_CHARACTERS.search(text):
        raise fail(field, "contains control characters")
    if len(text) > max_length:
        raise fail(field, f"is {len(text)} characters long; at most {max_length} are allowed")
    return text


_DURATION = re.compile(r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")


def check_timespan(value: Any, field: str = "timespan") -> str:
    """An ISO 8601 duration such as ``P7D`` or ``PT12H`` (Graph hunting's ``Timespan``)."""
    text = text_of(value, field)
    if not _DURATION.match(text):
        raise fail(field, f"{text[:40]!r} is not an ISO 8601 duration such as P7D or PT12H")
    return text


def check_required_text(value: Any, field: str, max_length: int = 4000) -> str:
    """Free text as :func:`check_comment` checks it, which must not be empty."""
    text = check_comment(value, field, max_length)
    if not text:
        raise fail(field, "must not be empty")
    return text


def check_local_path(value: Any, field: str = "dest") -> str:
    """A local file path to write to: non-empty, without NUL."""
    text = text_of(value, field)
    if not text or "\x00" in text:
        raise fail(field, "expected a file path")
    return text


#: the longest advanced hunting query the client sends (characters)
MAX_QUERY = 100_000


def check_query(query: Any, field: str = "query") -> str:
    """A KQL query: non-empty, bounded, no control characters other than tab and newline."""
    if not isinstance(query, str) or not query.strip():
        raise ValidationError(f"{field}: a non-empty KQL query is required", field=field)
    if len(query) > MAX_QUERY:
        raise ValidationError(f"{field}: longer than {MAX_QUERY} characters", field=field)
    if CONTROL_CHARACTERS.search(query):
        raise ValidationError(f"{field}: contains control characters", field=field)
    return query


M = TypeVar("M", bound=BaseModel)


def check_model(value: Any, model: type[M], field: str, what: str) -> M:
    """``value`` as a ``model`` (its dict form, as a Prefect parameter gives it, is read as
    one); our ``ValidationError`` naming ``field`` and the first problem otherwise.

    Example:
        >>> from pydantic import BaseModel
        >>> class Point(BaseModel):
        ...     x: int
        >>> check_model({"x": 1}, Point, "plan[0]", "a planned action")
        Point(x=1)
    """
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "value"
        raise ValidationError(
            f"{field}: not {what} ({where}: {first.get('msg', 'invalid')})", field=field
        ) from None
