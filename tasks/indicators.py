"""Tasks for custom indicators: submit, import in batches of 500, list, delete.

Validation is strict: every indicator is checked (value against type, action, expiry, Audit
needs ``generate_alert``) before anything is sent, and a list with an invalid item raises one
``ValidationError`` naming every bad index, with zero requests sent. Playbooks that build
indicators from incident entities use :func:`indicators_from_entities`, which records an
invalid entity as a failed outcome instead of raising, so nothing is silently dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.models.indicators import (
    Indicator,
    IndicatorAction,
    IndicatorInput,
    IndicatorType,
)
from prefect_defender.api.resources.indicators import BATCH, coerce_indicators
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    ItemOutcome,
    OutcomeStatus,
    defender_client,
    defender_task,
    task_logger,
)

__all__ = [
    "delete_indicator",
    "delete_indicators",
    "import_indicators",
    "indicators_from_entities",
    "list_indicators",
    "submit_indicator",
]


@defender_task(endpoints=("mde.indicators.submit",))
async def submit_indicator(
    credentials: DefenderCredentialsLike,
    indicator: IndicatorInput | dict[str, Any],
    tenant_id: str | None = None,
) -> Indicator:
    """Create or update one indicator (Defender matches on value and type).

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
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Import any number of indicators, 500 per call; one outcome per input, in order.

    Duplicates (same type and value) are sent once and reported for each occurrence. A batch
    that fails as a whole (after the client's retries) marks its items failed and the next
    batches still run.

    Example:
        ```python
        outcomes = await import_indicators(creds, [
            {"value": h, "type": "FileSha256", "action": "BlockAndRemediate",
             "title": "IR-7", "description": "hash from sandbox"} for h in hashes])
        ```
    """
    items = coerce_indicators(indicators)
    label = [f"{i.type.value}:{i.value}" for i in items]
    if dry_run:
        return [
            ItemOutcome(item=lbl, status=OutcomeStatus.DRY_RUN, reason="dry run: not sent")
            for lbl in label
        ]
    unique: dict[tuple[str, str], IndicatorInput] = {}
    for item in items:
        unique.setdefault(item.key, item)
    results: dict[tuple[str, str], ItemOutcome] = {}
    batch_items = list(unique.values())
    log = task_logger()
    async with defender_client(credentials, tenant_id) as client:
        for start in range(0, len(batch_items), BATCH):
            chunk = batch_items[start : start + BATCH]
            try:
                rows = await client.indicators.import_batch(chunk)
            except DefenderError as exc:
                for item in chunk:
                    results[item.key] = ItemOutcome(
                        item=f"{item.type.value}:{item.value}",
                        status=OutcomeStatus.FAILED,
                        error=exc.to_dict(),
                        reason=str(exc),
                    )
                continue
            for row in rows:
                results[row.indicator.key] = ItemOutcome(
                    item=f"{row.indicator.type.value}:{row.indicator.value}",
                    status=OutcomeStatus.FAILED if row.failed else OutcomeStatus.SUCCEEDED,
                    result={"id": row.id} if row.id else None,
                    reason=row.reason,
                )
            log.info(
                "imported %d/%d indicators", min(start + BATCH, len(batch_items)), len(batch_items)
            )
    return [results[i.key] for i in items]


@defender_task(endpoints=("mde.indicators.list",))
async def list_indicators(
    credentials: DefenderCredentialsLike,
    indicator_type: IndicatorType | str | None = None,
    value: str | None = None,
    odata_filter: str | None = None,
    limit: int | None = 10_000,
    tenant_id: str | None = None,
) -> list[Indicator]:
    """Indicators, optionally by type and value (legacy actions show as stored).

    Example:
        ```python
        blocked_ips = await list_indicators(creds, indicator_type="IpAddress")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.indicators.list(
            odata_filter=odata_filter, indicator_type=indicator_type, value=value, limit=limit
        )


@defender_task(endpoints=("mde.indicators.delete",))
async def delete_indicator(
    credentials: DefenderCredentialsLike, indicator_id: str, tenant_id: str | None = None
) -> None:
    """Delete one indicator.

    Example:
        ```python
        await delete_indicator(creds, "42")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        await client.indicators.delete(indicator_id)


@defender_task(endpoints=("mde.indicators.batch_delete",))
async def delete_indicators(
    credentials: DefenderCredentialsLike,
    indicator_ids: list[str],
    tenant_id: str | None = None,
) -> list[ItemOutcome]:
    """Delete many indicators, 500 per call; one outcome per id.

    Example:
        ```python
        outcomes = await delete_indicators(creds, ["41", "42"])
        ```
    """
    ids = [str(i) for i in indicator_ids]
    outcomes: dict[str, ItemOutcome] = {}
    async with defender_client(credentials, tenant_id) as client:
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), BATCH):
            chunk = unique[start : start + BATCH]
            try:
                await client.indicators.batch_delete(chunk)
            except DefenderError as exc:
                if isinstance(exc, ValidationError):
                    raise
                for i in chunk:
                    outcomes[i] = ItemOutcome(
                        item=i, status=OutcomeStatus.FAILED, error=exc.to_dict(), reason=str(exc)
                    )
                continue
            for i in chunk:
                outcomes[i] = ItemOutcome(item=i, status=OutcomeStatus.SUCCEEDED)
    return [outcomes[i] for i in ids]


