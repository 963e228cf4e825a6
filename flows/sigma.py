"""Sigma rules as scheduled Defender hunts: convert, check, hunt, and emit one event per hit.

Each run converts the Sigma rules (files, folders or texts) to Defender KQL
(:mod:`prefect_defender.api.sigma`), runs the converted ones as one batch in each tenant, and
emits ``defender.sigma.hit`` for every rule with matches, which playbooks can trigger on:

* resource ``defender.sigma.<tenant>.<rule id>`` with labels ``defender.tenant.id``,
  ``defender.sigma.rule.id``, ``defender.sigma.rule.level``;
* payload: rule title, level, tags, row count, device names and ids, first and last seen, the
  query and the rule's source.

**At most one event per rule, tenant and set of devices per dedupe window.** Event ids are
derived from (tenant, rule id, window start, devices), so a re-run within the same window
(overlapping lookbacks, a retry after a crash) emits the same ids and the Prefect server keeps
the first; a new device, or the next window, gives a new event.

Rules that cannot be converted are reported, with their reason, in the flow's result and in
its markdown artifact (``defender-sigma-hunt``); they are never dropped silently.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.events import emit_event

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    BlockRef,
    HuntLookbackHours,
    LocalInt,
    SigmaSources,
    TenantId,
)
from prefect_defender.api.models.hunting import HuntingSurface
from prefect_defender.api.sigma import (
    ConversionStatus,
    SigmaConversion,
    check_lookback,
    content_hash,
)
from prefect_defender.api.validation import check_choice
from prefect_defender.flows.reports import markdown_table
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.scope import TenantScope, TenantScopes
from prefect_defender.tasks.sigma import (
    HuntStatus,
    SigmaHuntOutcome,
    convert_sigma_rules,
    run_sigma_hunts,
)

__all__ = [
    "EXAMPLE_RULES",
    "SIGMA_HIT_EVENT",
    "sigma_event",
    "sigma_event_id",
    "sigma_hunt",
    "window_start",
]

SIGMA_HIT_EVENT = "defender.sigma.hit"
EVENT_NAMESPACE = uuid.UUID("0c6f3e9a-2d71-4b8e-a5f4-7e1b9d3c6a28")
ARTIFACT_KEY = "defender-sigma-hunt"
#: the example rules shipped in the repository (``examples/sigma``)
EXAMPLE_RULES = Path(__file__).resolve().parents[1] / "examples" / "sigma"
MAX_QUERIES_IN_REPORT = 50


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the dedupe window holding ``now`` (windows are aligned on the epoch).

    Example:
        >>> window_start(datetime(2026, 5, 1, 13, 20, tzinfo=UTC), timedelta(hours=6))
        datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
    """
    if now.tzinfo is None:
        raise ValidationError("now: a timezone-aware datetime", field="now")
    size = int(window.total_seconds())
    if size <= 0:
        raise ValidationError("window: a positive duration", field="window")
    stamp = int(now.timestamp())
    return datetime.fromtimestamp(stamp - stamp % size, tz=UTC)


def sigma_event_id(
    tenant_id: str, rule_id: str, device_ids: list[str], window: datetime
) -> uuid.UUID:
    """Deterministic event id for one rule's hits in one tenant and dedupe window."""
    key = f"{tenant_id}/{rule_id}/{window.isoformat()}/{content_hash(device_ids)}"
    return uuid.uuid5(EVENT_NAMESPACE, key)


def sigma_event(outcome: SigmaHuntOutcome, window: datetime, lookback_hours: int) -> dict[str, Any]:
    """The Prefect event (name, resource, payload, id) for one rule with hits in one tenant."""
    return {
        "event": SIGMA_HIT_EVENT,
        "resource": {
            "prefect.resource.id": f"defender.sigma.{outcome.tenant_id}.{outcome.rule_id}",
            "prefect.resource.name": outcome.title,
            "defender.tenant.id": outcome.tenant_id,
            "defender.sigma.rule.id": outcome.rule_id,
            "defender.sigma.rule.level": outcome.level or "unknown",
        },
        "payload": {
            "tenant_id": outcome.tenant_id,
            "rule_id": outcome.rule_id,
            "title": outcome.title,
            "level": outcome.level,
            "tags": outcome.tags,
            "row_count": outcome.row_count,
            "device_count": len(outcome.device_ids),
            "device_names": outcome.device_names,
            "device_ids": outcome.device_ids,
            "first_seen": outcome.first_seen.isoformat() if outcome.first_seen else None,
            "last_seen": outcome.last_seen.isoformat() if outcome.last_seen else None,
            "lookback_hours": lookback_hours,
            "window_start": window.isoformat(),
            "query": outcome.query,
            "source": outcome.source,
        },
        "id": sigma_event_id(outcome.tenant_id, outcome.rule_id, outcome.device_ids, window),
    }


