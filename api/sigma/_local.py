"""Checking a hunt query before it is sent: KQL syntax (duckdb-kql), the exact case of table and
column names against Defender's Advanced Hunting schema, and a run over one null row of each table
(:func:`check_query_locally`, with the schema in :class:`LocalSchema`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "DEFENDER_ONLY_FUNCTIONS",
    "KQL_STRING",
    "LocalSchema",
    "check_query_locally",
    "short_reason",
]

#: functions Defender has that the local engine (duckdb-kql) lacks: checked for syntax only
DEFENDER_ONLY_FUNCTIONS = ("ipv4_is_in_range", "ipv4_is_in_any_range", "ipv4_is_private")
#: a KQL string literal (double-quoted, backslash escapes)
KQL_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DUCK_TYPES = {
    "string": "VARCHAR",
    "datetime": "TIMESTAMP",
    "long": "BIGINT",
    "int": "INTEGER",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "real": "DOUBLE",
    "double": "DOUBLE",
    "dynamic": "VARCHAR",
}


def short_reason(exc: BaseException) -> str:
    """The first line of an error, without pySigma's list of valid fields, at most 300 chars."""
    text = str(exc).strip() or type(exc).__name__
    first = text.split("Please use valid fields", 1)[0].strip()
    first = first.split("\n", 1)[0].strip()
    if len(first) > 300:
        first = first[:297] + "..."
    return first


class LocalSchema:
    """Defender's Advanced Hunting schema (as pySigma's XDR pipeline ships it) in an in-memory
    DuckDB with one all-null row per table, so converted queries can be run before they are
    sent."""

    def __init__(self) -> None:
        from sigma.pipelines.microsoftxdr.tables import MICROSOFT_XDR_TABLES

        self.tables: dict[str, dict[str, str]] = {
            t: {c: str(info.get("data_type", "string")) for c, info in cols.items()}
            for t, cols in MICROSOFT_XDR_TABLES.items()
        }
        self.by_lower: dict[str, set[str]] = {}
        for t, cols in self.tables.items():
            for name in (t, *cols):
                self.by_lower.setdefault(name.lower(), set()).add(name)
        self._con: Any = None
        self._made: set[str] = set()

    def connection(self, tables: Iterable[str]) -> Any:
        """The DuckDB connection, with ``tables`` created (one null row each) if not yet."""
        import duckdb_kql

        if self._con is None:
            self._con = duckdb_kql.connect()
        for t in tables:
            if t in self._made or t not in self.tables:
                continue
            cols = ", ".join(
                f'"{c}" {_DUCK_TYPES.get(kind.lower(), "VARCHAR")}'
                for c, kind in self.tables[t].items()
            )
            self._con.execute(f'CREATE TABLE "{t}" ({cols})')
            # one all-null row, so that expressions are evaluated (a constant such as
            # ``where "text"`` only fails when a row reaches it)
            self._con.execute(f'INSERT INTO "{t}" DEFAULT VALUES')
            self._made.add(t)
        return self._con

    def close(self) -> None:
        """Close the connection (a later :meth:`connection` opens a new one)."""
        if self._con is not None:
            self._con.close()
            self._con = None
            self._made.clear()


def check_query_locally(query: str, schema: Any = None) -> tuple[str | None, str, list[str]]:
    """Check a hunt query before sending it: ``(problem or None, how it was checked, warnings)``.

    1. KQL syntax (``duckdb_kql.validate``);
    2. table and column names in their exact case, and the table known to Advanced Hunting;
    3. unless it calls a function the local engine lacks (``ipv4_is_in_range`` ...), a run over
       a null row of each table with Defender's columns and types (unknown columns, type
       errors such as ``where "text"``).

    Example:
        >>> check_query_locally('DeviceProcessEvents | where "mimikatz"')[0] is not None
        True
        >>> print(check_query_locally('deviceprocessevents | take 1')[0])
        name 'deviceprocessevents' must be written 'DeviceProcessEvents' (names are case-sensitive)
    """
    import duckdb
    import duckdb_kql

    own = schema is None
    local: LocalSchema = schema if schema is not None else LocalSchema()
    try:
        diags = duckdb_kql.validate(query)
        if diags:
            return f"KQL syntax: {short_reason(Exception(str(diags[0])))}", "syntax", []
        bare = KQL_STRING.sub('""', query)
        idents = _IDENT.findall(bare)
        for ident in dict.fromkeys(idents):
            spellings = local.by_lower.get(ident.lower())
            if spellings and ident not in spellings:
                right = sorted(spellings)[0]
                return (
                    f"name {ident!r} must be written {right!r} (names are case-sensitive)",
                    "syntax",
                    [],
                )
        used = [i for i in dict.fromkeys(idents) if i in local.tables]
        table = idents[0] if idents else ""
        if table not in local.tables and table != "union":
            return f"{table!r} is not an Advanced Hunting table", "syntax", []
        lacking = [f for f in DEFENDER_ONLY_FUNCTIONS if re.search(rf"\b{f}\s*\(", bare)]
        if lacking:
            return (
                None,
                "syntax",
                [f"checked for syntax only: the local engine lacks {', '.join(lacking)}"],
            )
        con = local.connection(used)
        try:
            duckdb_kql.kql(con, query, allow_write=False).fetchall()
        except duckdb_kql.KqlUnsupportedError as exc:
            if "Kusto refuses" in str(exc):  # e.g. regex lookaround: refused by both
                return short_reason(exc), "syntax", []
            return None, "syntax", [f"checked for syntax only: {short_reason(exc)}"]
        except (duckdb_kql.KqlError, duckdb.Error) as exc:
            return short_reason(exc), "schema+engine", []
        return None, "schema+engine", []
    finally:
        if own:
            local.close()