def indicators_from_entities(
    incident: Incident,
    *,
    action: IndicatorAction | str = IndicatorAction.BLOCK,
    expires_in: timedelta = timedelta(days=30),
    kinds: tuple[str, ...] = ("file", "ip", "url", "domain"),
    title_prefix: str = "prefect-defender",
) -> tuple[list[IndicatorInput], list[ItemOutcome]]:
    """Indicators for an incident's file, IP, URL and domain entities.

    Returns the valid indicators and a failed outcome for every entity that cannot become one
    (for example a private IP or a malformed URL), so the caller can report it.
    """
    from urllib.parse import urlsplit

    expiry = datetime.now(UTC) + expires_in
    candidates: list[tuple[str, str, str]] = []  # (type, value, label)
    for alert in incident.alerts:
        for e in alert.entities:
            if "file" in kinds and (e.sha256 or e.sha1):
                kind = "FileSha256" if e.sha256 else "FileSha1"
                candidates.append((kind, str(e.sha256 or e.sha1), f"file {e.file_name or ''}"))
            if "ip" in kinds and e.ip_address:
                candidates.append(("IpAddress", e.ip_address, "ip"))
            if "url" in kinds and e.url:
                candidates.append(("Url", e.url, "url"))
            if "domain" in kinds and e.url:
                host = urlsplit(e.url).hostname
                if host:
                    candidates.append(("DomainName", host, "domain"))
    valid: list[IndicatorInput] = []
    invalid: list[ItemOutcome] = []
    seen: set[tuple[str, str]] = set()
    for kind, value, label in candidates:
        if (kind, value.lower()) in seen:
            continue
        seen.add((kind, value.lower()))
        if kind == "IpAddress":
            import ipaddress

            ip = ipaddress.ip_address(value)
            internal = (
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "127.0.0.0/8",
                "169.254.0.0/16",
                "fc00::/7",
                "fe80::/10",
                "::1/128",
            )
            if any(
                ip in ipaddress.ip_network(n)
                for n in internal
                if ipaddress.ip_network(n).version == ip.version
            ):
                invalid.append(
                    ItemOutcome(
                        item=f"{kind}:{value}",
                        status=OutcomeStatus.SKIPPED,
                        reason="private or loopback address: not blocked",
                    )
                )
                continue
        try:
            valid.append(
                IndicatorInput(
                    value=value,
                    type=kind,
                    action=action,
                    title=f"{title_prefix}: incident {incident.incident_id} {label}".strip(),
                    description=f"From incident {incident.incident_id}: "
                    f"{incident.incident_name or ''}".strip(),
                    expiration_time=expiry,
                    severity="High",
                    generate_alert=True if str(action) == "Audit" else None,
                )
            )
        except (ValidationError, ValueError) as exc:
            invalid.append(
                ItemOutcome(item=f"{kind}:{value}", status=OutcomeStatus.FAILED, reason=str(exc))
            )
    return valid, invalid