def _note(o: SigmaHuntOutcome) -> str:
    parts = [o.reason] if o.reason else []
    parts += [f"fixed: {f}" for f in o.fixes]
    parts += o.warnings
    return "; ".join(p for p in parts if p)


def _outcomes_table(outcomes: list[SigmaHuntOutcome], labels: dict[str, str]) -> str:
    """One row per rule and tenant: status, rows, the first ten devices and the notes."""
    rows = [
        {
            "tenant": labels.get(o.tenant_id, o.tenant_id),
            "rule": o.title,
            "level": o.level,
            "status": o.status.value,
            "rows": o.row_count if o.status in (HuntStatus.HIT, HuntStatus.NO_HITS) else "",
            "devices": ", ".join(o.device_names[:10])
            + (" ..." if len(o.device_names) > 10 else ""),
            "note": _note(o),
        }
        for o in outcomes
    ]
    return markdown_table(rows, ["tenant", "rule", "level", "status", "rows", "devices", "note"])


def _not_converted_section(conversions: list[SigmaConversion]) -> list[str]:
    """The rules that were not converted, with the reason (none: no section)."""
    skipped = [
        {
            "source": c.source,
            "rule": c.title,
            "id": c.rule_id,
            "status": c.status.value,
            "reason": c.reason,
        }
        for c in conversions
        if not c.ok
    ]
    if not skipped:
        return []
    table = markdown_table(skipped, ["source", "rule", "id", "status", "reason"])
    return ["", "## Not converted", "", table]


def _queries_section(conversions: list[SigmaConversion]) -> list[str]:
    """The KQL of the first :data:`MAX_QUERIES_IN_REPORT` converted rules (none: no section)."""
    converted = [c for c in conversions if c.ok]
    if not converted:
        return []
    md = ["", "## Queries"]
    for c in converted[:MAX_QUERIES_IN_REPORT]:
        md += ["", f"**{c.title}** (`{c.rule_id}`, {c.source})", "", "```kql", str(c.kql), "```"]
    if len(converted) > MAX_QUERIES_IN_REPORT:
        md += ["", f"... and {len(converted) - MAX_QUERIES_IN_REPORT} more"]
    return md


async def _report(
    conversions: list[SigmaConversion],
    outcomes: list[SigmaHuntOutcome],
    labels: dict[str, str],
    lookback_hours: int,
    window: datetime,
    emitted: int,
) -> str:
    """Write the run's markdown artifact (``defender-sigma-hunt``) and return its text."""
    counts = {s: sum(1 for c in conversions if c.status is s) for s in ConversionStatus}
    hits = [o for o in outcomes if o.status is HuntStatus.HIT]
    md = [
        "# Sigma hunt",
        "",
        f"- Rules: {len(conversions)} ("
        + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        + ")",
        f"- Tenants: {', '.join(labels.values()) or 'none'}",
        f"- Lookback: {lookback_hours} h; dedupe window from {window.isoformat()}",
        f"- Rules with hits: {len(hits)}; events emitted: {emitted}",
        "",
        "## Outcomes",
        "",
        _outcomes_table(outcomes, labels),
        *_not_converted_section(conversions),
        *_queries_section(conversions),
    ]
    text = "\n".join(md)
    await acreate_markdown_artifact(markdown=text, key=ARTIFACT_KEY, description="Sigma hunt")
    return text


def _checked_parameters(
    lookback_hours: int, dedupe_window_hours: int | None, surface: str, emit_events: bool
) -> tuple[int, int, HuntingSurface]:
    """The lookback and dedupe window in hours and the surface, checked before any request."""
    hours = check_lookback(lookback_hours)
    window_hours = check_lookback(
        hours if dedupe_window_hours is None else dedupe_window_hours, "dedupe_window_hours"
    )
    kind = check_choice(surface, HuntingSurface, "surface")
    if not isinstance(emit_events, bool):
        raise ValidationError("emit_events: true or false", field="emit_events")
    return hours, window_hours, kind


def _tenant_failed(
    tenant: str, conversions: list[SigmaConversion], exc: Exception
) -> list[SigmaHuntOutcome]:
    """One outcome per rule for a tenant that failed as a whole (no consent, deadline)."""
    return [
        SigmaHuntOutcome(
            tenant_id=tenant,
            rule_id=c.rule_id,
            title=c.title,
            level=c.level,
            tags=list(c.tags),
            source=c.source,
            conversion=c.status.value,
            status=HuntStatus.FAILED if c.ok else HuntStatus.NOT_RUN,
            reason=f"{type(exc).__name__}: {exc}" if c.ok else c.reason,
        )
        for c in conversions
    ]


