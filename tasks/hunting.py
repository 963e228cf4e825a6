"""Tasks for advanced hunting: run a query, a batch of queries, IOC hunts, export to a file.

Every task runs on Graph ``runHuntingQuery`` unless asked otherwise: ``surface="xdr"`` or
``"mde"``, or a credentials block whose ``hunting_surface`` says so. Both are retiring with their
APIs on 1 February 2027 (Message Center MC1220762) and log one warning per process.

Never paste raw values into KQL: use :func:`hunt_ioc` (the safe IOC builder) or
``prefect_defender.api.kql.kql_string`` for your own queries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.input_types import (
    Concurrency,
    IocValues,
    KqlQueries,
    KqlQuery,
    LocalPath,
    LookbackDays,
    TenantId,
    Timespan,
)
from prefect_defender.api.kql import IocQuery
from prefect_defender.api.models.hunting import HuntingResult, HuntingSurface, schema_names
from prefect_defender.api.validation import MAX_QUERY, check_timespan
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus

__all__ = [
    "export_hunting_result",
    "hunt_ioc",
    "run_hunting_queries",
    "run_hunting_query",
]

_ENDPOINTS = ("graph.hunting.run", "xdr.hunting.run", "mde.hunting.run")


@defender_task(endpoints=_ENDPOINTS)
async def run_hunting_query(
    credentials: DefenderCredentialsLike,
    query: KqlQuery,
    surface: HuntingSurface | str | None = None,
    timespan: Timespan | None = None,
    tenant_id: TenantId | None = None,
) -> HuntingResult:
    """Run one advanced hunting query (Graph by default; ``xdr``/``mde`` only when asked).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.hunting import run_hunting_query

        @flow
        async def encoded_powershell() -> int:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            result = await run_hunting_query(
                creds, 'DeviceProcessEvents | where ProcessCommandLine has "-enc"', timespan="P7D")
            return len(result)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        result = await client.hunting.run(query, surface=surface, timespan=timespan)
    task_logger().info("hunting query returned %d row(s)", len(result))
    return result


