"""Tasks for Sigma rules in Defender: convert rules to KQL, run them as one batch of hunts, or
deploy them as custom detection rules (Graph v1.0).

Conversion (pySigma, the Kusto backend's Microsoft XDR pipeline, corrections and local checks)
lives in :mod:`prefect_defender.api.sigma`; these tasks add Prefect around it. Every rule gets
one outcome, including the rules that could not be converted (with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.input_types import (
    AutomatedActions,
    Concurrency,
    HuntLookbackHours,
    RuleFrequency,
    RuleStatus,
    TenantId,
)
from prefect_defender.api.models.graph_security import DetectionRuleInput
from prefect_defender.api.models.hunting import HuntingResult, HuntingSurface
from prefect_defender.api.sigma import (
    SigmaConversion,
    check_lookback,
    convert_rules,
    detection_rule_from_sigma,
    hunt_query,
    load_rule_sources,
)
from prefect_defender.api.validation import check_choice, check_model, check_query
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, error_outcome, run_bulk

__all__ = [
    "HuntStatus",
    "SigmaHuntOutcome",
    "convert_sigma_rules",
    "create_sigma_detection_rules",
    "run_sigma_hunts",
]

_ENDPOINTS = ("graph.hunting.run", "xdr.hunting.run", "mde.hunting.run")
#: device names and ids kept per outcome (the row count is always exact)
MAX_DEVICES = 100


class HuntStatus(StrEnum):
    """How one rule's hunt ended in one tenant."""

    HIT = "hit"
    NO_HITS = "no_hits"
    FAILED = "failed"
    #: not converted (unsupported, invalid or duplicate): see ``reason``
    NOT_RUN = "not_run"


class SigmaHuntOutcome(BaseModel):
    """One Sigma rule hunted in one tenant."""

    tenant_id: str
    rule_id: str
    title: str
    level: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: str
    status: HuntStatus
    conversion: str = Field(description="The conversion status: converted, unsupported ...")
    reason: str | None = None
    row_count: int = 0
    device_names: list[str] = Field(default_factory=list)
    device_ids: list[str] = Field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    query: str | None = Field(default=None, description="The hunt query sent.")
    fixes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    event_id: str | None = Field(default=None, description="The Prefect event emitted, if any.")


@task(name="convert-sigma-rules", cache_policy=NO_CACHE, retries=0)
def convert_sigma_rules(
    rule_paths: Sequence[str] | None = None,
    rule_texts: Sequence[str] | None = None,
) -> list[SigmaConversion]:
    """Convert Sigma rules (files, folders, texts) to Defender KQL; one entry per rule.

    Sends nothing. Raises :class:`~prefect_defender.api.errors.ValidationError` for a missing
    path, an empty input or too many rules; a rule that cannot be converted is returned with
    ``status`` ``unsupported``/``invalid``/``duplicate`` and its ``reason``.

    Example:
        ```python
        from prefect_defender.tasks.sigma import convert_sigma_rules

        for c in convert_sigma_rules.fn(rule_paths=["examples/sigma"]):
            print(c.status, c.title, c.reason or c.kql)
        ```
    """
    sources = load_rule_sources(list(rule_paths or []), list(rule_texts or []))
    out = convert_rules(sources)
    converted = sum(1 for c in out if c.ok)
    task_logger().info(
        "%d Sigma rule(s) from %d source(s): %d converted", len(out), len(sources), converted
    )
    return out


def _outcome(tenant: str, conv: SigmaConversion, **kw: Any) -> SigmaHuntOutcome:
    return SigmaHuntOutcome(
        tenant_id=tenant,
        rule_id=conv.rule_id,
        title=conv.title,
        level=conv.level,
        tags=list(conv.tags),
        source=conv.source,
        conversion=conv.status.value,
        fixes=list(conv.fixes),
        warnings=list(conv.warnings),
        **kw,
    )


