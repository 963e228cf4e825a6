"""Block indicators: from a list or an incident's entities, validated, with expiry and action,
for one tenant or every tenant of a partner block; one outcome per indicator and tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from prefect import flow

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.models.indicators import BATCH, IndicatorInput, coerce_indicators
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import write_report
from prefect_defender.tasks.base import ItemOutcome, OutcomeStatus, task_logger
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.indicators import import_indicators, indicators_from_entities
from prefect_defender.tasks.safety import AutomationHaltedError, SafetyPolicy, WriteGuard
from prefect_defender.tasks.scope import load_credentials, own_tenant, tenants_of

__all__ = ["PLAYBOOK_TITLE_PREFIX", "block_indicators"]

#: titles of indicators created by playbooks start with this (the release playbook finds them)
PLAYBOOK_TITLE_PREFIX = "prefect-defender"
COLUMNS = ["tenant", "indicator", "outcome", "note"]


@notifying
@flow(name="defender-block-indicators", log_prints=True)
async def block_indicators(
    credentials: str = "defender-application-credentials/soc",
    indicators: list[dict[str, Any]] | None = None,
    incident_id: int | str | None = None,
    incident_tenant_id: str | None = None,
    action: Literal["Block", "BlockAndRemediate", "Audit", "Warn", "Allowed"] = "Block",
    expires_in_days: int = 30,
    tenant_ids: list[str] | None = None,
    safety: SafetyPolicy | None = None,
    notify: list[str] | None = None,
    notify_on: NotifyOn = "always",
) -> list[dict[str, Any]]:
    """Submit indicators (500 per call) in one tenant or every tenant of a partner block.

    Parameters:
        indicators: ``{"value", "type", "title", "description", ...}`` items (``action`` and
            ``expiration_time`` default to the flow's).
        incident_id: also take the incident's files, IPs, URLs and domains (private IPs are
            reported as skipped).
        tenant_ids: for a partner block, restrict to these tenants (default: all).
        safety: dry run, caps (one import call counts as one write), kill switch.
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).

    An invalid item is reported as failed and the valid ones are still submitted; every
    indicator ends with one outcome per tenant.

    Example:
        ```python
        from prefect_defender.flows.block_indicators import block_indicators

        block_indicators(credentials="defender-partner-credentials/mssp", indicators=[
            {"value": "203.0.113.66", "type": "IpAddress", "title": "C2", "description": "IR-7"}])
        ```
    """
    log = task_logger()
    safety = safety or SafetyPolicy()
    incident_id = check_incident_id(incident_id) if incident_id else None
    creds = await load_credentials(credentials)
    from datetime import UTC, datetime

    expiry = datetime.now(UTC) + timedelta(days=expires_in_days)
    valid: list[IndicatorInput] = []
    invalid: list[ItemOutcome] = []
    for i, item in enumerate(indicators or []):
        full = {"action": action, "expiration_time": expiry, "severity": "High", **item}
        if full["action"] == "Audit":
            full.setdefault("generate_alert", True)
        full["title"] = f"{PLAYBOOK_TITLE_PREFIX}: {full.get('title', '')}".strip()
        try:
            valid.extend(coerce_indicators([full]))
        except DefenderError as exc:
            invalid.append(
                ItemOutcome(
                    item=f"[{i}] {item.get('value')}", status=OutcomeStatus.FAILED, reason=str(exc)
                )
            )
    if incident_id is not None:
        incident = await get_incident(creds, incident_id, incident_tenant_id)
        more, bad = indicators_from_entities(
            incident,
            action=action,
            expires_in=timedelta(days=expires_in_days),
            title_prefix=PLAYBOOK_TITLE_PREFIX,
        )
        valid += more
        invalid += bad
    guard = WriteGuard(safety)
    rows: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for tid in tenants_of(creds, tenant_ids):
        tenant = own_tenant(creds, tid)
        outcomes: list[ItemOutcome] = []
        for start in range(0, len(valid), BATCH):
            chunk = valid[start : start + BATCH]
            try:
                refused = await guard.admit(tenant)
            except AutomationHaltedError as exc:
                refused = exc.message
            if refused:
                outcomes += [
                    ItemOutcome(
                        item=f"{i.type.value}:{i.value}",
                        status=OutcomeStatus.SKIPPED,
                        reason=refused,
                    )
                    for i in chunk
                ]
                continue
            try:
                outcomes += await import_indicators(creds, chunk, safety.dry_run, tid)
            except DefenderError as exc:
                outcomes += [
                    ItemOutcome(
                        item=f"{i.type.value}:{i.value}",
                        status=OutcomeStatus.FAILED,
                        error=exc.to_dict(),
                        reason=str(exc),
                    )
                    for i in chunk
                ]
        outcomes += invalid
        for o in outcomes:
            rows.append(
                {
                    "tenant": tenant,
                    "indicator": o.item,
                    "outcome": o.status.value,
                    "note": o.reason or "",
                }
            )
            results.append({"tenant_id": tenant, **o.model_dump(mode="json")})
        log.info("tenant %s: %d indicator outcome(s)", tenant, len(outcomes))
    ok = sum(r["outcome"] in ("succeeded", "dry_run") for r in rows)
    await write_report(
        "defender-block-indicators",
        "Block indicators",
        [
            f"Action: {action}, expires in {expires_in_days} days",
            f"Dry run: {safety.dry_run}",
            f"Submitted: {ok}/{len(rows)}",
        ],
        rows,
        COLUMNS,
    )
    return results
