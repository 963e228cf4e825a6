"""Building OData ``$filter`` expressions safely.

Values are never pasted raw: strings are quoted with single quotes doubled (OData's escape),
datetimes are rendered as UTC ``2024-01-01T00:00:00Z`` literals, and property names are checked
against the names the endpoint documents as filterable (case-sensitive, like the API).

Examples:
    >>> f = ODataFilter({"status", "lastUpdateTime"})
    >>> f.and_(f.eq("status", "Active"), f.ge("lastUpdateTime", datetime(2024, 1, 1, tzinfo=UTC)))
    "(status eq 'Active') and (lastUpdateTime ge 2024-01-01T00:00:00Z)"
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum

from prefect_defender.api.errors import ValidationError

__all__ = ["ODataFilter", "literal"]

Value = str | int | float | bool | datetime | Enum


def literal(value: Value) -> str:
    """An OData literal for ``value``."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError("datetimes in filters must be timezone-aware", field="filter")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str):
        if any(ord(c) < 32 for c in value):
            raise ValidationError(
                "filter values must not contain control characters", field="filter"
            )
        return "'" + value.replace("'", "''") + "'"
    raise ValidationError(f"unsupported filter value type {type(value).__name__}", field="filter")


class ODataFilter:
    """Builds filters over an allow-list of property names."""

    def __init__(self, properties: Iterable[str]) -> None:
        self.properties = frozenset(properties)

    def _prop(self, name: str) -> str:
        if name not in self.properties:
            known = ", ".join(sorted(self.properties))
            raise ValidationError(
                f"{name!r} is not filterable here; use one of: {known}", field="filter"
            )
        return name

    def _cmp(self, op: str, name: str, value: Value) -> str:
        return f"{self._prop(name)} {op} {literal(value)}"

    def eq(self, name: str, value: Value) -> str:
        """``name eq value``."""
        return self._cmp("eq", name, value)

    def ne(self, name: str, value: Value) -> str:
        """``name ne value``."""
        return self._cmp("ne", name, value)

    def ge(self, name: str, value: Value) -> str:
        """``name ge value``."""
        return self._cmp("ge", name, value)

    def gt(self, name: str, value: Value) -> str:
        """``name gt value``."""
        return self._cmp("gt", name, value)

    def le(self, name: str, value: Value) -> str:
        """``name le value``."""
        return self._cmp("le", name, value)

    def lt(self, name: str, value: Value) -> str:
        """``name lt value``."""
        return self._cmp("lt", name, value)

    def in_(self, name: str, values: Iterable[Value]) -> str:
        """``name in ('a', 'b')``; written as ``or`` of ``eq`` for older OData parsers."""
        parts = [self.eq(name, v) for v in values]
        if not parts:
            raise ValidationError(f"empty value list for {name!r}", field="filter")
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"

    def any_eq(self, name: str, value: Value) -> str:
        """``name/any(x: x eq value)`` for string collections such as ``machineTags``."""
        return f"{self._prop(name)}/any(x: x eq {literal(value)})"

    def window(self, name: str, since: datetime | None, before: datetime | None) -> str | None:
        """``name ge since and name lt before`` (either bound optional; aware datetimes only)."""
        if since is not None and before is not None and since >= before:
            raise ValidationError(f"{name}: the window's start must be before its end", field=name)
        return self.and_(
            self.ge(name, since) if since is not None else None,
            self.lt(name, before) if before is not None else None,
        )

    def startswith(self, name: str, value: str) -> str:
        """``startswith(name, value)``."""
        return f"startswith({self._prop(name)}, {literal(value)})"

    @staticmethod
    def and_(*parts: str | None) -> str:
        """Join the non-empty parts with ``and`` (each parenthesised)."""
        kept = [p for p in parts if p]
        return " and ".join(f"({p})" for p in kept) if len(kept) > 1 else (kept[0] if kept else "")