def _hit_outcome(
    tenant: str, conv: SigmaConversion, query: str, res: HuntingResult
) -> SigmaHuntOutcome:
    rows = list(res.typed_rows())
    total = sum(int(r.get("Hits") or 0) for r in rows)
    firsts = [r["FirstSeen"] for r in rows if isinstance(r.get("FirstSeen"), datetime)]
    lasts = [r["LastSeen"] for r in rows if isinstance(r.get("LastSeen"), datetime)]
    return _outcome(
        tenant,
        conv,
        status=HuntStatus.HIT if total else HuntStatus.NO_HITS,
        row_count=total,
        device_names=[str(r.get("DeviceName") or "") for r in rows][:MAX_DEVICES],
        device_ids=[str(r.get("DeviceId") or "") for r in rows][:MAX_DEVICES],
        first_seen=min(firsts) if firsts else None,
        last_seen=max(lasts) if lasts else None,
        query=query,
    )


def _conversion(value: Any, field: str) -> SigmaConversion:
    """A :class:`SigmaConversion` (or its dict form); our ``ValidationError`` otherwise."""
    return check_model(value, SigmaConversion, field, "a converted Sigma rule")


@defender_task(endpoints=_ENDPOINTS)
async def run_sigma_hunts(
    credentials: DefenderCredentialsLike,
    conversions: Sequence[SigmaConversion | dict[str, Any]],
    lookback_hours: HuntLookbackHours = 24,
    surface: HuntingSurface | str | None = None,
    concurrency: Concurrency = 4,
    tenant_id: TenantId | None = None,
) -> list[SigmaHuntOutcome]:
    """Hunt converted Sigma rules over ``lookback_hours``; one outcome per rule, in order.

    The converted rules run as one batch through the client (paced under Advanced Hunting's
    45 calls a minute); each query is summarised per device (``Hits``, ``FirstSeen``,
    ``LastSeen``). A query the service rejects is ``failed`` with Defender's message; a rule
    that was not converted is ``not_run`` with its conversion reason.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.sigma import convert_sigma_rules, run_sigma_hunts

        @flow
        async def sigma_now() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rules = convert_sigma_rules(rule_paths=["examples/sigma"])
            outcomes = await run_sigma_hunts(creds, rules, lookback_hours=24)
            return [o.title for o in outcomes if o.status == "hit"]
        ```
    """
    hours = check_lookback(lookback_hours)
    # Graph unless asked (here or by the block's hunting_surface): checked before any request
    kind = check_choice(surface, HuntingSurface, "surface") if surface is not None else None
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError("concurrency: a positive integer", field="concurrency")
    convs = [_conversion(c, f"conversions[{i}]") for i, c in enumerate(conversions)]
    todo = [c for c in convs if c.ok]
    queries = {c.rule_id: hunt_query(str(c.kql), hours) for c in todo}
    for i, c in enumerate(convs):  # a bad query names its rule, before anything is sent
        if c.ok:
            check_query(queries[c.rule_id], f"conversions[{i}].kql")
    async with defender_client(credentials, tenant_id) as client:
        tenant = client.tenant_id
        results: list[HuntingResult | DefenderError] = []
        if todo:
            results = await client.hunting.run_many(
                [queries[c.rule_id] for c in todo], surface=kind, concurrency=concurrency
            )
    by_rule = {c.rule_id: r for c, r in zip(todo, results, strict=True)}
    out: list[SigmaHuntOutcome] = []
    for conv in convs:
        if not conv.ok:
            out.append(_outcome(tenant, conv, status=HuntStatus.NOT_RUN, reason=conv.reason))
            continue
        res = by_rule[conv.rule_id]
        if isinstance(res, DefenderError):
            out.append(
                _outcome(
                    tenant,
                    conv,
                    status=HuntStatus.FAILED,
                    reason=f"{res.code or type(res).__name__}: {res.message or res}",
                    query=queries[conv.rule_id],
                )
            )
        else:
            out.append(_hit_outcome(tenant, conv, queries[conv.rule_id], res))
    hits = sum(1 for o in out if o.status is HuntStatus.HIT)
    task_logger().info("tenant %s: %d Sigma hunt(s) run, %d with hits", tenant, len(todo), hits)
    return out


