"""Tasks for automated investigations (AIR): list, get, start."""

from __future__ import annotations

from datetime import datetime

from prefect_defender.api.input_types import (
    AlertId,
    InvestigationComment,
    InvestigationId,
    Limit,
    MachineId,
    ODataFilterText,
    TenantId,
)
from prefect_defender.api.models.investigations import Investigation, InvestigationState
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

__all__ = ["get_investigation", "list_investigations", "start_investigation"]


@defender_task(endpoints=("mde.investigations.list",))
async def list_investigations(
    credentials: DefenderCredentialsLike,
    state: InvestigationState | str | None = None,
    machine_id: MachineId | None = None,
    triggering_alert_id: AlertId | None = None,
    started_after: datetime | None = None,
    odata_filter: ODataFilterText | None = None,
    limit: Limit | None = 1000,
    tenant_id: TenantId | None = None,
) -> list[Investigation]:
    """Automated investigations, by state, machine, triggering alert or start time.

    ``state`` is one of the documented states (``Running``, ``PendingApproval``, ``Benign``,
    ``SuccessfullyRemediated`` ...), checked before sending; ``started_after`` must be
    timezone-aware.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.investigations import list_investigations

        @flow
        async def awaiting_approval():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await list_investigations(creds, state="PendingApproval")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.investigations.list(
            state=state,
            machine_id=machine_id,
            triggering_alert_id=triggering_alert_id,
            started_after=started_after,
            odata_filter=odata_filter,
            limit=limit,
        )


@defender_task(endpoints=("mde.investigations.get",))
async def get_investigation(
    credentials: DefenderCredentialsLike,
    investigation_id: InvestigationId,
    tenant_id: TenantId | None = None,
) -> Investigation:
    """One automated investigation, by its id or by its triggering alert's id.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.investigations import get_investigation

        @flow
        async def investigation_state(alert_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return (await get_investigation(creds, alert_id)).state
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.investigations.get(investigation_id)


@defender_task(endpoints=("mde.investigations.start",))
async def start_investigation(
    credentials: DefenderCredentialsLike,
    machine_id: MachineId,
    comment: InvestigationComment,
    tenant_id: TenantId | None = None,
) -> Investigation:
    """Retired: starting an automated investigation on demand ended on 1 September 2026.

    Message Center MC1411577: AIR "will no longer support manual triggering"; "for on-demand
    investigations, administrators can use full antivirus scans". The task checks its input,
    then raises :class:`~prefect_defender.api.errors.ApiRetiredError` naming that replacement
    without sending anything; no playbook uses it. Run a Full antivirus scan instead.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.api.errors import ApiRetiredError
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.investigations import start_investigation

        @flow
        async def investigate(machine_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            try:
                await start_investigation(creds, machine_id, "Suspicious activity after IR-7")
            except ApiRetiredError as exc:
                return exc.replacement  # ('mde.actions.av_scan',)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.investigations.start(machine_id, comment)
