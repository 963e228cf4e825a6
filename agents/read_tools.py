"""The read tools: incidents and alerts (Graph), machines, accounts, file/IP/domain lookups and
machine actions. Each calls the project's task function on the tenant's shared client and
returns a bounded, typed result; nothing here writes.

Every text that comes from Defender is returned as a field value (see ``agents.schemas``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from prefect_defender.agents.runtime import answers_errors, runtime_of
from prefect_defender.agents.schemas import (
    AccountResult,
    AlertList,
    AlertSummary,
    IncidentDetail,
    IncidentList,
    IncidentSummary,
    IndicatorLookup,
    MachineActionList,
    MachineActionSummary,
    MachineList,
    MachineSummary,
    SignInSummary,
    TenantList,
    TenantSummary,
    bounded,
)
from prefect_defender.api.errors import NotFoundError
from prefect_defender.api.models.incidents import GraphAlert, GraphIncident
from prefect_defender.api.models.machine_actions import MachineAction
from prefect_defender.api.models.machines import Machine
from prefect_defender.tasks.alerts import get_graph_alert, list_graph_alerts
from prefect_defender.tasks.enrichment import (
    get_domain_stats,
    get_file_info,
    get_file_stats,
    get_ip_stats,
)
from prefect_defender.tasks.identities import describe_accounts, list_sign_ins
from prefect_defender.tasks.incidents import get_graph_incident, list_graph_incidents
from prefect_defender.tasks.machine_actions import list_machine_actions as list_actions_task
from prefect_defender.tasks.machines import (
    find_machines_by_ip,
    find_machines_by_tag,
    list_machines,
)
from prefect_defender.tasks.machines import (
    get_machine as get_machine_task,
)

__all__ = [
    "READ_TOOLS",
    "Tenant",
    "find_machines",
    "get_account",
    "get_alert",
    "get_incident",
    "get_machine",
    "list_alerts",
    "list_incidents",
    "list_machine_actions",
    "list_tenants",
    "lookup_domain",
    "lookup_file",
    "lookup_ip",
]

Tenant = Annotated[
    str | None,
    Field(
        description="The tenant, by id or display name (list_tenants names them). Required "
        "when the server acts for many tenants.",
        max_length=200,
    ),
]
Limit = Annotated[int, Field(ge=1, le=50, description="At most this many items (1-50).")]
Severity = Literal["informational", "low", "medium", "high"]


def _within(hours: int | None) -> datetime | None:
    return datetime.now(UTC) - timedelta(hours=hours) if hours else None


def _alert(a: GraphAlert, with_description: bool = True) -> AlertSummary:
    devices = [str(e["mdeDeviceId"]) for e in a.evidence if e.get("mdeDeviceId")]
    users = [
        str(u.get("userPrincipalName") or u.get("accountName"))
        for u in (e.get("userAccount") for e in a.evidence)
        if isinstance(u, dict) and (u.get("userPrincipalName") or u.get("accountName"))
    ]
    return AlertSummary(
        id=a.id,
        incident_id=a.incident_id,
        title=bounded(a.title, 500),
        severity=a.severity,
        status=a.status,
        category=a.category,
        service_source=a.service_source,
        created=a.created_date_time,
        description=bounded(getattr(a, "description", None)) if with_description else None,
        devices=list(dict.fromkeys(devices))[:50],
        users=list(dict.fromkeys(users))[:50],
        evidence_count=len(a.evidence),
        url=a.alert_web_url,
    )


def _incident(i: GraphIncident) -> IncidentSummary:
    return IncidentSummary(
        id=i.id,
        title=bounded(i.display_name, 500),
        severity=i.severity,
        status=i.status,
        classification=i.classification,
        assigned_to=i.assigned_to,
        created=i.created_date_time,
        last_update=i.last_update_date_time,
        tags=[bounded(t, 100) or "" for t in [*i.custom_tags, *i.system_tags][:30]],
        url=i.incident_web_url,
    )


def _machine(m: Machine) -> MachineSummary:
    return MachineSummary(
        id=m.id,
        name=bounded(m.computer_dns_name, 255),
        os_platform=m.os_platform,
        health_status=m.health_status,
        risk_score=m.risk_score,
        exposure_level=m.exposure_level,
        last_seen=m.last_seen,
        last_ip=m.last_ip_address,
        tags=[bounded(t, 100) or "" for t in m.machine_tags[:30]],
        device_group=m.rbac_group_name,
    )


def _action(a: MachineAction) -> MachineActionSummary:
    return MachineActionSummary(
        id=a.id,
        type=a.type,
        status=a.status,
        machine_id=a.machine_id,
        machine_name=a.computer_dns_name,
        requestor=bounded(a.requestor, 200),
        comment=bounded(a.requestor_comment, 500),
        created=a.creation_date_time_utc,
        last_update=a.last_update_date_time_utc,
    )


async def list_tenants(ctx: Context) -> TenantList:
    """The tenants this server can reach (id and display name). Pass one of them as the
    `tenant` argument of the other tools."""
    runtime = runtime_of(ctx)
    return TenantList(
        tenants=[TenantSummary(tenant_id=i, display_name=n) for i, n in runtime.tenants()],
        partner=runtime.partner,
    )


@answers_errors
async def list_incidents(
    ctx: Context,
    tenant: Tenant = None,
    severity: Severity | None = None,
    status: Literal["active", "inProgress", "resolved", "redirected", "awaitingAction"]
    | None = None,
    updated_within_hours: Annotated[int | None, Field(ge=1, le=720)] = None,
    limit: Limit = 20,
) -> IncidentList:
    """List Defender incidents (Microsoft Graph security), newest update first, without their
    alerts. Use get_incident for one incident's alerts, devices and accounts."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    found = await list_graph_incidents.fn(
        client,
        severity=severity,
        status=status,
        updated_since=_within(updated_within_hours),
        limit=limit + 1,
        page_size=limit + 1,
    )
    return IncidentList(
        tenant_id=scope.tenant,
        incidents=[_incident(i) for i in found[:limit]],
        truncated=len(found) > limit,
    )


