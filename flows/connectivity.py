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

from prefect_defender.api.input_types import BlockRef, Sample
from prefect_defender.blocks import DefenderPartnerCredentials
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.connectivity import check_tenant

__all__ = ["defender_connectivity_check"]


@flow(name="defender-connectivity-check", log_prints=True)
@checked_parameters
async def defender_connectivity_check(
    block_names: list[BlockRef], sample: Sample = 25
) -> list[dict[str, Any]]:
    """Load each credential block (``<block-type-slug>/<name>``) and check every tenant it covers.

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.connectivity import defender_connectivity_check

        rows = asyncio.run(defender_connectivity_check(["defender-application-credentials/soc"]))
        print(rows[0])  # incidents and machines listed, or the errors met
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
