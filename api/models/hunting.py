"""Advanced hunting results, one shape for the three endpoints.

XDR answers ``Stats``/``Schema[{Name,Type}]``/``Results``, MDE ``Schema``/``Results`` and Graph
``schema[{name,type}]``/``results``. :class:`HuntingResult` normalises them and converts typed
columns (``DateTime`` to datetime, ``Int64``/``Int32`` to int, ``Double`` to float) on access.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from prefect_defender.api.answers import read_model, shape_error

__all__ = ["HuntingColumn", "HuntingResult", "HuntingSurface", "schema_names"]

#: Advanced Hunting returns at most this many rows (30 days of data).
MAX_ROWS = 100_000


class HuntingSurface(StrEnum):
    """Which advanced hunting endpoint runs the query."""

    GRAPH = "graph"
    XDR = "xdr"
    MDE = "mde"


class HuntingColumn(BaseModel):
    """One column of the result schema."""

    name: str
    type: str


def _columns(schema: Any, where: str) -> list[dict[str, Any]]:
    """``[{name, type}]`` of a hunting answer's schema (``Name``/``Type`` or ``name``/``type``)."""
    if not isinstance(schema, list) or not all(isinstance(c, dict) for c in schema):
        raise shape_error(where, "a hunting schema", "not a list of columns")
    return [
        {"name": c.get("Name", c.get("name")), "type": c.get("Type", c.get("type"))} for c in schema
    ]


def schema_names(schema: Any, where: str) -> list[str]:
    """The column names of a hunting answer's schema.

    Example:
        >>> schema_names([{"Name": "DeviceId", "Type": "String"}], "a query")
        ['DeviceId']
    """
    return [str(c["name"]) for c in _columns(schema, where)]


def _convert(value: Any, kind: str, column: str) -> Any:
    try:
        return _typed(value, kind)
    except (TypeError, ValueError, OverflowError):
        raise shape_error(
            "the hunting query", f"a {kind} in column {column!r}", "a value of another type"
        ) from None


def _typed(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "DateTime" and isinstance(value, str):
        text = value.rstrip("Z")
        if "." in text:
            head, frac = text.split(".", 1)
            text = f"{head}.{frac[:6]}"
        return datetime.fromisoformat(text + "+00:00")
    if kind in ("Int64", "Int32", "Long", "Int") and not isinstance(value, bool):
        return int(value)
    if kind in ("Double", "Real"):
        return float(value)
    return value


class HuntingResult(BaseModel):
    """Rows and schema of one query, whatever endpoint ran it."""

    surface: HuntingSurface
    schema_: list[HuntingColumn] = Field(default_factory=list, alias="schema")
    rows: list[dict[str, Any]] = Field(default_factory=list)
    stats: dict[str, Any] | None = None

    model_config = {"populate_by_name": True}

    @classmethod
    def from_api(cls, surface: HuntingSurface, body: Any) -> HuntingResult:
        """Normalise an endpoint's answer (a wrong shape: ``InvalidResponseError``)."""
        where = f"the {surface.value} hunting query"
        if not isinstance(body, dict):
            raise shape_error(where, "HuntingResult", f"got {type(body).__name__}")
        cols = _columns(body.get("Schema", body.get("schema")) or [], where)
        rows = body.get("Results", body.get("results")) or []
        data = {"surface": surface, "schema": cols, "rows": rows, "stats": body.get("Stats")}
        return read_model(cls, data, where)

    @property
    def columns(self) -> list[str]:
        """Column names, in order."""
        return [c.name for c in self.schema_]

    def typed_rows(self) -> Iterator[dict[str, Any]]:
        """Rows with DateTime/Int/Double columns converted to Python types."""
        kinds = {c.name: c.type for c in self.schema_}
        for row in self.rows:
            yield {k: _convert(v, kinds.get(k, "String"), k) for k, v in row.items()}

    def __len__(self) -> int:
        return len(self.rows)
