"""A connectivity check of one tenant: list a few incidents (on Graph, or on XDR when the block
asks for it) and machines.

It proves the app registration, permissions, consent and network path, and reports what
worked per API instead of failing on the first problem (the flow is
``prefect_defender.flows.connectivity``).
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.input_types import Sample, TenantId
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)

__all__ = ["check_tenant"]


@defender_task(
    name="check-defender-tenant",
    endpoints=("graph.incidents.list", "xdr.incidents.list", "mde.machines.list"),
)
async def check_tenant(
    credentials: DefenderCredentialsLike, tenant_id: TenantId | None = None, sample: Sample = 25
) -> dict[str, Any]:
    """List up to ``sample`` incidents and machines in one tenant.

    Incidents are read where the playbooks read them: Microsoft Graph, unless the block's
    ``incident_surface`` is ``xdr``. Machines come from Defender for Endpoint, which device
    actions still need (Graph has no on-demand device actions).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.connectivity import check_tenant

        @flow
        async def check() -> dict:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await check_tenant(creds)
        ```
    """
    row: dict[str, Any] = {"tenant_id": tenant_id or getattr(credentials, "tenant_id", "")}
    try:
        async with defender_client(credentials, tenant_id) as client:
            for key, coro in (
                ("incidents", client.incidents.list(limit=sample)),
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
