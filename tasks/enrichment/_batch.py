"""Many entities enriched in one task: :func:`enrich_entities`.

Public through ``tasks.enrichment``.

Each entity gets its main lookup (file information, IP/domain statistics, a user's alerts) and,
with ``related``, its related alerts and machines, through the same client calls as the
one-entity tasks of ``tasks.enrichment``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.input_types import BulkItems, TenantId
from prefect_defender.api.models.enrichment import EntityEnrichment
from prefect_defender.api.resources.enrichment import EntitiesAPI
from prefect_defender.api.validation import check_domain, check_hash, check_ip, check_sam_name
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, run_bulk

__all__ = [
    "enrich_entities",
]


def _check_file(value: Any, field: str) -> str:
    return check_hash(value, field, ("sha1", "sha256"))


_CHECKS: dict[str, Callable[[Any, str], str]] = {
    "file": _check_file,
    "ip": check_ip,
    "domain": check_domain,
    "user": check_sam_name,
}


async def _enrich(ent: EntitiesAPI, kind: str, value: str, related: bool) -> EntityEnrichment:
    """One entity: the primary lookup raises, the secondary ones are recorded in ``errors``."""
    out = EntityEnrichment(kind=kind, value=value)
    subs: dict[str, Awaitable[Any]] = {}
    if kind == "file":
        out.file = await ent.file_info(value)
        sha1 = value if len(value) == 40 else out.file.sha1
        subs["stats"] = ent.file_stats(value)
        if related and sha1:
            subs["alerts"] = ent.file_alerts(sha1)
            subs["machines"] = ent.file_machines(sha1)
    elif kind == "ip":
        out.stats = await ent.ip_stats(value)
        if related:
            subs["alerts"] = ent.ip_alerts(value)
    elif kind == "domain":
        out.stats = await ent.domain_stats(value)
        if related:
            subs["alerts"] = ent.domain_alerts(value)
            subs["machines"] = ent.domain_machines(value)
    else:
        out.alerts = await ent.user_alerts(value)
        if related:
            subs["machines"] = ent.user_machines(value)
    done = await asyncio.gather(*subs.values(), return_exceptions=True)
    for name, result in zip(subs, done, strict=True):
        if isinstance(result, DefenderError):
            out.errors[name] = str(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            setattr(out, name, result)
    return out


def _labelled(
    files: Any, ips: Any, domains: Any, users: Any
) -> list[tuple[str, ValidationError | None]]:
    """``(kind:value, None)`` per valid entity, ``(kind:raw, error)`` per invalid one, in order."""
    jobs: list[tuple[str, ValidationError | None]] = []
    for kind, values in (("file", files), ("ip", ips), ("domain", domains), ("user", users)):
        if values is None:
            continue
        if isinstance(values, str | bytes):
            raise ValidationError(f"{kind}s: expected a list of values", field=f"{kind}s")
        for i, raw in enumerate(values):
            try:
                jobs.append((f"{kind}:{_CHECKS[kind](raw, f'{kind}s[{i}]')}", None))
            except ValidationError as exc:
                jobs.append((f"{kind}:{raw}", exc))
    return jobs


@defender_task(
    endpoints=(
        "mde.files.get",
        "mde.files.stats",
        "mde.files.alerts",
        "mde.files.machines",
        "mde.ips.stats",
        "mde.ips.alerts",
        "mde.domains.stats",
        "mde.domains.alerts",
        "mde.domains.machines",
        "mde.users.alerts",
        "mde.users.machines",
    )
)
async def enrich_entities(
    credentials: DefenderCredentialsLike,
    files: BulkItems | None = None,
    ips: BulkItems | None = None,
    domains: BulkItems | None = None,
    users: BulkItems | None = None,
    related: bool = True,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Enrich many entities in one task; one outcome per entity, in input order.

    Outcomes are labelled ``file:<hash>``, ``ip:<address>``, ``domain:<name>``,
    ``user:<account>`` (files first, then IPs, domains, users) and a successful one carries an
    ``EntityEnrichment`` in ``result``: file information and statistics, IP/domain statistics,
    and with ``related`` the related alerts and machines (a file's through its SHA-1).

    Errors are recorded per entity, never dropped: an invalid value (a UPN instead of an
    account name, a malformed hash or IP) is a ``failed`` outcome with the validation error and
    sends no request; an entity whose main lookup fails (an unknown file is 404) is ``failed``
    with Defender's error; a failed secondary lookup (say, a 403 on domain alerts) leaves the
    entity ``succeeded`` with the error under ``result.errors``. Lookups run concurrently within
    the client's concurrency and rate limits; duplicates are looked up once.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.enrichment import enrich_entities

        @flow
        async def enrich(sha256: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            outcomes = await enrich_entities(
                creds, files=[sha256], ips=["203.0.113.66"], users=["jdoe"])
            return {o.item: o.result.alert_ids for o in outcomes if o.ok}
        ```
    """
    jobs = _labelled(files, ips, domains, users)
    todo = list(dict.fromkeys(label for label, bad in jobs if bad is None))
    log = task_logger()
    done: dict[str, ItemOutcome] = {}
    if todo:
        async with defender_client(credentials, tenant_id) as client:
            ent = client.entities

            async def one(label: str) -> ItemOutcome:
                kind, value = label.split(":", 1)
                result = await _enrich(ent, kind, value, related)
                return ItemOutcome(item=label, status=OutcomeStatus.SUCCEEDED, result=result)

            def progress(n: int, total: int) -> None:
                if n == total or n % 25 == 0:
                    log.info("enriched %d/%d entities", n, total)

            outcomes = await run_bulk(
                todo, one, concurrency=client.settings.max_concurrency, progress=progress
            )
            done = {o.item: o for o in outcomes}
    out = []
    for label, bad in jobs:
        if bad is not None:
            out.append(
                ItemOutcome(
                    item=label, status=OutcomeStatus.FAILED, error=bad.to_dict(), reason=str(bad)
                )
            )
        else:
            out.append(done[label])
    return out
