"""The hunting tool: one KQL query on Graph ``runHuntingQuery``, read-only by construction.

* Only a query is accepted: ``let`` statements and one tabular expression. A management command
  (a statement starting with ``.``), another kind of statement, or an operator that reaches out
  of the hunting data (``externaldata``, ``http_request``, SQL/Cosmos plugins, ``cluster()``) is
  refused before anything is sent.
* The policy's row cap is appended as ``| take`` (a little more is fetched, so that what is
  left out can be summarised); the call has the policy's time limit and the query a ``Timespan``.
* The answer is bounded: at most the policy's rows, every cell cut to 500 characters, and a
  per-column summary (distinct values, the most frequent ones) when rows were left out.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from prefect_defender.agents.read_tools import Tenant
from prefect_defender.agents.runtime import answers_errors, runtime_of
from prefect_defender.agents.schemas import ColumnSummary, HuntingResultOut, bounded
from prefect_defender.api.models.hunting import HuntingSurface
from prefect_defender.tasks.hunting import run_hunting_query as hunting_task

__all__ = ["read_only_query", "run_hunting_query"]

#: operators and plugins that read from outside the hunting tables (or send data out)
_OUTSIDE = re.compile(
    r"\b(externaldata|external_table|http_request|http_request_post|sql_request|"
    r"cosmosdb_sql_request|mysql_request|postgresql_request|azure_digital_twins_query_request|"
    r"cluster|database)\s*[(\[]",
    re.IGNORECASE,
)
#: a string literal or a comment, whichever starts first (a quote in a comment starts nothing;
#: '//' in a string is no comment)
_STRING_OR_COMMENT = re.compile(
    r'(@"(?:[^"]|"")*"|@\'(?:[^\']|\'\')*\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')'
    r"|//[^\n]*"
)
CELL = 500


def _code_only(query: str) -> str:
    """The query with string literals emptied and comments removed (what is left is code)."""
    if "```" in query:
        raise ToolError("refused: multi-line ``` strings are not accepted")
    return _STRING_OR_COMMENT.sub(lambda m: '""' if m.group(1) else " ", query)


def read_only_query(query: str, take: int) -> str:
    """``query`` with ``| take`` appended, or a :class:`ToolError` when it is not only a query.

    Examples:
        >>> read_only_query("DeviceInfo | project DeviceName", 10)
        'DeviceInfo | project DeviceName\\n| take 10'
    """
    code = _code_only(query)
    statements = [s.strip() for s in code.split(";")]
    if statements and not statements[-1]:
        statements.pop()  # a trailing semicolon
    if not statements or not statements[-1]:
        raise ToolError("refused: the query is empty")
    if any(s.startswith(".") for s in statements) or re.search(r"(^|\|)\s*\.", code, re.M):
        raise ToolError("refused: management commands (a statement starting with '.')")
    for s in statements[:-1]:
        if not re.match(r"let\s", s):
            raise ToolError("refused: only 'let' statements may come before the query")
    if re.match(r"(let|set|alias|declare|restrict)\b", statements[-1]):
        raise ToolError("refused: the last statement must be a tabular query")
    outside = _OUTSIDE.search(code)
    if outside:
        raise ToolError(f"refused: {outside.group(1)!r} reads outside the hunting data")
    return f"{query.rstrip().rstrip(';').rstrip()}\n| take {take}"


def _cell(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str) and len(value) > CELL:
        return value[: CELL - 1] + "…", True
    if isinstance(value, dict | list):
        text = str(value)
        if len(text) > CELL:
            return text[: CELL - 1] + "…", True
    return value, False


def _summary(columns: list[str], rows: list[dict[str, Any]]) -> list[ColumnSummary]:
    out = []
    for col in columns[:30]:
        counts = Counter(bounded(r.get(col), 100) or "" for r in rows)
        out.append(ColumnSummary(column=col, distinct=len(counts), top=counts.most_common(5)))
    return out


@answers_errors
async def run_hunting_query(
    ctx: Context,
    query: Annotated[
        str,
        Field(
            min_length=1,
            max_length=10_000,
            description="A KQL query over the advanced hunting tables (DeviceProcessEvents, "
            "DeviceNetworkEvents, EmailEvents, AlertInfo ...): 'let' statements and one tabular "
            "expression; no management commands, no external data.",
        ),
    ],
    tenant: Tenant = None,
    max_rows: Annotated[
        int, Field(ge=1, le=10_000, description="At most this many rows (the policy may cap).")
    ] = 50,
    timespan_days: Annotated[
        int, Field(ge=1, le=30, description="Look back this many days (1-30).")
    ] = 7,
) -> HuntingResultOut:
    """Run an advanced hunting query (Microsoft Graph runHuntingQuery) and get its rows.
    Read-only: anything that is not a query is refused. Rows are capped by the policy; when
    rows are left out, a per-column summary of the fetched rows is returned instead."""
    runtime = runtime_of(ctx)
    rows_cap = min(max_rows, runtime.policy.max_hunting_rows)
    fetch = min(max(rows_cap * 5, rows_cap + 1), 10_001)
    text = read_only_query(query, fetch)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    span = f"P{timespan_days}D"
    try:
        result = await asyncio.wait_for(
            hunting_task.fn(client, text, surface=HuntingSurface.GRAPH, timespan=span),
            timeout=runtime.policy.hunting_timeout_seconds,
        )
    except TimeoutError:
        raise ToolError(
            f"the query ran longer than {runtime.policy.hunting_timeout_seconds:g} s and was "
            "abandoned; narrow it"
        ) from None
    kept, cut = [], False
    for row in result.rows[:rows_cap]:
        cells = {str(k)[:200]: _cell(v) for k, v in list(row.items())[:100]}
        cut = cut or any(c for _, c in cells.values())
        kept.append({k: v for k, (v, _) in cells.items()})
    left_out = len(result.rows) > rows_cap
    return HuntingResultOut(
        tenant_id=scope.tenant,
        columns=result.columns,
        rows=kept,
        rows_returned=len(kept),
        rows_fetched=len(result.rows),
        truncated=left_out or cut,
        summary=_summary(result.columns, result.rows) if left_out else [],
    )