@answers_errors
async def get_incident(
    ctx: Context,
    incident_id: Annotated[int, Field(ge=1, le=2**53, description="The incident id.")],
    tenant: Tenant = None,
) -> IncidentDetail:
    """Get one incident with its alerts (devices and accounts named in their evidence) and
    its comments."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    incident = await get_graph_incident.fn(client, incident_id, expand_alerts=True)
    return IncidentDetail(
        tenant_id=scope.tenant,
        incident=_incident(incident),
        description=bounded(incident.description),
        comments=[bounded(c.comment, 1000) or "" for c in incident.comments[-20:]],
        alerts=[_alert(a) for a in incident.alerts[:50]],
    )


@answers_errors
async def list_alerts(
    ctx: Context,
    tenant: Tenant = None,
    severity: Severity | None = None,
    status: Literal["new", "inProgress", "resolved"] | None = None,
    created_within_hours: Annotated[int | None, Field(ge=1, le=720)] = None,
    limit: Limit = 20,
) -> AlertList:
    """List Defender alerts (Microsoft Graph alerts_v2), newest first."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    found = await list_graph_alerts.fn(
        client,
        status=status,
        severity=severity,
        created_since=_within(created_within_hours),
        limit=limit + 1,
        page_size=limit + 1,
    )
    return AlertList(
        tenant_id=scope.tenant,
        alerts=[_alert(a, with_description=False) for a in found[:limit]],
        truncated=len(found) > limit,
    )


@answers_errors
async def get_alert(
    ctx: Context,
    alert_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-.:]+$")],
    tenant: Tenant = None,
) -> AlertSummary:
    """Get one alert (Microsoft Graph alerts_v2) with the devices and accounts in its
    evidence."""
    client = runtime_of(ctx).client(tenant)
    return _alert(await get_graph_alert.fn(client, alert_id))


@answers_errors
async def get_machine(
    ctx: Context,
    machine: Annotated[
        str, Field(min_length=1, max_length=255, description="Machine id or computer name.")
    ],
    tenant: Tenant = None,
) -> MachineSummary:
    """Get one device (Defender for Endpoint) by machine id or computer name."""
    client = runtime_of(ctx).client(tenant)
    return _machine(await get_machine_task.fn(client, machine))


@answers_errors
async def find_machines(
    ctx: Context,
    tenant: Tenant = None,
    name_prefix: Annotated[str | None, Field(min_length=1, max_length=255)] = None,
    ip: Annotated[str | None, Field(min_length=2, max_length=45)] = None,
    tag: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
    limit: Limit = 20,
) -> MachineList:
    """Find devices by computer-name prefix, by IP address (seen in the last 15 minutes), or by
    tag. Give exactly one of name_prefix, ip, tag."""
    given = [k for k, v in (("name_prefix", name_prefix), ("ip", ip), ("tag", tag)) if v]
    if len(given) != 1:
        raise ToolError("give exactly one of name_prefix, ip, tag")
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    if ip:
        found = await find_machines_by_ip.fn(client, ip)
    elif tag:
        found = await find_machines_by_tag.fn(client, tag)
    else:
        found = await list_machines.fn(client, name_startswith=name_prefix, limit=limit + 1)
    return MachineList(
        tenant_id=scope.tenant,
        machines=[_machine(m) for m in found[:limit]],
        truncated=len(found) > limit,
    )