def _rules_for(
    convs: list[SigmaConversion], frequency: str, status: str, actions: dict[str, Any] | None
) -> list[DetectionRuleInput | ItemOutcome]:
    """Each conversion's detection rule, or its ``skipped`` outcome (not converted); a rule the
    checks refuse raises, naming it, before anything is sent."""
    out: list[DetectionRuleInput | ItemOutcome] = []
    for i, conv in enumerate(convs):
        if not conv.ok:
            reason = f"not converted ({conv.status.value}): {conv.reason}"
            out.append(ItemOutcome(item=conv.rule_id, status=OutcomeStatus.SKIPPED, reason=reason))
            continue
        try:
            out.append(
                detection_rule_from_sigma(
                    conv, frequency=frequency, status=status, automated_actions=actions
                )
            )
        except ValidationError as exc:
            raise ValidationError(f"conversions[{i}] ({conv.title}): {exc.message}") from None
    return out


@defender_task(endpoints=("graph.detection_rules.create",))
async def create_sigma_detection_rules(
    credentials: DefenderCredentialsLike,
    conversions: Sequence[SigmaConversion | dict[str, Any]],
    frequency: RuleFrequency = "PT1H",
    status: RuleStatus = "enabled",
    automated_actions: AutomatedActions | None = None,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Deploy converted Sigma rules as custom detection rules (Graph v1.0); one outcome per rule.

    Each rule is created with id ``sigma-<rule id>`` (``api.sigma``): ``succeeded`` with
    the rule id, ``already_in_progress`` when a rule with that id exists (409), ``skipped`` for
    a Sigma rule that was not converted, ``failed`` with Defender's message otherwise. The
    rules raise alerts only, unless ``automated_actions`` is given (Graph's
    ``automatedActionSet``, e.g. ``{"isolateDevices": [{"deviceIdColumn": "DeviceId"}]}``),
    which then run on every match without asking anyone.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.sigma import (
            convert_sigma_rules, create_sigma_detection_rules)

        @flow
        async def deploy_sigma() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rules = convert_sigma_rules(rule_paths=["examples/sigma"])
            outcomes = await create_sigma_detection_rules(creds, rules, frequency="PT3H")
            return [o.item for o in outcomes if o.status == "succeeded"]
        ```
    """
    convs = [_conversion(c, f"conversions[{i}]") for i, c in enumerate(conversions)]
    planned = _rules_for(convs, frequency, status, automated_actions)

    async with defender_client(credentials, tenant_id) as client:

        async def create(item: DetectionRuleInput | ItemOutcome) -> ItemOutcome:
            if isinstance(item, ItemOutcome):
                return item
            rid = str(item.rule_id)
            try:
                made = await client.detection_rules.create(item)
            except DefenderError as exc:
                if exc.status == 409:
                    return ItemOutcome(
                        item=rid, status=OutcomeStatus.ALREADY_IN_PROGRESS, reason=exc.message
                    )
                return error_outcome(rid, exc)
            return ItemOutcome(item=rid, status=OutcomeStatus.SUCCEEDED, result=made.id)

        outcomes = await run_bulk(planned, create, concurrency=4, key=_planned_key)
    made = sum(1 for o in outcomes if o.status is OutcomeStatus.SUCCEEDED)
    task_logger().info("%d Sigma rule(s): %d custom detection rule(s) created", len(convs), made)
    return outcomes


def _planned_key(item: DetectionRuleInput | ItemOutcome) -> str:
    return item.item if isinstance(item, ItemOutcome) else str(item.rule_id)
