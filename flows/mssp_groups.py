"""Beyond one worker: an MSSP sweep split into groups of tenants, each a flow run of the fan-out's
deployment on the work pool, so that several workers share a 5,000-tenant sweep, and one merged
report.

The coordinating run (:func:`run_groups`) submits one flow run per group (the deployment's own
parameters, the group's ``tenant_ids``, no further split), waits until every group run is final,
and reads each group's rows back from its table artifact
(:data:`~prefect_defender.flows.mssp_report.TABLE_KEY`), which lives in the Prefect database
whatever worker ran the group. A group run that did not complete (crashed, cancelled, its
worker lost) gives each of its tenants a failed row naming the run and its state, so the merged
report still lists every tenant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from prefect_defender.api.errors import ValidationError
from prefect_defender.flows.mssp_report import TABLE_KEY
from prefect_defender.tasks.base import task_logger

__all__ = ["GROUP_TAG", "group_rows", "run_groups", "split", "this_deployment"]

#: tag of every group run (the UI filters a sweep's groups by it)
GROUP_TAG = "defender-mssp-group"
#: row keys a table artifact holds as JSON text (lists of devices and accounts)
_LISTS = ("devices", "accounts")


def split(tenants: Sequence[str], size: int) -> list[list[str]]:
    """``tenants`` in consecutive groups of at most ``size``.

    Examples:
        >>> [len(g) for g in split([str(i) for i in range(12)], 5)]
        [5, 5, 2]
    """
    return [list(tenants[i : i + size]) for i in range(0, len(tenants), max(1, size))]


def this_deployment() -> str | None:
    """``<flow name>/<deployment name>`` of the running flow run, if it runs from a deployment."""
    from prefect.runtime import deployment, flow_run

    name = deployment.name
    return f"{flow_run.flow_name}/{name}" if name else None


async def run_groups(
    deployment: str,
    groups: list[list[str]],
    parameters: dict[str, Any],
    label: Callable[[str], str] = str,
    poll_seconds: float = 2.0,
) -> list[dict[str, Any]]:
    """Run each group as a flow run of ``deployment`` with ``parameters`` and the group's
    ``tenant_ids``; every tenant's row, group by group, once all group runs are final
    (``label``: a tenant's display name, for a group that reported nothing).

    Example:
        ```python
        # needs the mssp-fanout deployment (deployments/prefect.yaml) and a worker
        from prefect_defender.blocks import DefenderPartnerCredentials
        from prefect_defender.flows.mssp_groups import run_groups, split

        partner = await DefenderPartnerCredentials.load("mssp")
        rows = await run_groups("defender-mssp-fanout/mssp-fanout",
                                split(partner.tenant_ids(), 500), {"query": "DeviceInfo | count"})
        ```
    """
    log = task_logger()
    runs: list[FlowRun] = []
    for number, group in enumerate(groups, 1):
        try:
            run = await run_deployment(  # type: ignore[misc]
                deployment,
                parameters={**parameters, "tenant_ids": group, "group_size": None},
                timeout=0,
                tags=[GROUP_TAG],
            )
        except ValueError as exc:  # no such deployment
            raise ValidationError(
                f"group_deployment: {str(exc).splitlines()[0][:200]}", field="group_deployment"
            ) from None
        log.info("group %s/%s: %s tenants, flow run %s", number, len(groups), len(group), run.name)
        runs.append(run)
    finals = await _wait(runs, poll_seconds)
    rows: list[dict[str, Any]] = []
    for run, group in zip(finals, groups, strict=True):
        rows += await group_rows(run, group, label)
    return rows


async def _wait(runs: list[FlowRun], poll_seconds: float) -> list[FlowRun]:
    """The runs once every one of them is in a final state."""
    ids = [r.id for r in runs]
    async with get_client() as client:
        while True:
            now = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
            )
            by_id = {r.id: r for r in now}
            if all(_final(by_id.get(i)) for i in ids):
                return [by_id[i] for i in ids]
            await asyncio.sleep(poll_seconds)


def _final(run: FlowRun | None) -> bool:
    return run is not None and run.state is not None and run.state.is_final()


async def group_rows(
    run: FlowRun, group: Sequence[str], label: Callable[[str], str] = str
) -> list[dict[str, Any]]:
    """The rows a group run reported, one per tenant of ``group``: its table artifact's rows,
    or a failed row for each tenant it did not report (the run did not complete)."""
    state = run.state
    rows = await _table(run.id) if state is not None and state.is_completed() else []
    reported = {str(r.get("tenant_id")).lower(): r for r in rows}
    why = f"group run {run.name} ended {state.name if state else 'without a state'}" + (
        f": {state.message}" if state and state.message else ""
    )
    out = []
    for tenant_id in group:
        row = reported.get(tenant_id.lower())
        if row is None:
            row = {"tenant_id": tenant_id, "tenant": label(tenant_id), "status": "failed"}
            row["error"] = why
        out.append(row)
    return out


async def _table(run_id: UUID) -> list[dict[str, Any]]:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[TABLE_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            ),
            limit=1,
        )
    if not found:
        return []
    data = found[0].data
    rows = json.loads(data) if isinstance(data, str) else data
    for row in rows if isinstance(rows, list) else []:
        for key in _LISTS:
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
    return rows if isinstance(rows, list) else []
