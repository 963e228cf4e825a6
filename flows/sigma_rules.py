"""Sigma rules deployed as Defender custom detection rules (Graph v1.0).

Each run converts the Sigma rules (files, folders or texts) to Defender KQL
(:mod:`prefect_defender.api.sigma`) and creates one custom detection rule per converted rule in
each tenant (:func:`~prefect_defender.tasks.sigma.create_sigma_detection_rules`), in the v1.0
shape: ``status``, ``schedule.frequency``, MITRE ``tactics`` from the rule's ``attack.*`` tags,
``entityMappings`` for device tables. Rules that cannot be converted are reported with their
reason; a rule already deployed (same ``sigma-<id>``) is reported as existing, not duplicated.

The rules this playbook creates raise alerts only. It takes no automated actions as a
parameter: an automated action (isolate, disable a user, delete e-mail) would run on every
future match with no approval, caps or protected assets in the way, so adding one is a choice
made in code (``create_sigma_detection_rules(automated_actions=...)``), not a form field.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from prefect_defender.api.input_types import (
    BlockRef,
    RuleFrequency,
    RuleStatus,
    SigmaSources,
    TenantId,
)
from prefect_defender.api.models.graph_security import (
    DetectionRuleStatus,
    check_frequency,
    check_open_choice,
)
from prefect_defender.api.sigma import SigmaConversion
from prefect_defender.flows.reports import markdown_table
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus
from prefect_defender.tasks.scope import TenantScopes
from prefect_defender.tasks.sigma import (
    convert_sigma_rules,
    create_sigma_detection_rules,
)

__all__ = ["ARTIFACT_KEY", "sigma_detection_rules"]

ARTIFACT_KEY = "defender-sigma-detection-rules"


async def _report(rows: list[dict[str, Any]], conversions: list[SigmaConversion]) -> None:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    md = [
        "# Sigma rules as custom detection rules (Graph v1.0)",
        "",
        f"- Sigma rules: {len(conversions)}, converted: {sum(1 for c in conversions if c.ok)}",
        "- Outcomes: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"),
        "",
        markdown_table(rows, ["tenant", "rule", "status", "reason"]),
    ]
    await acreate_markdown_artifact(
        markdown="\n".join(md), key=ARTIFACT_KEY, description="Sigma detection rules"
    )


@flow(name="defender-sigma-detection-rules", log_prints=True)
@checked_parameters
async def sigma_detection_rules(
    credentials: BlockRef = "defender-application-credentials/soc",
    rule_paths: SigmaSources | None = None,
    rule_texts: SigmaSources | None = None,
    frequency: RuleFrequency = "PT1H",
    status: RuleStatus = "enabled",
    tenant_ids: list[TenantId] | None = None,
) -> dict[str, Any]:
    """Deploy Sigma rules as custom detection rules in every tenant of the credentials block.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>`` (needs Microsoft Graph
            ``CustomDetection.ReadWrite.All``).
        rule_paths: Sigma rule files, or folders searched for ``*.yml``/``*.yaml``.
        rule_texts: Sigma rules as YAML text.
        frequency: how often each rule runs, an ISO 8601 duration (``PT1H``, ``PT3H``, ``P1D``).
        status: ``enabled`` or ``disabled`` (deploy first, switch on after review).
        tenant_ids: restrict a partner block to these tenants.

    Returns one outcome per rule and tenant (``succeeded`` with the rule id,
    ``already_in_progress`` when it exists, ``skipped`` when not converted, ``failed``).

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.sigma_rules import sigma_detection_rules

        result = asyncio.run(sigma_detection_rules(
            credentials="defender-application-credentials/soc",
            rule_paths=["examples/sigma"],
            status="disabled",
        ))
        ```
    """
    check_frequency(frequency)
    check_open_choice(status, DetectionRuleStatus, "status")
    conversions: list[SigmaConversion] = convert_sigma_rules(rule_paths, rule_texts)
    rows: list[dict[str, Any]] = []
    async with await TenantScopes.load(credentials, tenant_ids) as scopes:
        for scope in scopes:
            try:
                outcomes: list[ItemOutcome] = await create_sigma_detection_rules(
                    scope.client, conversions, frequency, status
                )
            except Exception as exc:  # the tenant as a whole failed (no consent, deadline)
                task_logger().error("tenant %s: Sigma rules not deployed: %s", scope.tenant, exc)
                outcomes = [
                    ItemOutcome(item=c.rule_id, status=OutcomeStatus.FAILED, reason=str(exc))
                    for c in conversions
                ]
            label = scope.label or scope.tenant
            rows += [
                {"tenant": label, "rule": o.item, "status": o.status.value, "reason": o.reason}
                for o in outcomes
            ]
    await _report(rows, conversions)
    created = sum(1 for r in rows if r["status"] == OutcomeStatus.SUCCEEDED.value)
    task_logger().info("%d Sigma rule(s), %d detection rule(s) created", len(conversions), created)
    return {"rules": len(conversions), "created": created, "outcomes": rows}
