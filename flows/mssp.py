"""MSSP fan-out: one hunting query or one indicator baseline across every tenant of a partner
block, concurrently, with one consolidated report. A tenant that fails (no consent, throttled
past the deadline, out of files or memory) is reported, never fatal. Open clients and sockets
are bounded by the concurrency (``tasks.tenant_fan_out``); past one worker, the tenants split
into groups that run as flow runs on the work pool (``flows.mssp_groups``); the report stays
readable at any size (``flows.mssp_report``)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    BlockRef,
    DeploymentRef,
    IndicatorSpecs,
    KqlQuery,
    LocalFile,
    LocalInt,
    TenantId,
)
from prefect_defender.api.models.indicators import BATCH, IndicatorInput, coerce_indicators
from prefect_defender.api.validation import check_guid, check_query
from prefect_defender.blocks import DefenderPartnerCredentials
from prefect_defender.flows.decision_context import md_text
from prefect_defender.flows.mssp_groups import run_groups, split, this_deployment
from prefect_defender.flows.mssp_report import write_fanout_report
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.mssp import sweep_client, sweep_failure
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope, TenantScopes, load_credentials
from prefect_defender.tasks.tenant_fan_out import fan_out, open_files_limit, tenant_concurrency
from prefect_defender.tasks.write_rails import run_guard

__all__ = ["mssp_fanout"]


@notifying
@flow(name="defender-mssp-fanout", log_prints=True)
@checked_parameters
async def mssp_fanout(
    credentials: BlockRef = "defender-partner-credentials/mssp",
    query: KqlQuery | None = None,
    indicator_baseline: IndicatorSpecs | None = None,
    tenant_ids: list[TenantId] | None = None,
    concurrency: LocalInt = 5,
    dry_run: bool = False,
    safety: SafetyPolicy | None = None,
    group_size: LocalInt | None = None,
    group_deployment: DeploymentRef | None = None,
    export_dir: LocalFile | None = None,
    notify: list[BlockRef] | None = None,
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
        group_size: more tenants than this are split into groups of this size, each run as a
            flow run of ``group_deployment`` on its work pool (several workers share the
            sweep); this run waits for them and writes one merged report. Empty: no groups.
        group_deployment: ``<flow>/<deployment>`` the groups run as (default: this run's own
            deployment).
        export_dir: a directory for the report as CSV and JSON lines (on this run's machine).
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).

    Returns one row per tenant, by display name: status, rows and what they named, indicators
    submitted, the whole error and, without consent, the consent link. The report
    (``flows.mssp_report``): a short summary artifact, every tenant in a table artifact.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.mssp import mssp_fanout

        rows = asyncio.run(mssp_fanout(
            credentials="defender-partner-credentials/mssp",
            query='DeviceNetworkEvents | where RemoteIP == "203.0.113.66" | count',
        ))
        assert all(r["status"] in ("ok", "failed") for r in rows)  # a row per customer tenant
        ```
    """
    if query is not None:
        check_query(query)
    tenant_ids = _checked_tenants(tenant_ids)
    if group_size is not None and (isinstance(group_size, bool) or group_size < 0):
        raise ValidationError(
            "group_size: expected a positive number of tenants", field="group_size"
        )
    creds = await load_credentials(credentials)
    if not isinstance(creds, DefenderPartnerCredentials):
        raise ValidationError(
            "credentials: the MSSP fan-out needs a partner credentials block", field="credentials"
        )
    baseline = coerce_indicators(indicator_baseline or [])
    tenants = tenant_ids or creds.tenant_ids()
    lines = [
        f"Query: {md_text(query, 1000, breaks=False)}" if query else "No query",
        f"Indicator baseline: {len(baseline)} item(s)" + (" (dry run)" if dry_run else ""),
    ]
    if group_size and len(tenants) > group_size:
        deployment = group_deployment or this_deployment()
        if not deployment:
            raise ValidationError(
                "group_size: groups run as flow runs of a deployment: run this flow from one "
                "or name it in group_deployment",
                field="group_deployment",
            )
        groups = split(tenants, group_size)
        lines.append(f"Groups: {len(groups)} flow runs of {deployment}, {group_size} tenants each")
        given: dict[str, Any] = {"credentials": credentials, "query": query}
        given |= {"concurrency": concurrency}
        given |= {"indicator_baseline": indicator_baseline, "dry_run": dry_run}
        given |= {"safety": safety.model_dump() if safety else None}
        rows = await run_groups(deployment, groups, given, creds.display_name)
    else:
        rows = await _sweep(creds, tenants, query, baseline, concurrency, dry_run, safety)
    run_id = flow_run.id or "local"
    report = await write_fanout_report(
        rows,
        lines,
        consent_url=creds.admin_consent_url,
        export_dir=export_dir,
        export_stem=f"mssp-fanout-{run_id}",
    )
    return report.rows


def _checked_tenants(tenant_ids: Any) -> list[str] | None:
    if tenant_ids is None:
        return None
    if isinstance(tenant_ids, str):
        raise ValidationError("tenant_ids: expected a list of tenant ids", field="tenant_ids")
    return [str(check_guid(t, f"tenant_ids[{i}]")) for i, t in enumerate(tenant_ids)]


async def _sweep(
    creds: DefenderPartnerCredentials,
    tenants: list[str],
    query: str | None,
    baseline: list[IndicatorInput],
    concurrency: int,
    dry_run: bool,
    safety: SafetyPolicy | None,
) -> list[dict[str, Any]]:
    """Every tenant's row, ``concurrency`` tenants at a time in this process."""
    log = task_logger()
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
        return await fan_out(scopes, work, failure, concurrency=slots)
