"""One customer tenant of a partner block: a hunting query and an indicator baseline.

The MSSP fan-out (``prefect_defender.flows.mssp``) runs :func:`sweep_client` (the body of the
:func:`sweep_tenant` task, without a task run per tenant) for every tenant concurrently; a
tenant that fails (no consent, throttled past the deadline) is a row with the error, never an
exception, so one customer never stops the others.
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import ConsentRequiredError, DefenderError
from prefect_defender.api.input_types import KqlQuery, TenantId
from prefect_defender.api.models.indicators import BATCH, IndicatorInput, coerce_indicators
from prefect_defender.api.validation import check_query
from prefect_defender.api.write_gate import WriteRefusedError
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    calls_endpoints,
    defender_client,
    defender_task,
)

__all__ = [
    "ERROR_CHARS",
    "MAX_FINDINGS",
    "found_in",
    "sweep_client",
    "sweep_failure",
    "sweep_tenant",
]

#: devices and accounts named per tenant (the rest are counted)
MAX_FINDINGS = 20
#: hunting columns that name a device (id first: it makes the portal link) or an account
_DEVICE_ID = ("DeviceId",)
_DEVICE_NAME = ("DeviceName",)
_ACCOUNT = (
    "AccountUpn",
    "InitiatingProcessAccountUpn",
    "AccountName",
    "InitiatingProcessAccountName",
)
_ACCOUNT_ID = ("AccountObjectId", "InitiatingProcessAccountObjectId")


#: the longest error kept in a tenant's row (a Defender message, a consent link and more fit)
ERROR_CHARS = 2000


def sweep_failure(exc: BaseException) -> dict[str, Any]:
    """A tenant's ``status`` and whole ``error`` when it answered (or was refused) with
    ``exc``, or its work failed in this process (too many open files, no memory, no
    connection): ``skipped`` when the safety rails refused the write, ``failed`` otherwise.

    Example:
        ```python
        from prefect_defender.api.errors import ConsentRequiredError

        row = {"tenant": "Fabrikam", "status": "ok", "error": ""}
        row.update(sweep_failure(ConsentRequiredError("no consent in tenant ...")))
        assert row["status"] == "failed"
        row.update(sweep_failure(OSError(24, "Too many open files")))
        ```
    """
    status = "skipped" if isinstance(exc, WriteRefusedError) else "failed"
    message = exc.message if isinstance(exc, DefenderError) else str(exc)
    error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(error) > ERROR_CHARS:
        error = error[: ERROR_CHARS - 1] + "…"
    return {"status": status, "error": error, "consent": isinstance(exc, ConsentRequiredError)}


def _first(row: dict[str, Any], columns: tuple[str, ...]) -> str | None:
    for c in columns:
        if row.get(c):
            return str(row[c])
    return None


def found_in(rows: list[dict[str, Any]], link: Any = None) -> dict[str, Any]:
    """The devices and accounts a hunting result names (by ``DeviceId``/``DeviceName``,
    ``AccountUpn``/``AccountName`` and their initiating-process forms), at most
    :data:`MAX_FINDINGS` of each with a portal link (``link(kind, id)``), and their counts.

    Example:
        ```python
        async with creds.get_client() as client:
            found = found_in([{"DeviceId": machine_id, "DeviceName": "ws-1"}], client.portal_link)
        print(found["devices"])  # [{'name': 'ws-1', 'id': '...', 'link': 'https://...'}]
        ```
    """
    devices: dict[str, dict[str, Any]] = {}
    accounts: dict[str, dict[str, Any]] = {}
    for r in rows:
        did, name = _first(r, _DEVICE_ID), _first(r, _DEVICE_NAME)
        if did or name:
            key = (did or name or "").lower()
            devices.setdefault(key, {"name": name or did, "id": did, "link": None})
            if did and link:
                devices[key]["link"] = link("machine", did)
        upn, oid = _first(r, _ACCOUNT), _first(r, _ACCOUNT_ID)
        if upn or oid:
            key = (upn or oid or "").lower()
            accounts.setdefault(key, {"name": upn or oid, "id": oid, "link": None})
            if oid and link:
                accounts[key]["link"] = link("user", oid)
    return {
        "devices_found": len(devices),
        "accounts_found": len(accounts),
        "devices": list(devices.values())[:MAX_FINDINGS],
        "accounts": list(accounts.values())[:MAX_FINDINGS],
    }


#: what one tenant's sweep calls: the hunting query and the indicator import
SWEEP_ENDPOINTS = ("graph.hunting.run", "mde.indicators.import")


@defender_task(name="sweep-defender-tenant", endpoints=SWEEP_ENDPOINTS)
async def sweep_tenant(
    credentials: DefenderCredentialsLike,
    tenant_id: TenantId | None = None,
    query: KqlQuery | None = None,
    indicators: list[IndicatorInput] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Run ``query`` (Graph advanced hunting) and import ``indicators`` in one tenant.

    ``credentials`` is a partner block with the customer's ``tenant_id``, or the run's client
    for that customer (``TenantScope.client``), which the query and the import share.

    Returns ``status`` (``ok``, ``partial``: some indicators failed, ``failed``: the tenant
    answered with an error, ``skipped``: the safety rails refused the import), the query's row
    count, the devices and accounts its rows name (:func:`found_in`), ``indicators`` as
    ``<ok>/<sent>`` and the first errors. Inputs are checked before anything is sent.

    Example:
        ```python
        baseline = [{"value": "203.0.113.66", "type": "IpAddress", "action": "Block",
                     "title": "C2", "description": "MSSP baseline"}]
        row = await sweep_tenant(partner, customer_tenant_id,
                                 query="DeviceInfo | count", indicators=baseline)
        assert row["status"] == "ok"
        ```
    """
    text = check_query(query) if query is not None else None
    baseline = coerce_indicators(indicators or [])
    try:
        async with defender_client(credentials, tenant_id) as client:
            return await sweep_client(client, text, baseline, dry_run)
    except DefenderError as exc:  # a client the block cannot make in that tenant
        return {"rows": None, "indicators": None, **sweep_failure(exc)}


