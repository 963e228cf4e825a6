"""What the Graph beta security input models share: :class:`GraphInput` (unknown fields refused,
our :class:`~prefect_defender.api.errors.ValidationError` on bad input) and the reading of Graph's
*evolvable* enumerations (:func:`check_open_choice`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.validation import check_comment
from prefect_defender.api.validation import fail as _fail

__all__ = [
    "CAMEL_WORD",
    "GraphInput",
    "check_open_choice",
    "optional_text",
]

E = TypeVar("E", bound=StrEnum)

#: a camelCase word such as Graph's enumeration values and result column names
CAMEL_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_SENTINEL = "unknownFutureValue"


def check_open_choice(value: Any, enum: type[E], field: str) -> str:
    """A Graph enum value from an *evolvable* list, as the string to send.

    A documented value matches whatever its case and is sent as documented; another
    well-formed camelCase word (Microsoft may have added it) is passed through unchanged.

    Examples:
        >>> from prefect_defender.api.models.graph_security import RemediationAction
        >>> check_open_choice("SoftDelete", RemediationAction, "action")
        'softDelete'
        >>> check_open_choice("moveToQuarantine", RemediationAction, "action")
        'moveToQuarantine'
    """
    if isinstance(value, enum):
        return value.value
    allowed = ", ".join(m.value for m in enum)
    if not isinstance(value, str):
        raise _fail(field, f"expected one of: {allowed}")
    text = value.strip()
    for member in enum:
        if member.value.lower() == text.lower():
            return member.value
    if text.lower() == _SENTINEL.lower():
        raise _fail(field, f"{_SENTINEL!r} is a sentinel and cannot be sent; use one of: {allowed}")
    if not CAMEL_WORD.match(text):
        raise _fail(field, f"{text[:60]!r} is not one of: {allowed}")
    return text


def optional_text(value: Any, field: str, max_length: int = 4000) -> str | None:
    """Free text, or ``None`` when not given."""
    return None if value is None else check_comment(value, field, max_length)


def _as_our_error(exc: PydanticValidationError, field: str) -> ValidationError:
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("InvalidInput: ")
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {msg}" if loc and not msg.startswith(loc) else msg)
    return ValidationError("; ".join(parts) or str(exc), field=field)


class GraphInput(BaseModel):
    """Base of the input models: unknown fields refused, our ValidationError on bad input."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    error_field: ClassVar[str] = "input"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise _as_our_error(exc, type(self).error_field) from None
