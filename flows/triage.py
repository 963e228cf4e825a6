"""Triage: enrich an incident, score it by rules, update it, comment, and report.

Runs on a schedule (every open incident not yet triaged) or for one incident when the poller's
``defender.incident.created`` event triggers it. Each score is also emitted as the Prefect event
``defender.incident.triaged``, which the approval form of a containment started by the same
event reads (``flows/triage_watch.py``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from prefect_defender.api.errors import DefenderError
from prefect_defender.api.input_types import BlockRef, IncidentRef, LocalInt, TenantId
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.validation import check_incident_id
from prefect_defender.flows.notify import NotifyOn, notifying
from prefect_defender.flows.reports import markdown_table, write_report
from prefect_defender.flows.triage_watch import emit_triaged
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.enrichment import enrich_entities
from prefect_defender.tasks.incidents import get_incident, list_incidents, update_incident
from prefect_defender.tasks.machines import get_machines
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, error_outcome
from prefect_defender.tasks.scope import TenantScope

__all__ = ["ScoringRule", "TriageRules", "triage_incident", "triage_open_incidents"]

TRIAGED_TAG = "pd-triaged"


class ScoringRule(BaseModel):
    """Points added when every condition given matches."""

    name: str
    points: int
    severity_in: list[str] = Field(default_factory=list, description="Incident severities.")
    title_contains: str | None = Field(default=None, description="Case-insensitive text.")
    min_devices: int | None = None
    entity_type: str | None = Field(default=None, description="File, Ip, Url or User.")
    malware_file: bool = Field(default=False, description="A file Defender calls Malware.")
    device_tag: str | None = Field(default=None, description="A device carries this tag.")


def default_rules() -> list[ScoringRule]:
    """A reasonable starting rule set."""
    return [
        ScoringRule(name="high severity", points=40, severity_in=["High"]),
        ScoringRule(name="medium severity", points=20, severity_in=["Medium"]),
        ScoringRule(name="known malware file", points=30, malware_file=True),
        ScoringRule(name="ransomware in title", points=30, title_contains="ransomware"),
        ScoringRule(name="several devices", points=15, min_devices=2),
        ScoringRule(name="touches a domain controller", points=25, device_tag="DomainController"),
    ]


class TriageRules(BaseModel):
    """How an incident is scored and what happens at each level."""

    rules: list[ScoringRule] = Field(default_factory=default_rules)
    escalate_at: int = Field(default=50, description="Score from which the incident escalates.")
    assign_to: str | None = Field(default=None, description="Owner set on escalated incidents.")
    escalated_tags: list[str] = Field(default_factory=lambda: ["pd-escalated"])
    classify_malware_true_positive: bool = Field(
        default=True,
        description="Classify as TruePositive/Malware when a file is known malware.",
    )


def score(incident: Incident, facts: dict[str, Any], rules: TriageRules) -> tuple[int, list[str]]:
    """The score and the names of the rules that matched."""
    total, hits = 0, []
    entity_types = {e.entity_type for a in incident.alerts for e in a.entities}
    tags = {t.lower() for d in facts["devices"] for t in d.get("tags", [])}
    for r in rules.rules:
        conds = []
        if r.severity_in:
            conds.append(incident.severity in r.severity_in)
        if r.title_contains:
            conds.append(r.title_contains.lower() in (incident.incident_name or "").lower())
        if r.min_devices is not None:
            conds.append(len(facts["devices"]) >= r.min_devices)
        if r.entity_type:
            conds.append(r.entity_type in entity_types)
        if r.malware_file:
            conds.append(bool(facts["malware_files"]))
        if r.device_tag:
            conds.append(r.device_tag.lower() in tags)
        if conds and all(conds):
            total += r.points
            hits.append(f"{r.name} (+{r.points})")
    return total, hits


def _is_malware(result: Any) -> bool:
    """True when an enrichment result says Defender knows the file as malware."""
    file_info = getattr(result, "file", None)
    if file_info is None and isinstance(result, dict):
        file_info = result.get("file") or result.get("info")
    kind = getattr(file_info, "determination_type", None)
    if kind is None and isinstance(file_info, dict):
        kind = file_info.get("determination_type") or file_info.get("determinationType")
    return kind == "Malware"


def _detail(result: Any) -> str:
    """A one-line summary of an enrichment result."""
    parts = []
    stats = getattr(result, "stats", None)
    if stats is not None and getattr(stats, "org_prevalence", None) is not None:
        parts.append(f"prevalence {stats.org_prevalence}")
    file_info = getattr(result, "file", None)
    if file_info is not None and getattr(file_info, "determination_type", None):
        parts.append(str(file_info.determination_type))
    for name in ("alerts", "machines"):
        items = getattr(result, name, None)
        if items:
            parts.append(f"{len(items)} {name}")
    return ", ".join(parts) or "known"


async def _triage(
    scope: TenantScope, incident_id: int, rules: TriageRules, dry_run: bool
) -> dict[str, Any]:
    """Enrich, score, update (unless ``dry_run``) and report one incident."""
    client = scope.client  # every task of this run shares the scope's client
    incident = await get_incident(client, incident_id)
    files, ips, users = _entities(incident)
    enriched = (
        await enrich_entities(client, files=files, ips=ips, users=users)
        if files or ips or users
        else []
    )
    devices = await _devices(scope, incident)
    malware = [
        o.item for o in enriched if o.item.startswith("file:") and o.ok and _is_malware(o.result)
    ]
    points, hits = score(incident, {"devices": devices, "malware_files": malware}, rules)
    escalate = points >= rules.escalate_at
    # a containment started by the same event shows this on its approval form
    emit_triaged(scope.tenant, incident, points, hits, escalate, dry_run)
    lines = [
        f"Score {points} ({', '.join(hits) or 'no rule matched'}).",
        f"Devices: {', '.join(d['name'] or d['id'] for d in devices) or 'none'}.",
        f"Known malware files: {len(malware)}; IPs: {len(ips)}; users: {len(users)}.",
    ]
    update = _update(incident, rules, escalate, bool(malware), " ".join(lines))
    updated = await _apply(client, incident_id, update, dry_run)
    task_logger().info(
        "incident %s scored %d%s", incident_id, points, " -> escalated" if escalate else ""
    )
    said = [
        *lines,
        f"Update: {updated.status.value}{f' ({updated.reason})' if updated.reason else ''}.",
    ]
    await _report(scope, incident, said, escalate, dry_run, devices, enriched)
    return {
        "incident_id": incident_id,
        "tenant_id": scope.tenant,
        "status": updated.status.value,
        "reason": updated.reason,
        "score": points,
        "matched": hits,
        "escalated": escalate,
        "update": update,
        "enriched": [o.model_dump(mode="json") for o in enriched],
    }


async def _apply(
    client: Any, incident_id: int, update: dict[str, Any], dry_run: bool
) -> ItemOutcome:
    """Update the incident unless ``dry_run``: ``succeeded``, ``dry_run``, or ``skipped`` when
    the safety rails refused the write (kill switch, cap: nothing was sent, the triage goes
    on); any other error is raised."""
    item = str(incident_id)
    if dry_run:
        return ItemOutcome(item=item, status=OutcomeStatus.DRY_RUN, reason="dry run: not updated")
    try:
        await update_incident(client, incident_id, **update)
    except DefenderError as exc:
        refused = error_outcome(item, exc)
        if refused.status == OutcomeStatus.FAILED:
            raise
        return refused
    return ItemOutcome(item=item, status=OutcomeStatus.SUCCEEDED)


def _entities(incident: Incident) -> tuple[list[str], list[str], list[str]]:
    """The incident's file hashes, IP addresses and account names, each sorted, no duplicates."""
    entities = [e for a in incident.alerts for e in a.entities]
    files = sorted({h for e in entities if (h := e.sha256 or e.sha1)})
    ips = sorted({e.ip_address for e in entities if e.ip_address})
    users = sorted({e.account_name for e in entities if e.account_name})
    return files, ips, users


