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

__all__ = ["HuntingColumn", "HuntingResult", "HuntingSurface"]

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


def _convert(value: Any, kind: str) -> Any:
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
    def from_api(cls, surface: HuntingSurface, body: dict[str, Any]) -> HuntingResult:
        """Normalise an endpoint's answer."""
        schema = body.get("Schema", body.get("schema")) or []
        cols = [
            HuntingColumn(name=c.get("Name", c.get("name")), type=c.get("Type", c.get("type")))
            for c in schema
        ]
        rows = body.get("Results", body.get("results")) or []
        return cls(surface=surface, schema=cols, rows=rows, stats=body.get("Stats"))

    @property
    def columns(self) -> list[str]:
        """Column names, in order."""
        return [c.name for c in self.schema_]

    def typed_rows(self) -> Iterator[dict[str, Any]]:
        """Rows with DateTime/Int/Double columns converted to Python types."""
        kinds = {c.name: c.type for c in self.schema_}
        for row in self.rows:
            yield {k: _convert(v, kinds.get(k, "String")) for k, v in row.items()}

    def __len__(self) -> int:
        return len(self.rows)
