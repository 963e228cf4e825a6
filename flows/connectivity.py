"""Connectivity check: every saved credential block lists incidents and machines.

The first thing an operator runs after creating a block: it proves the app registration,
permissions, consent (per tenant for a partner block) and network path, and reports per
tenant what worked, without failing on the first problem.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import acreate_table_artifact
from prefect.blocks.core import Block

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import DefenderError
from prefect_defender.blocks import DefenderPartnerCredentials
from prefect_defender.tasks.base import defender_task, task_logger

__all__ = ["check_tenant", "defender_connectivity_check"]


@defender_task(
    name="check-defender-tenant",
    endpoints=("xdr.incidents.list", "graph.incidents.list", "mde.machines.list"),
)
async def check_tenant(
    credentials: Any, tenant_id: str | None = None, sample: int = 25
) -> dict[str, Any]:
    """List up to ``sample`` incidents (XDR and Graph) and machines in one tenant.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.flows.connectivity import check_tenant

        @flow
        async def check() -> dict:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await check_tenant(creds)
        ```
    """
    client: DefenderClient = credentials.get_client(tenant_id)
    row: dict[str, Any] = {"tenant_id": tenant_id or getattr(credentials, "tenant_id", "")}
    try:
        async with client:
            for key, coro in (
                ("incidents", client.incidents.list(limit=sample)),
                ("graph_incidents", client.graph_incidents.list(limit=sample)),
                ("machines", client.machines.list(limit=sample)),
            ):
                try:
                    row[key] = len(await coro)
                except DefenderError as exc:
                    row[key] = None
                    row.setdefault("errors", []).append(f"{key}: {exc}")
    except DefenderError as exc:
        row.setdefault("errors", []).append(str(exc))
    row["ok"] = not row.get("errors")
    task_logger().info(
        "tenant %s: %s incidents, %s machines%s",
        row["tenant_id"],
        row.get("incidents"),
        row.get("machines"),
        "" if row["ok"] else " (with errors)",
    )
    return row


@flow(name="defender-connectivity-check", log_prints=True)
async def defender_connectivity_check(
    block_names: list[str], sample: int = 25
) -> list[dict[str, Any]]:
    """Load each credential block (``<block-type-slug>/<name>``) and check every tenant it covers.

    Example:
        ```python
        from prefect_defender.flows.connectivity import defender_connectivity_check

        defender_connectivity_check(["defender-application-credentials/soc"])
        ```
    """
    rows: list[dict[str, Any]] = []
    for name in block_names:
        creds: Any = await Block.aload(name)
        tenant_ids: list[str | None] = (
            list(creds.tenant_ids()) if isinstance(creds, DefenderPartnerCredentials) else [None]
        )
        for tid in tenant_ids:
            row = await check_tenant(creds, tid, sample)
            rows.append({"block": name, **row})
    await acreate_table_artifact(
        key="defender-connectivity",
        table=[
            {k: v for k, v in r.items() if k != "errors"}
            | {"errors": "; ".join(r.get("errors", []))}
            for r in rows
        ],
        description="Defender connectivity per block and tenant",
    )
    return rows