@answers_errors
async def get_account(
    ctx: Context,
    user: Annotated[
        str, Field(min_length=1, max_length=320, description="UPN or Entra object id.")
    ],
    tenant: Tenant = None,
    sign_in_hours: Annotated[int, Field(ge=1, le=168)] = 24,
) -> AccountResult:
    """Get an account: its identity across providers, Entra ID state, risk level and state,
    groups, and its most recent sign-ins (at most 10)."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    (info,) = await describe_accounts.fn(client, [user])
    sign_ins: list[Any] = []
    if info.found:
        sign_ins = await list_sign_ins.fn(
            client,
            user=info.object_id or user,
            look_back_hours=sign_in_hours,
            limit=10,
        )
    return AccountResult(
        tenant_id=scope.tenant,
        user=user,
        found=info.found,
        user_principal_name=info.user_principal_name,
        display_name=bounded(info.display_name, 300),
        enabled=info.enabled,
        providers=info.providers,
        risk_level=info.risk_level,
        risk_state=info.risk_state,
        groups=[bounded(g, 200) or "" for g in info.groups[:40]],
        sign_ins=[
            SignInSummary(
                time=s.created_date_time,
                ip=s.ip_address,
                country=s.location.country_or_region if s.location else None,
                app=bounded(s.app_display_name, 200),
                succeeded=bool(s.succeeded),
            )
            for s in sign_ins[:10]
        ],
        error=bounded(info.error, 500),
    )


def _stats_fields(stats: Any) -> dict[str, Any]:
    return {
        "organization_prevalence": stats.organization_prevalence,
        "global_prevalence": stats.global_prevalence,
        "first_seen": stats.org_first_seen,
        "last_seen": stats.org_last_seen,
    }


@answers_errors
async def lookup_file(
    ctx: Context,
    file_hash: Annotated[
        str, Field(pattern=r"^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$", description="SHA-1 or SHA-256.")
    ],
    tenant: Tenant = None,
) -> IndicatorLookup:
    """Look up a file by SHA-1 or SHA-256: prevalence in the organization and worldwide,
    signer, publisher and Defender's determination."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    try:
        info = await get_file_info.fn(client, file_hash)
    except NotFoundError as exc:
        return IndicatorLookup(
            tenant_id=scope.tenant, kind="file", value=file_hash, found=False, error=str(exc)
        )
    stats = await get_file_stats.fn(client, file_hash)
    keep = ("file_type", "size", "signer", "issuer", "file_publisher", "determination_type")
    return IndicatorLookup(
        tenant_id=scope.tenant,
        kind="file",
        value=file_hash,
        found=True,
        file={k: bounded(getattr(info, k, None), 300) for k in keep},
        **_stats_fields(stats),
    )


@answers_errors
async def lookup_ip(
    ctx: Context,
    ip: Annotated[str, Field(min_length=2, max_length=45, description="IPv4 or IPv6 address.")],
    tenant: Tenant = None,
) -> IndicatorLookup:
    """Look up an IP address: how many of the organization's devices talked to it, and when
    first and last."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    stats = await get_ip_stats.fn(client, ip)
    return IndicatorLookup(
        tenant_id=scope.tenant, kind="ip", value=ip, found=True, **_stats_fields(stats)
    )


@answers_errors
async def lookup_domain(
    ctx: Context,
    domain: Annotated[str, Field(min_length=1, max_length=253, description="A domain name.")],
    tenant: Tenant = None,
) -> IndicatorLookup:
    """Look up a domain: how many of the organization's devices reached it, and when first
    and last."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    stats = await get_domain_stats.fn(client, domain)
    return IndicatorLookup(
        tenant_id=scope.tenant, kind="domain", value=domain, found=True, **_stats_fields(stats)
    )


@answers_errors
async def list_machine_actions(
    ctx: Context,
    tenant: Tenant = None,
    machine_id: Annotated[str | None, Field(pattern=r"^[0-9a-fA-F]{40}$")] = None,
    status: Literal["Pending", "InProgress", "Succeeded", "Failed", "TimeOut", "Cancelled"]
    | None = None,
    limit: Limit = 20,
) -> MachineActionList:
    """List machine actions (isolate, release, scan, collect ...) and their status, newest
    first, optionally for one machine or one status."""
    runtime = runtime_of(ctx)
    scope, client = runtime.scope(tenant), runtime.client(tenant)
    found = await list_actions_task.fn(
        client, machine_id=machine_id, status=status, limit=limit + 1
    )
    return MachineActionList(
        tenant_id=scope.tenant,
        actions=[_action(a) for a in found[:limit]],
        truncated=len(found) > limit,
    )


#: the read tools, in the order the server lists them (hunting is in agents.hunting)
READ_TOOLS = (
    list_tenants,
    list_incidents,
    get_incident,
    list_alerts,
    get_alert,
    get_machine,
    find_machines,
    get_account,
    lookup_file,
    lookup_ip,
    lookup_domain,
    list_machine_actions,
)