async def _devices(scope: TenantScope, incident: Incident) -> list[dict[str, Any]]:
    """The incident's devices as the scoring rules and the report see them (name, tags, risk,
    health, link; the error code of a device that could not be read)."""
    devices: list[dict[str, Any]] = []
    device_ids = incident.device_ids()
    for o in await get_machines(scope.client, device_ids) if device_ids else []:
        m = o.result
        if o.ok and isinstance(m, Machine):
            devices.append(
                {
                    "id": m.id,
                    "name": m.computer_dns_name,
                    "tags": m.machine_tags,
                    "risk": m.risk_score,
                    "health": m.health_status,
                    "link": scope.link("machine", m.id),
                }
            )
        else:
            code = (o.error or {}).get("code")
            devices.append({"id": o.item, "name": o.item, "tags": [], "error": code})
    return devices


def _update(
    incident: Incident, rules: TriageRules, escalate: bool, malware: bool, findings: str
) -> dict[str, Any]:
    """What the triage sets on the incident: tags and a comment, and when it escalates the
    status, the owner and (for known malware) the classification."""
    update: dict[str, Any] = {
        "tags": sorted({*incident.tags, TRIAGED_TAG, *(rules.escalated_tags if escalate else [])}),
        "comment": "prefect-defender triage: " + findings,
    }
    if escalate:
        update["status"] = "InProgress"
        if rules.assign_to:
            update["assigned_to"] = rules.assign_to
        if malware and rules.classify_malware_true_positive:
            update["classification"], update["determination"] = "TruePositive", "Malware"
    return update