@calls_endpoints(*SWEEP_ENDPOINTS)
async def sweep_client(
    client: DefenderClient,
    query: str | None,
    baseline: list[IndicatorInput],
    dry_run: bool = False,
) -> dict[str, Any]:
    """:func:`sweep_tenant`'s work with a client of the tenant and checked inputs (``query``
    from ``check_query``, ``baseline`` from ``coerce_indicators``), without a Prefect task run:
    what the MSSP fan-out calls for each of hundreds of tenants, whose rows are its record.

    Example:
        ```python
        from prefect_defender.tasks.scope import TenantScope

        async with await TenantScope.load("defender-application-credentials/soc") as scope:
            row = await sweep_client(scope.client, "DeviceInfo | count", [])
        ```
    """
    row: dict[str, Any] = {"status": "ok", "rows": None, "indicators": None, "error": ""}
    try:
        if query:
            result = await client.hunting.run(query)
            row["rows"] = len(result.rows)
            row.update(found_in(result.rows, client.portal_link))
        if baseline and dry_run:
            row["indicators"] = f"{len(baseline)} (dry run)"
        elif baseline:
            results = []
            for start in range(0, len(baseline), BATCH):
                results += await client.indicators.import_batch(baseline[start : start + BATCH])
            failed = [r for r in results if r.failed]
            row["indicators"] = f"{len(results) - len(failed)}/{len(results)}"
            if failed:
                row["status"] = "partial"
                row["error"] = "; ".join(f"{r.indicator.value}: {r.reason}" for r in failed[:5])
    except DefenderError as exc:
        row.update(sweep_failure(exc))
    return row
