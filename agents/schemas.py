"""The typed results the MCP tools return (their output schemas).

Every text that comes from Defender (titles, descriptions, comments, hunting cells, names) is a
field value here, cut to a bounded length; nothing from Defender is ever put into a tool's
description or into text addressed to the agent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "AccountResult",
    "AlertList",
    "AlertSummary",
    "ColumnSummary",
    "HuntingResultOut",
    "IncidentDetail",
    "IncidentList",
    "IncidentSummary",
    "IndicatorLookup",
    "MachineActionList",
    "MachineActionSummary",
    "MachineList",
    "MachineSummary",
    "ProposalResult",
    "ProposalStatus",
    "SignInSummary",
    "TenantList",
    "TenantSummary",
    "bounded",
]

#: the longest text field a tool returns (longer Defender text is cut and marked)
MAX_TEXT = 2000


def bounded(value: Any, limit: int = MAX_TEXT) -> str | None:
    """``value`` as text of at most ``limit`` characters (``None`` stays ``None``)."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TenantSummary(BaseModel):
    """A tenant this server can reach."""

    tenant_id: str
    display_name: str | None = None


class TenantList(BaseModel):
    """The tenants an agent may name in the ``tenant`` argument of every tool."""

    tenants: list[TenantSummary]
    partner: bool = Field(description="True when every tool needs a tenant.")


class AlertSummary(BaseModel):
    """One Graph security alert (alerts_v2)."""

    id: str
    incident_id: str | None = None
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    category: str | None = None
    service_source: str | None = None
    created: datetime | None = None
    description: str | None = None
    devices: list[str] = Field(default_factory=list, description="Device ids in the evidence.")
    users: list[str] = Field(default_factory=list, description="Accounts in the evidence.")
    evidence_count: int = 0
    url: str | None = None


class IncidentSummary(BaseModel):
    """One Graph security incident, without its alerts."""

    id: str
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    classification: str | None = None
    assigned_to: str | None = None
    created: datetime | None = None
    last_update: datetime | None = None
    tags: list[str] = Field(default_factory=list)
    url: str | None = None


class IncidentList(BaseModel):
    """Incidents, newest update first."""

    tenant_id: str
    incidents: list[IncidentSummary]
    truncated: bool = Field(description="More incidents matched than were returned.")


class IncidentDetail(BaseModel):
    """One incident with its alerts and comments."""

    tenant_id: str
    incident: IncidentSummary
    description: str | None = None
    comments: list[str] = Field(default_factory=list, description="Comment texts, oldest first.")
    alerts: list[AlertSummary] = Field(default_factory=list)


class AlertList(BaseModel):
    """Alerts, newest first."""

    tenant_id: str
    alerts: list[AlertSummary]
    truncated: bool


class ColumnSummary(BaseModel):
    """The most frequent values of one column over every row the query returned."""

    column: str
    distinct: int
    top: list[tuple[str, int]] = Field(description="(value, rows) pairs, most frequent first.")


class HuntingResultOut(BaseModel):
    """A hunting query's rows, bounded; summarised by column when rows were left out."""

    tenant_id: str
    columns: list[str]
    rows: list[dict[str, Any]]
    rows_returned: int
    rows_fetched: int = Field(description="Rows the service returned (at most the fetch cap).")
    truncated: bool = Field(description="Rows were left out (see summary), or cells were cut.")
    summary: list[ColumnSummary] = Field(default_factory=list)


class MachineSummary(BaseModel):
    """One Defender for Endpoint device."""

    id: str
    name: str | None = None
    os_platform: str | None = None
    health_status: str | None = None
    risk_score: str | None = None
    exposure_level: str | None = None
    last_seen: datetime | None = None
    last_ip: str | None = None
    tags: list[str] = Field(default_factory=list)
    device_group: str | None = None


class MachineList(BaseModel):
    """Devices matching a search."""

    tenant_id: str
    machines: list[MachineSummary]
    truncated: bool


class SignInSummary(BaseModel):
    """One Entra ID sign-in."""

    time: datetime | None = None
    ip: str | None = None
    country: str | None = None
    app: str | None = None
    succeeded: bool


class AccountResult(BaseModel):
    """An account as a responder sees it: identity, state, risk and recent sign-ins."""

    tenant_id: str
    user: str
    found: bool
    user_principal_name: str | None = None
    display_name: str | None = None
    enabled: bool | None = None
    providers: list[str] = Field(default_factory=list)
    risk_level: str | None = None
    risk_state: str | None = None
    groups: list[str] = Field(default_factory=list)
    sign_ins: list[SignInSummary] = Field(default_factory=list)
    error: str | None = None


class IndicatorLookup(BaseModel):
    """What Defender knows of a file, IP address or domain in this tenant."""

    tenant_id: str
    kind: Literal["file", "ip", "domain"]
    value: str
    found: bool
    organization_prevalence: int | None = None
    global_prevalence: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    file: dict[str, Any] | None = Field(
        default=None, description="For a file: type, size, signer, publisher, determination."
    )
    error: str | None = None


class MachineActionSummary(BaseModel):
    """One machine action (isolate, scan ...) and its status."""

    id: str
    type: str | None = None
    status: str | None = None
    machine_id: str | None = None
    machine_name: str | None = None
    requestor: str | None = None
    comment: str | None = None
    created: datetime | None = None
    last_update: datetime | None = None


class MachineActionList(BaseModel):
    """Machine actions, newest first."""

    tenant_id: str
    actions: list[MachineActionSummary]
    truncated: bool


class ProposalResult(BaseModel):
    """A proposal: the playbook run an operator decides on in Prefect."""

    run_id: str
    run_url: str
    status: str = Field(description="'awaiting approval' once the run waits for the operator.")
    state: str = Field(description="The run's Prefect state.")
    playbook: str
    tenant_id: str
    dry_run: bool
    note: str = Field(description="What happens next.")


class ProposalStatus(BaseModel):
    """Where a proposal stands: waiting, decided, done; with the playbook's report."""

    run_id: str
    run_url: str
    state: str
    status: str = Field(
        description="'awaiting approval', 'running', 'completed', 'failed' or 'cancelled'."
    )
    decision: str | None = Field(default=None, description="The report's decision line.")
    report: str | None = Field(default=None, description="The playbook's report (markdown).")