async def _report(
    scope: TenantScope,
    incident: Incident,
    lines: list[str],
    escalate: bool,
    dry_run: bool,
    devices: list[dict[str, Any]],
    enriched: list[ItemOutcome],
) -> None:
    """The triage report: the findings, a table of the devices and one row per entity."""
    rows = [
        {
            "entity": o.item,
            "outcome": o.status.value,
            "detail": _detail(o.result) if o.ok else o.reason,
        }
        for o in enriched
    ]
    md_devices = markdown_table(
        [
            {
                "device": f"[{d['name']}]({d.get('link', '')})",
                "tags": ", ".join(d["tags"]),
                "risk": d.get("risk"),
                "health": d.get("health"),
            }
            for d in devices
        ],
        ["device", "tags", "risk", "health"],
    )
    await write_report(
        "defender-triage",
        f"Triage of incident {incident.incident_id}",
        [
            f"Tenant: {scope.label}",
            f"[Open the incident in Defender]({scope.link('incident', incident.incident_id)})",
            *lines,
            f"Escalated: {escalate}",
            f"Dry run: {dry_run}",
        ],
        rows,
        ["entity", "outcome", "detail"],
        # blocks of their own, so the tables render (a table inside a list item does not)
        sections=[
            f"## Devices ({len(devices)})\n\n{md_devices if devices else 'none'}",
            f"## Entities ({len(rows)})" + ("" if rows else "\n\nnone"),
        ],
    )


@notifying
@flow(name="defender-triage-incident", log_prints=True)
@checked_parameters
async def triage_incident(
    credentials: BlockRef = "defender-application-credentials/soc",
    incident_id: IncidentRef = 0,
    tenant_id: TenantId | None = None,
    rules: TriageRules | None = None,
    dry_run: bool = False,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
) -> dict[str, Any]:
    """Triage one incident: enrich, score, tag/assign/escalate, comment, report.

    Parameters:
        credentials: the credentials block, ``<block-type-slug>/<name>``.
        incident_id: the Defender XDR incident (templated from the poller's event).
        tenant_id: for a partner block, the customer tenant.
        rules: scoring rules, threshold and what escalation sets.
        dry_run: compute and report, but do not update the incident.
        notify: saved notification blocks told the outcome, e.g. ``slack-webhook/soc``.
        notify_on: ``always``, ``failure`` (or a failed item) or ``action`` (or failure).

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.triage import triage_incident

        report = asyncio.run(
            triage_incident(credentials="defender-application-credentials/soc", incident_id=1001)
        )
        assert report["escalated"]  # the seeded ransomware incident scores high
        ```
    """
    iid = check_incident_id(incident_id, "incident_id")
    async with await TenantScope.load(credentials, tenant_id) as scope:
        return await _triage(scope, iid, rules or TriageRules(), dry_run)


@notifying
@flow(name="defender-triage-open-incidents", log_prints=True)
@checked_parameters
async def triage_open_incidents(
    credentials: BlockRef = "defender-application-credentials/soc",
    tenant_id: TenantId | None = None,
    rules: TriageRules | None = None,
    max_incidents: LocalInt = 25,
    dry_run: bool = False,
    notify: list[BlockRef] | None = None,
    notify_on: NotifyOn = "always",
) -> list[dict[str, Any]]:
    """Triage every active incident not yet tagged ``pd-triaged`` (the scheduled variant).

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.triage import triage_open_incidents

        reports = asyncio.run(triage_open_incidents(
            credentials="defender-application-credentials/soc", max_incidents=5
        ))
        assert all("score" in r for r in reports)
        ```
    """
    out = []
    async with await TenantScope.load(credentials, tenant_id) as scope:
        todo = [
            i
            for i in await list_incidents(scope.client, status="Active", limit=500)
            if TRIAGED_TAG not in i.tags
        ][:max_incidents]
        for inc in todo:
            out.append(await _triage(scope, inc.incident_id, rules or TriageRules(), dry_run))
    return out
