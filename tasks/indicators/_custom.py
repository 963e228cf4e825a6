"""Tasks for custom indicators: submit, import in batches of 500, list, delete, batch delete."""

from __future__ import annotations

from typing import Any

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import (
    AuthenticationError,
    DefenderError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from prefect_defender.api.input_types import (
    FilterText,
    IndicatorId,
    IndicatorListAction,
    Limit,
    ODataFilterText,
    TenantId,
)
from prefect_defender.api.models.indicators import (
    BATCH,
    Indicator,
    IndicatorInput,
    IndicatorSeverity,
    IndicatorType,
    coerce_indicators,
)
from prefect_defender.api.resources.indicators import (
    LIMIT_ADVICE,
    check_indicator_id,
    limit_reached,
)
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, error_outcome, run_bulk

__all__ = [
    "delete_indicator",
    "delete_indicators",
    "import_indicators",
    "list_indicators",
    "submit_indicator",
]

_FATAL = (PermissionDeniedError, AuthenticationError)


def _label(item: IndicatorInput) -> str:
    return f"{item.type.value}:{item.value}"


@defender_task(endpoints=("mde.indicators.submit",))
async def submit_indicator(
    credentials: DefenderCredentialsLike,
    indicator: IndicatorInput | dict[str, Any],
    tenant_id: TenantId | None = None,
) -> Indicator:
    """Create or update one indicator (Defender matches on value and type).

    The indicator is validated first (nothing is sent if it is invalid). The deprecated actions
    ``Alert`` and ``AlertAndBlock`` are refused with the documented action to use instead. When
    the tenant already holds 15,000 active indicators, ``IndicatorLimitError`` says so.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.indicators import submit_indicator

        @flow
        async def block_c2():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await submit_indicator(creds, {
                "value": "203.0.113.66", "type": "IpAddress", "action": "Block",
                "title": "C2 of IR-7", "description": "Seen beaconing"})
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.indicators.submit(indicator)


@defender_task(endpoints=("mde.indicators.import",))
async def import_indicators(
    credentials: DefenderCredentialsLike,
    indicators: list[IndicatorInput | dict[str, Any]],
    dry_run: bool = False,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Import any number of indicators, 500 per call; one outcome per input, in input order.

    Invalid input (design choice): the whole list is validated before the first request, and
    one invalid indicator anywhere in it raises a ``ValidationError`` that names every invalid
    index (``[3] value: ...``); nothing is sent, so a playbook never half-applies a list. Build
    lists from untrusted entities with :func:`indicators_from_entities`, which sets invalid
    entities aside as outcomes of their own.

    Duplicates (same type and value) are sent once and reported for each occurrence. Per-item
    failures in Defender's answer (``isFailed``/``failureReason``) become ``failed`` outcomes;
    the 15,000 active-indicator limit is named as such. A batch that fails as a whole (after the
    client's retries) marks its items failed and the next batches still run, except on a missing
    permission or a rejected credential, which fail the remaining items without sending them.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.indicators import import_indicators

        @flow
        async def block_hashes(hashes: list[str]):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            outcomes = await import_indicators(creds, [
                {"value": h, "type": "FileSha256", "action": "BlockAndRemediate",
                 "title": "IR-7", "description": "hash from sandbox"} for h in hashes])
            return [o for o in outcomes if not o.ok]
        ```
    """
    items = coerce_indicators(indicators)
    if dry_run:
        return [
            ItemOutcome(item=_label(i), status=OutcomeStatus.DRY_RUN, reason="dry run: not sent")
            for i in items
        ]
    unique: dict[tuple[str, str], IndicatorInput] = {}
    for item in items:
        unique.setdefault(item.key, item)
    todo = list(unique.values())
    results: dict[tuple[str, str], ItemOutcome] = {}
    fatal: DefenderError | None = None
    log = task_logger()
    async with defender_client(credentials, tenant_id) as client:
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            if fatal is None:
                try:
                    rows = await client.indicators.import_batch(chunk)
                except _FATAL as exc:
                    fatal = exc
                except DefenderError as exc:
                    _fail(results, chunk, exc)
                    log.warning("import batch %d failed: %s", start // BATCH + 1, exc.message)
                    continue
                else:
                    for row in rows:
                        results[row.indicator.key] = ItemOutcome(
                            item=_label(row.indicator),
                            status=OutcomeStatus.FAILED if row.failed else OutcomeStatus.SUCCEEDED,
                            result={"id": row.id} if row.id else None,
                            reason=row.reason,
                        )
                    log.info(
                        "imported %d/%d indicators (%d failed)",
                        min(start + BATCH, len(todo)),
                        len(todo),
                        sum(r.failed for r in rows),
                    )
                    continue
            if fatal is not None:
                _fail(results, chunk, fatal)
    return [results[i.key] for i in items]


def _fail(
    results: dict[tuple[str, str], ItemOutcome], chunk: list[IndicatorInput], exc: DefenderError
) -> None:
    reason = f"{exc} ({LIMIT_ADVICE})" if limit_reached(exc.message) else str(exc)
    for item in chunk:
        results[item.key] = ItemOutcome(
            item=_label(item), status=OutcomeStatus.FAILED, error=exc.to_dict(), reason=reason
        )


@defender_task(endpoints=("mde.indicators.list",))
async def list_indicators(
    credentials: DefenderCredentialsLike,
    indicator_type: IndicatorType | str | None = None,
    value: FilterText | None = None,
    action: IndicatorListAction | None = None,
    severity: IndicatorSeverity | str | None = None,
    created_by: FilterText | None = None,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = 10_000,
    tenant_id: TenantId | None = None,
) -> list[Indicator]:
    """Indicators, optionally by type, value, action, severity or creator.

    Legacy actions (``Alert``, ``AlertAndBlock``) are returned as stored and can be filtered
    on, so old indicators can be found and re-submitted with a current action. An app without
    ``Ti.ReadWrite.All`` sees only the indicators it created.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.indicators import list_indicators

        @flow
        async def blocked_ips():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await list_indicators(creds, indicator_type="IpAddress", action="Block")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.indicators.list(
            indicator_type=indicator_type,
            value=value,
            action=action,
            severity=severity,
            created_by=created_by,
            odata_filter=odata_filter,
            limit=limit,
        )


@defender_task(endpoints=("mde.indicators.delete",))
async def delete_indicator(
    credentials: DefenderCredentialsLike,
    indicator_id: IndicatorId,
    tenant_id: TenantId | None = None,
) -> None:
    """Delete one indicator (``NotFoundError`` if it does not exist).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.indicators import delete_indicator

        @flow
        async def unblock(indicator_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await delete_indicator(creds, indicator_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        await client.indicators.delete(indicator_id)


_NOT_FOUND = "not found: already deleted, or not visible to this app"


@defender_task(
    endpoints=("mde.indicators.batch_delete", "mde.indicators.list", "mde.indicators.delete")
)
async def delete_indicators(
    credentials: DefenderCredentialsLike,
    indicator_ids: list[IndicatorId],
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Delete many indicators, 500 per ``BatchDelete`` call; one outcome per id, in order.

    Every id is validated before the first call. Defender answers 404 for a whole batch when
    any id is missing; the task then lists the visible indicators, reports the missing ids as
    ``skipped`` and deletes the others, so one stale id does not block the rest.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.indicators import delete_indicators

        @flow
        async def unblock_all(ids: list[str]):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await delete_indicators(creds, ids)
        ```
    """
    if isinstance(indicator_ids, str | bytes):
        raise ValidationError("indicator_ids: expected a list", field="indicator_ids")
    ids = [check_indicator_id(v, f"indicator_ids[{i}]") for i, v in enumerate(indicator_ids)]
    unique = list(dict.fromkeys(ids))
    outcomes: dict[str, ItemOutcome] = {}
    fatal: DefenderError | None = None
    log = task_logger()
    async with defender_client(credentials, tenant_id) as client:
        existing: set[str] | None = None
        for start in range(0, len(unique), BATCH):
            chunk = unique[start : start + BATCH]
            if fatal is not None:
                _fail_ids(outcomes, chunk, fatal)
                continue
            try:
                await client.indicators.batch_delete(chunk)
            except NotFoundError:
                if existing is None:
                    try:
                        existing = {i.id async for i in client.indicators.iterate(limit=None)}
                    except DefenderError as exc:
                        log.warning("cannot list indicators (%s): deleting one by one", exc)
                        await _one_by_one(client, chunk, outcomes)
                        continue
                await _delete_known(client, chunk, existing, outcomes)
            except _FATAL as exc:
                fatal = exc
                _fail_ids(outcomes, chunk, exc)
            except DefenderError as exc:
                _fail_ids(outcomes, chunk, exc)
            else:
                for i in chunk:
                    outcomes[i] = ItemOutcome(item=i, status=OutcomeStatus.SUCCEEDED)
            log.info("deleted %d/%d indicator ids", min(start + BATCH, len(unique)), len(unique))
    return [outcomes[i] for i in ids]


async def _delete_known(
    client: DefenderClient,
    chunk: list[str],
    existing: set[str],
    outcomes: dict[str, ItemOutcome],
) -> None:
    present = [i for i in chunk if i in existing]
    for i in chunk:
        if i not in existing:
            outcomes[i] = ItemOutcome(item=i, status=OutcomeStatus.SKIPPED, reason=_NOT_FOUND)
    if not present:
        return
    try:
        await client.indicators.batch_delete(present)
    except NotFoundError:
        # something vanished between the listing and the call: settle it one id at a time
        await _one_by_one(client, present, outcomes)
    except DefenderError as exc:
        _fail_ids(outcomes, present, exc)
    else:
        for i in present:
            outcomes[i] = ItemOutcome(item=i, status=OutcomeStatus.SUCCEEDED)
    for i in present:
        existing.discard(i)


async def _one_by_one(
    client: DefenderClient, ids: list[str], outcomes: dict[str, ItemOutcome]
) -> None:
    async def one(i: str) -> ItemOutcome:
        try:
            await client.indicators.delete(i)
        except NotFoundError:
            return ItemOutcome(item=i, status=OutcomeStatus.SKIPPED, reason=_NOT_FOUND)
        return ItemOutcome(item=i, status=OutcomeStatus.SUCCEEDED)

    for o in await run_bulk(ids, one, concurrency=client.settings.max_concurrency):
        outcomes[o.item] = o


def _fail_ids(outcomes: dict[str, ItemOutcome], ids: list[str], exc: DefenderError) -> None:
    for i in ids:
        outcomes[i] = error_outcome(i, exc)