async def _hunt_in(
    scope: TenantScope,
    conversions: list[SigmaConversion],
    hours: int,
    surface: HuntingSurface,
) -> list[SigmaHuntOutcome]:
    """The rules hunted in one tenant, on the scope's client; a failing tenant is reported."""
    try:
        outcomes: list[SigmaHuntOutcome] = await run_sigma_hunts(
            scope.client, conversions, hours, surface
        )
    except Exception as exc:  # the tenant as a whole failed (no consent, deadline)
        task_logger().error("tenant %s: Sigma hunts failed: %s", scope.tenant, exc)
        return _tenant_failed(scope.tenant, conversions, exc)
    return outcomes


def _emit_hits(outcomes: list[SigmaHuntOutcome], window: datetime, lookback_hours: int) -> int:
    """Emit ``defender.sigma.hit`` for every outcome with hits; the number emitted."""
    emitted = 0
    for o in outcomes:
        if o.status is HuntStatus.HIT:
            ev = sigma_event(o, window, lookback_hours)
            emit_event(
                event=ev["event"], resource=ev["resource"], payload=ev["payload"], id=ev["id"]
            )
            o.event_id = str(ev["id"])
            emitted += 1
    return emitted


def _result(
    conversions: list[SigmaConversion],
    outcomes: list[SigmaHuntOutcome],
    emitted: int,
    window: datetime,
) -> dict[str, Any]:
    """The flow's result: counts, the rules not converted, and every outcome."""
    return {
        "rules": len(conversions),
        "converted": sum(1 for c in conversions if c.ok),
        "not_converted": [
            {"rule_id": c.rule_id, "title": c.title, "status": c.status.value, "reason": c.reason}
            for c in conversions
            if not c.ok
        ],
        "hits": sum(1 for o in outcomes if o.status is HuntStatus.HIT),
        "events": emitted,
        "window_start": window.isoformat(),
        "outcomes": [o.model_dump(mode="json") for o in outcomes],
    }


@flow(name="defender-sigma-hunt", log_prints=True)
@checked_parameters
async def sigma_hunt(
    credentials: BlockRef = "defender-application-credentials/soc",
    rule_paths: SigmaSources | None = None,
    rule_texts: SigmaSources | None = None,
    lookback_hours: HuntLookbackHours = 24,
    surface: Literal["graph", "xdr", "mde"] = "graph",
    tenant_ids: list[TenantId] | None = None,
    emit_events: bool = True,
    dedupe_window_hours: LocalInt | None = None,
) -> dict[str, Any]:
    """Hunt Sigma rules in Defender and emit ``defender.sigma.hit`` for each rule with hits.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``. A partner block
            hunts in every configured tenant (or ``tenant_ids``).
        rule_paths: Sigma rule files, or folders searched for ``*.yml``/``*.yaml``.
        rule_texts: Sigma rules as YAML text (one or more documents each).
        lookback_hours: how far back each rule looks (1 to 720).
        surface: the hunting endpoint: ``graph`` (default), ``xdr`` or ``mde``.
        tenant_ids: restrict a partner block to these tenants.
        emit_events: emit ``defender.sigma.hit`` events (off: report only).
        dedupe_window_hours: at most one event per rule, tenant and device set in each window
            of this many hours (default: ``lookback_hours``).

    Returns counts and one outcome per rule and tenant (``hit``, ``no_hits``, ``failed``,
    ``not_run`` with the conversion reason). Invalid parameters (no rules, a missing path, a
    lookback out of range) raise ``ValidationError`` before any request is sent.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.sigma import EXAMPLE_RULES, sigma_hunt

        result = asyncio.run(sigma_hunt(
            credentials="defender-application-credentials/soc",
            rule_paths=[str(EXAMPLE_RULES)],  # the package's examples/sigma
            lookback_hours=24,
        ))
        print(result["hits"])
        ```
    """
    hours, window_hours, kind = _checked_parameters(
        lookback_hours, dedupe_window_hours, surface, emit_events
    )
    conversions: list[SigmaConversion] = convert_sigma_rules(rule_paths, rule_texts)
    async with await TenantScopes.load(credentials, tenant_ids) as scopes:
        window = window_start(datetime.now(UTC), timedelta(hours=window_hours))
        outcomes: list[SigmaHuntOutcome] = []
        labels: dict[str, str] = {}
        emitted = 0
        for scope in scopes:
            labels[scope.tenant] = scope.label or scope.tenant
            results = await _hunt_in(scope, conversions, hours, kind)
            emitted += _emit_hits(results, window, hours) if emit_events else 0
            outcomes.extend(results)
    await _report(conversions, outcomes, labels, hours, window, emitted)
    result = _result(conversions, outcomes, emitted, window)
    task_logger().info(
        "%d rule(s), %d converted, %d hit(s), %d event(s)",
        result["rules"],
        result["converted"],
        result["hits"],
        emitted,
    )
    return result
