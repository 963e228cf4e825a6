"""MSSP fan-out: one hunting query or one indicator baseline across every tenant of a partner
block, concurrently, with one consolidated report. A tenant that fails (no consent, throttled
past the deadline) is reported, never fatal."""

from __future__ import annotations

from typing import Any

from prefect import flow

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.indicators import BATCH, coerce_indicators
from prefect_defender.api.validation import check_guid, check_query
from prefect_defender.blocks import DefenderPartnerCredentials
from prefect_defender.flows.mssp_findings import findings_section, report_rows
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import write_report
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.mssp import sweep_client, sweep_failure
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope, TenantScopes, load_credentials
from prefect_defender.tasks.tenant_fan_out import fan_out, open_files_limit, tenant_concurrency
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["mssp_fanout"]


@notifying
@flow(name="defender-mssp-fanout", log_prints=True)
async def mssp_fanout(
    credentials: str = "defender-partner-credentials/mssp",
    query: str | None = None,
    indicator_baseline: list[dict[str, Any]] | None = None,
    tenant_ids: list[str] | None = None,
    concurrency: int = 5,
    dry_run: bool = False,
    safety: SafetyPolicy | None = None,
    notify: list[str] | None = None,
    notify_on: NotifyOn = "always",
) -> list[dict[str, Any]]:
    """Run ``query`` and/or apply ``indicator_baseline`` in every customer tenant.

    Parameters:
        credentials: a ``defender-partner-credentials/<name>`` block.
        query: an advanced hunting query (Graph ``runHuntingQuery``).
        indicator_baseline: indicators every tenant should have (created or updated).
        tenant_ids: restrict to these tenants (default: all of the block's).
        concurrency: tenants processed at the same time (each holds its own connections;
            lowered to what the process's open-file limit leaves room for).
        dry_run: report what would be imported; send no write.
        safety: the safety rails of every write (kill switch, caps, dry run); by default the
            per-run cap allows one import per tenant and batch, the hourly cap per tenant holds.
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).

    Returns one row per tenant: status, rows found, indicators submitted, error.

    Example:
        ```python
        from prefect_defender.flows.mssp import mssp_fanout

        mssp_fanout(credentials="defender-partner-credentials/mssp",
                    query='DeviceNetworkEvents | where RemoteIP == "203.0.113.66" | count')
        ```
    """
    log = task_logger()
    if query is not None:
        check_query(query)
    if tenant_ids is not None:
        if isinstance(tenant_ids, str):
            raise ValidationError("tenant_ids: expected a list of tenant ids", field="tenant_ids")
        tenant_ids = [check_guid(t, f"tenant_ids[{i}]") for i, t in enumerate(tenant_ids)]
    creds = await load_credentials(credentials)
    if not isinstance(creds, DefenderPartnerCredentials):
        raise ValidationError(
            "credentials: the MSSP fan-out needs a partner credentials block", field="credentials"
        )
    baseline = coerce_indicators(indicator_baseline or [])
    tenants = tenant_ids or creds.tenant_ids()
    writes = len(tenants) * -(-len(baseline) // BATCH)
    policy = safety or SafetyPolicy(max_actions_per_run=max(25, writes))
    policy = policy.model_copy(update={"dry_run": dry_run or policy.dry_run})
    dry_run = run_guard(policy).policy.dry_run  # every write of the fan-out passes its guard
    slots = tenant_concurrency(concurrency)
    if slots < concurrency:
        log.warning(
            "concurrency %s lowered to %s: the open-file limit (ulimit -n) is %s",
            concurrency,
            slots,
            open_files_limit(),
        )

    async def work(scope: TenantScope) -> dict[str, Any]:
        row: dict[str, Any] = {"tenant_id": scope.tenant_id, "tenant": scope.label}
        row.update(await sweep_client(scope.client, query, baseline, dry_run))
        log.info("tenant %s: %s", row["tenant"], row["status"])
        return row

    def failure(scope: TenantScope, exc: Exception) -> dict[str, Any]:
        row = {"tenant_id": scope.tenant_id, "tenant": scope.label, "rows": None}
        row.update({"indicators": None, **sweep_failure(exc)})
        log.warning("tenant %s: %s", row["tenant"], row["error"])
        return row

    async with TenantScopes(creds, tenants) as scopes:
        rows = await fan_out(scopes, work, failure, concurrency=slots)
    found = findings_section(rows)
    await write_report(
        "defender-mssp-fanout",
        "MSSP fan-out",
        [
            f"Tenants: {len(rows)}",
            f"Succeeded: {sum(r['status'] == 'ok' for r in rows)}",
            f"Failed: {sum(r['status'] == 'failed' for r in rows)}",
            f"Query: `{query}`" if query else "No query",
            f"Indicator baseline: {len(baseline)} item(s)",
        ],
        report_rows(rows, creds.admin_consent_url),
        ["tenant", "tenant_id", "status", "rows", "found", "indicators", "error"],
        appendix=[found] if found else None,
    )
    return rows
