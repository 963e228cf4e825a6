"""Advanced hunting: XDR ``/api/advancedhunting/run``, MDE ``/api/advancedqueries/run`` and
Graph ``/security/runHuntingQuery``, answered by running the KQL with duckdb-kql.

Unlike DuckDB, Advanced Hunting resolves table and column names case-sensitively: a name that
only matches in another case is refused with 400 ``BadRequest``, as the service does.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.hunting_store import HuntingDB
from prefect_defender.emulator.hunting_tables import ERRORS, HUNTING_TABLES, MDE_TABLES
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.state import Tenant

ROW_CAP = 100_000
AH_TYPE = {
    "datetime": "DateTime",
    "string": "String",
    "long": "Int64",
    "int": "Int32",
    "real": "Double",
    "bool": "Boolean",
    "guid": "Guid",
    "timespan": "TimeSpan",
    "dynamic": "Dynamic",
    "decimal": "Decimal",
}
_STRINGS = re.compile(
    r'@"(?:[^"]|"")*"|@\'(?:[^\']|\'\')*\'|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\''
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KNOWN = {name for table, cols in HUNTING_TABLES.items() for name in (table, *(c for c, _ in cols))}
_KNOWN_LOWER: dict[str, set[str]] = {}
for _name in _KNOWN:
    _KNOWN_LOWER.setdefault(_name.lower(), set()).add(_name)
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _db(ctx: Ctx) -> HuntingDB:
    tenant: Tenant = ctx.tenant
    with ctx.state.lock:
        db = tenant.data["_hunting"].get("db")
        if db is None:
            db = tenant.data["_hunting"]["db"] = HuntingDB(ctx.state, tenant)
    assert isinstance(db, HuntingDB)
    return db


def check_names(query: str, tables: set[str]) -> None:
    """400 for a table or column name spelled in the wrong case, or a table not offered."""
    bare = _STRINGS.sub('""', query)
    for ident in set(_IDENT.findall(bare)):
        spellings = _KNOWN_LOWER.get(ident.lower())
        if spellings and ident not in spellings:
            raise ApiError(
                400,
                "BadRequest",
                f"Query execution has failed. Failed to resolve "
                f"table or column expression named '{ident}'",
            )
        if ident in HUNTING_TABLES and ident not in tables:
            raise ApiError(
                400,
                "BadRequest",
                f"Query execution has failed. Failed to resolve table expression named '{ident}'",
            )


def _fmt(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return v


async def _run(ctx: Ctx, query: Any, tables: set[str], since: datetime | None) -> dict[str, Any]:
    if not isinstance(query, str) or not query.strip():
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'Query'.")
    check_names(query, tables)
    db = _db(ctx)
    started = time.perf_counter()
    try:
        cols, types, rows = await asyncio.to_thread(
            db.run, query, tables=tables, since=since, cap=ROW_CAP
        )
    except ERRORS as exc:
        raise ApiError(400, "BadRequest", f"Query execution has failed. {exc}") from None
    return {
        "elapsed": time.perf_counter() - started,
        "schema": [(c, AH_TYPE.get(t, "String")) for c, t in zip(cols, types, strict=True)],
        "rows": [{c: _fmt(v) for c, v in zip(cols, r, strict=True)} for r in rows],
    }


async def _query_body(ctx: Ctx, allowed: set[str]) -> dict[str, Any]:
    body = await ctx.body()
    for key in body:
        if key not in allowed:
            raise ApiError(
                400, "InvalidRequestBody", f"Request body is incorrect: unknown parameter '{key}'."
            )
    return body


@api(
    "POST",
    "/api/advancedhunting/run",
    surface="xdr",
    app=("AdvancedHunting.Read.All",),
    delegated=("AdvancedHunting.Read",),
    family="hunting",
)
async def xdr_run(ctx: Ctx) -> Response:
    """Defender XDR advanced hunting."""
    body = await _query_body(ctx, {"Query"})
    out = await _run(ctx, body.get("Query"), set(HUNTING_TABLES), None)
    return JSONResponse(
        {
            "Stats": {
                "ExecutionTime": out["elapsed"],
                "resource_usage": {"cpu": {"total cpu": "00:00:00.0156250"}},
                "dataset_statistics": [{"table_row_count": len(out["rows"])}],
            },
            "Schema": [{"Name": n, "Type": t} for n, t in out["schema"]],
            "Results": out["rows"],
        }
    )


@api(
    "POST",
    "/api/advancedqueries/run",
    surface="mde",
    app=("AdvancedQuery.Read.All",),
    delegated=("AdvancedQuery.Read",),
    family="hunting",
)
async def mde_run(ctx: Ctx) -> Response:
    """Defender for Endpoint advanced hunting (Device* tables only)."""
    body = await _query_body(ctx, {"Query"})
    out = await _run(ctx, body.get("Query"), set(MDE_TABLES), None)
    return JSONResponse(
        {
            "Schema": [{"Name": n, "Type": t} for n, t in out["schema"]],
            "Results": out["rows"],
        }
    )


# The docs write the action as /security/runHuntingQuery with {"Query", "Timespan"}; the Graph
# SDKs call the namespaced form /security/microsoft.graph.security.runHuntingQuery with
# {"query", "timespan"}. Graph accepts both, so the emulator does too.
@api(
    "POST",
    "/v1.0/security/microsoft.graph.security.runHuntingQuery",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["hunting.run"],
    family="hunting",
)
@api(
    "POST",
    "/v1.0/security/runHuntingQuery",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["hunting.run"],
    family="hunting",
)
async def graph_run(ctx: Ctx) -> Response:
    """Graph runHuntingQuery with an optional ISO 8601 ``Timespan`` (default 30 days)."""
    body = await _query_body(ctx, {"Query", "Timespan", "query", "timespan"})
    if "query" in body and "Query" not in body:
        body["Query"] = body.pop("query")
    if "timespan" in body and "Timespan" not in body:
        body["Timespan"] = body.pop("timespan")
    since = None
    span = body.get("Timespan")
    if span is not None:
        m = _DURATION.match(str(span))
        if not m or not any(m.groups()):
            raise ApiError(400, "BadRequest", f"Invalid Timespan '{span}'.")
        d, h, mi, s = (int(x or 0) for x in m.groups())
        delta = timedelta(days=d, hours=h, minutes=mi, seconds=s)
        since = _db(ctx).now - min(delta, timedelta(days=30))
    out = await _run(ctx, body.get("Query"), set(HUNTING_TABLES), since)
    return JSONResponse(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security."
            "huntingQueryResults",
            "schema": [{"name": n, "type": t} for n, t in out["schema"]],
            "results": out["rows"],
        }
    )