@defender_task(endpoints=_ENDPOINTS)
async def run_hunting_queries(
    credentials: DefenderCredentialsLike,
    queries: KqlQueries,
    surface: HuntingSurface | str | None = None,
    timespan: Timespan | None = None,
    concurrency: Concurrency = 4,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Run named queries; one outcome per query (a bad query does not stop the others).

    Example:
        ```python
        outcomes = await run_hunting_queries(creds, {
            "c2": 'DeviceNetworkEvents | where RemoteIP == "203.0.113.66"',
            "logons": "DeviceLogonEvents | summarize count() by AccountName"})
        ```
    """
    names = list(queries)
    if timespan is not None:
        check_timespan(timespan)
    async with defender_client(credentials, tenant_id) as client:
        kind = client.hunting.surface(surface)
        if timespan is not None and kind is not HuntingSurface.GRAPH:
            # shared by every query: refused once, before anything is sent
            raise ValidationError(
                "timespan: only the Graph endpoint takes a Timespan", field="timespan"
            )
        results = await client.hunting.run_many(
            [queries[n] for n in names],
            surface=kind,
            timespan=timespan,
            concurrency=concurrency,
        )
    out = []
    for name, res in zip(names, results, strict=True):
        if isinstance(res, DefenderError):
            out.append(
                ItemOutcome(
                    item=name, status=OutcomeStatus.FAILED, error=res.to_dict(), reason=str(res)
                )
            )
        else:
            out.append(
                ItemOutcome(
                    item=name,
                    status=OutcomeStatus.SUCCEEDED,
                    result=res.model_dump(mode="json", by_alias=True),
                )
            )
    return out


@defender_task(endpoints=_ENDPOINTS)
async def hunt_ioc(
    credentials: DefenderCredentialsLike,
    kind: Literal["hash", "ip", "domain", "url", "account"],
    values: IocValues,
    lookback_days: LookbackDays = 30,
    surface: HuntingSurface | str | None = None,
    tenant_id: TenantId | None = None,
) -> list[dict[str, Any]]:
    """Devices where indicators were seen, via the safe query builder.

    Returns one row per device: ``DeviceId``, ``DeviceName``, ``FirstSeen``, ``LastSeen``,
    ``Hits``. Values are validated (hash lengths, IP syntax, domains, URLs, SAM names) and
    escaped before the query is built; an invalid value sends nothing.

    Example:
        ```python
        devices = await hunt_ioc(creds, "ip", ["203.0.113.66"], lookback_days=7)
        ```
    """
    builders = {
        "hash": IocQuery.for_hashes,
        "ip": IocQuery.for_ip,
        "domain": IocQuery.for_domain,
        "url": IocQuery.for_url,
        "account": IocQuery.for_account,
    }
    if kind not in builders:
        raise ValidationError(f"kind: one of {', '.join(builders)}", field="kind")
    try:
        query = builders[kind](values, lookback_days)
    except ValidationError as exc:
        if exc.field == "lookback_days":
            raise
        raise ValidationError(f"values: {exc.message}", field="values") from None
    if len(query.text) > MAX_QUERY:
        raise ValidationError(
            f"values: {len(query.values)} values make a query longer than {MAX_QUERY} "
            "characters; hunt them in smaller lists",
            field="values",
        )
    async with defender_client(credentials, tenant_id) as client:
        result = await client.hunting.run(query.text, surface=surface)
    rows = list(result.typed_rows())
    task_logger().info("%s hunt over %d value(s): %d device(s)", kind, len(query.values), len(rows))
    return rows


#: a spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: characters a spreadsheet may split a line on (by locale or by the user's choice): a cell
#: holding one is quoted, and a formula start after one is neutralised too
SEPARATORS = (",", ";", "\t", "\r", "\n")
_AFTER_SEPARATOR = re.compile(r"([,;\t\r\n] *)(?=[=+\-@\t\r])")


def neutralise_cell(value: Any) -> Any:
    """``value`` for a CSV cell: a text a spreadsheet would run as a formula gets a leading
    ``'``, at its start and after every separator (``,`` ``;`` tab, line breaks), since a
    spreadsheet splitting on ``;`` starts a cell there (numbers, booleans and other texts are
    unchanged).

    Examples:
        >>> print(neutralise_cell('=HYPERLINK("https://evil.example")'))
        '=HYPERLINK("https://evil.example")
        >>> print(neutralise_cell("svchost.exe;=cmd|' /C calc'!A0"))
        svchost.exe;'=cmd|' /C calc'!A0
        >>> neutralise_cell(-5), neutralise_cell("svchost.exe")
        (-5, 'svchost.exe')
    """
    if not isinstance(value, str):
        return value
    text = _AFTER_SEPARATOR.sub(r"\1'", value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_line(cells: Iterable[Any]) -> str:
    """One CSV line (RFC 4180, CRLF): a cell holding a separator of any locale (``,`` ``;``
    tab, line breaks), a quote or edge spaces is quoted, so no spreadsheet splits it; ``None``
    is an empty cell.

    Example:
        >>> print(csv_line(["a;b", 1, None, 'a "b" c', "plain"]).rstrip())
        "a;b",1,,"a ""b"" c",plain
    """
    out = []
    for cell in cells:
        text = "" if cell is None else str(cell)
        if any(c in text for c in (*SEPARATORS, '"')) or text != text.strip():
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    if out == [""]:  # a line holding one empty cell is written "" (an empty line is no row)
        out = ['""']
    return ",".join(out) + "\r\n"


@defender_task(endpoints=_ENDPOINTS)
async def export_hunting_result(
    credentials: DefenderCredentialsLike,
    query: KqlQuery,
    dest: LocalPath,
    fmt: Literal["jsonl", "csv"] = "jsonl",
    surface: HuntingSurface | str | None = None,
    timespan: Timespan | None = None,
    tenant_id: TenantId | None = None,
) -> dict[str, Any]:
    """Run a query and write its rows to ``dest`` (JSON lines or CSV) row by row.

    The answer is streamed to a temporary file next to ``dest`` and read back one row at a
    time, so memory stays flat whatever the size of the answer (100,000 rows and more); the
    temporary file is removed. Returns the path, row count, columns and bytes written. In CSV,
    a text cell (or column name) that a spreadsheet would run as a formula (starting with
    ``=``, ``+``, ``-``, ``@``, tab or CR, at its start or after a ``,`` ``;`` tab or line
    break) is written with a leading ``'`` there, and a cell holding any of those separators is
    quoted (:func:`neutralise_cell`, :func:`csv_line`); JSON lines keep the values as they are.

    Example:
        ```python
        info = await export_hunting_result(creds, "DeviceInfo", "/reports/devices.csv", "csv")
        ```
    """
    from prefect_defender.api.jsonstream import iter_object
    from prefect_defender.api.models.hunting import MAX_ROWS

    path = Path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(f".{path.name}.answer.json")
    columns: list[str] = []
    rows = 0
    try:
        async with defender_client(credentials, tenant_id) as client:
            await client.hunting.run_to_file(query, raw, surface=surface, timespan=timespan)
        with (
            raw.open(encoding="utf-8") as src,
            path.open("w", newline="", encoding="utf-8") as fh,
        ):
            names: list[str] | None = None
            for key, value in iter_object(src, stream={"results", "Results"}):
                if key in ("schema", "Schema") and isinstance(value, list):
                    columns = schema_names(value, f"the {surface} hunting query")
                elif key in ("results", "Results") and isinstance(value, dict):
                    rows += 1
                    if fmt == "csv":
                        if names is None:  # the schema normally comes first; else the row's keys
                            names = columns or list(value)
                            fh.write(csv_line(neutralise_cell(n) for n in names))
                        fh.write(csv_line(neutralise_cell(value.get(n)) for n in names))
                    else:
                        fh.write(json.dumps(value, separators=(",", ":")))
                        fh.write("\n")
            if fmt == "csv" and names is None and columns:
                fh.write(csv_line(neutralise_cell(n) for n in columns))
    finally:
        raw.unlink(missing_ok=True)
    return {
        "path": str(path.resolve()),
        "rows": rows,
        "columns": columns,
        "bytes": path.stat().st_size,
        "truncated": rows >= MAX_ROWS,
    }
