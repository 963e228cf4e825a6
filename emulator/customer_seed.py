"""A customer tenant's deterministic machines, incidents and alerts.

Incidents, their alerts, devices and entities are consistent: every device an alert names is a
seeded machine, and the planted indicators (:data:`~.seed.IOCS`) appear in the incidents'
entities (the hunting tables plant them too), so playbooks can follow an incident to its devices
and IOCs.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect_defender.emulator.seed import IOCS, iso
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["seed_tenant_data"]

OS = [("Windows10", "10.0.19045"), ("Windows11", "10.0.22631"), ("Windows11", "10.0.26100")]
SEVERITIES = ["Informational", "Low", "Medium", "High"]
#: the accounts of the seeded (non-demo) alerts
SEED_USERS = ["jdoe", "asmith", "bwayne", "ckent", "dprince"]
TITLES = [
    ("Suspicious PowerShell command line", "Execution", "T1059.001"),
    ("Ransomware behavior detected in the file system", "Ransomware", "T1486"),
    ("Connection to a known command-and-control server", "CommandAndControl", "T1071"),
    ("Credential dumping activity observed", "CredentialAccess", "T1003"),
    ("Malicious file detected", "Malware", "T1204"),
    ("Phishing link clicked", "InitialAccess", "T1566.002"),
    ("Suspicious remote logon", "LateralMovement", "T1021"),
]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


#: the machines that are not workstations: name pattern, OS, version, device group, tags
SERVER_KINDS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "dc": (
        "{prefix}-dc{i:02d}",
        "WindowsServer2022",
        "10.0.20348",
        "Tier0",
        ("DomainController", "Tier0"),
    ),
    "srv": ("{prefix}-srv-{i:03d}", "WindowsServer2019", "10.0.17763", "Servers", ("Server",)),
    "linux": ("{prefix}-lnx-{i:03d}", "Linux", "5.15", "Servers", ("Linux",)),
    "mac": ("{prefix}-mac-{i:03d}", "macOS", "14.5", "Workstations", ()),
}


def _machine(
    rng: random.Random, tenant: Tenant, i: int, kind: str, now: datetime
) -> dict[str, Any]:
    prefix = tenant.name[:3]
    if kind in SERVER_KINDS:
        pattern, osp, ver, group, fixed_tags = SERVER_KINDS[kind]
        name, tags = pattern.format(prefix=prefix, i=i), list(fixed_tags)
    else:
        osp, ver = rng.choice(OS)
        name, group, tags = f"{prefix}-ws-{i:03d}", "Workstations", []
        if rng.random() < 0.2:
            tags = ["Finance"]
    ip = f"10.{rng.randint(1, 20)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    mid = hashlib.sha1(f"{tenant.tenant_id}/{kind}/{i}".encode()).hexdigest()  # noqa: S324 - an id
    last_seen = now - timedelta(minutes=rng.randint(1, 2880))
    return {
        "id": mid,
        "computerDnsName": f"{name}.{tenant.domain}",
        "firstSeen": iso(now - timedelta(days=rng.randint(30, 400))),
        "lastSeen": iso(last_seen),
        "osPlatform": osp,
        "osVersion": ver,
        "osProcessor": "x64",
        "version": ver.split(".")[0] if "." in ver else ver,
        "lastIpAddress": ip,
        "lastExternalIpAddress": f"198.51.100.{rng.randint(1, 254)}",
        "agentVersion": "10.8750.22621.1009",
        "osBuild": int(ver.split(".")[-1]) if ver.split(".")[-1].isdigit() else None,
        "healthStatus": rng.choices(["Active", "Inactive", "ImpairedCommunication"], [90, 7, 3])[0],
        "onboardingStatus": "Onboarded",
        "deviceValue": "High" if kind == "dc" else "Normal",
        "rbacGroupId": {"Tier0": 1, "Servers": 2, "Workstations": 3}[group],
        "rbacGroupName": group,
        "riskScore": rng.choice(["None", "Low", "Medium", "High"]),
        "exposureLevel": rng.choice(["Low", "Medium", "High"]),
        "isAadJoined": kind in ("ws", "mac"),
        "aadDeviceId": str(uuid.UUID(int=rng.getrandbits(128))),
        "machineTags": tags,
        "ipAddresses": [
            {
                "ipAddress": ip,
                "macAddress": _hex(rng, 12).upper(),
                "type": "Ethernet",
                "operationalStatus": "Up",
            }
        ],
        "_ipHistory": [{"ip": ip, "time": iso(last_seen)}],
        "isolationState": "NotIsolated",
        "restrictionState": "NotRestricted",
    }


@dataclass
class _Incident:
    """A seeded incident and what its alerts take from it."""

    record: dict[str, Any]
    first: bool
    created: datetime
    updated: datetime
    title: str
    category: str
    technique: str
    device: dict[str, Any]


def seed_tenant_data(state: EmulatorState, tenant: Tenant) -> None:
    """Machines, incidents and alerts for one customer tenant."""
    seed = int(state.config.get("seed", 1))
    rng = random.Random(f"{seed}/{tenant.name}")
    now = datetime.now(UTC).replace(microsecond=0)
    machines = _seed_machines(rng, tenant, now, int(state.config.get("machines_per_tenant", 60)))
    tenant.data["machines"] = machines
    workstations = [m for m in machines.values() if "-ws-" in m["computerDnsName"]] or list(
        machines.values()
    )
    incidents: dict[int, dict[str, Any]] = {}
    alerts: dict[str, dict[str, Any]] = {}
    count = int(state.config.get("incidents_per_tenant", 40))
    total = max(count, _bulk_count(state, tenant))
    for k in range(count):
        story = _seed_incident(rng, tenant, 1000 + k + 1, k == 0, now, workstations)
        incidents[story.record["incidentId"]] = story.record
        for a in range(2 if story.first else rng.randint(1, 2)):
            alert = _seed_alert(rng, tenant, story, a)
            alerts[alert["id"]] = alert
    for k in range(count, total):  # bulk incidents for paging tests and benchmarks: no alerts
        record = _bulk_incident(tenant, 1000 + k + 1, now, k)
        incidents[record["incidentId"]] = record
    tenant.data["incidents"] = incidents
    tenant.data["alerts"] = alerts
    tenant.counters["incident"] = 1000 + total


def _bulk_count(state: EmulatorState, tenant: Tenant) -> int:
    """Incidents the ``graph_incidents_per_tenant`` knob asks of this tenant (all customer
    tenants, or those named by ``graph_incidents_tenants``)."""
    wanted = state.config.get("graph_incidents_tenants")
    if wanted and tenant.name not in wanted:
        return 0
    return int(state.config.get("graph_incidents_per_tenant") or 0)


def _bulk_incident(tenant: Tenant, iid: int, now: datetime, k: int) -> dict[str, Any]:
    """A plain incident made without the random story (tens of thousands are made in well under
    a second): one every 13 seconds back in time, every seventh sharing its neighbour's
    update time (ties for the paging tests), severities and statuses in turn."""
    created = now - timedelta(seconds=13 * k + 3600)
    updated = created + timedelta(seconds=13 * (k % 7 != 0))
    title, category, _ = TITLES[k % len(TITLES)]
    return {
        "incidentId": iid,
        "incidentUri": f"https://security.microsoft.com/incidents/{iid}?tid={tenant.tenant_id}",
        "redirectIncidentId": None,
        "incidentName": f"{title} involving one user",
        "createdTime": _iso_fast(created),
        "lastUpdateTime": _iso_fast(updated),
        "assignedTo": None,
        "classification": "Unknown",
        "determination": "NotAvailable",
        "status": ("Active", "InProgress", "Resolved")[k % 3],
        "severity": SEVERITIES[k % len(SEVERITIES)],
        "tags": [],
        "comments": [],
        "detectionSource": "EDR",
        "description": f"{title}. Generated by the prefect-defender emulator ({category}).",
    }


def _iso_fast(t: datetime) -> str:
    """:func:`~prefect_defender.emulator.seed.iso` for a UTC datetime, without strftime."""
    return t.replace(tzinfo=None).isoformat(timespec="microseconds") + "0Z"


def _seed_machines(
    rng: random.Random, tenant: Tenant, now: datetime, n: int
) -> dict[str, dict[str, Any]]:
    """``n`` machines: two domain controllers, a server per ten, a Linux and a Mac box, the rest
    workstations."""
    machines: dict[str, dict[str, Any]] = {}
    kinds = ["dc", "dc"] + ["srv"] * max(0, n // 10) + ["linux", "mac"]
    kinds += ["ws"] * max(0, n - len(kinds))
    counters: dict[str, int] = {}
    for kind in kinds[:n] if n >= 2 else ["ws"] * n:
        counters[kind] = counters.get(kind, 0) + 1
        m = _machine(rng, tenant, counters[kind], kind, now)
        machines[m["id"]] = m
    return machines


def _seed_incident(
    rng: random.Random,
    tenant: Tenant,
    iid: int,
    first: bool,
    now: datetime,
    workstations: list[dict[str, Any]],
) -> _Incident:
    """One incident; the first is the demo's: High, Active, ransomware on a workstation."""
    sev = "High" if first else rng.choices(SEVERITIES, [15, 30, 35, 20])[0]
    status = "Active" if first or rng.random() < 0.7 else rng.choice(["InProgress", "Resolved"])
    created = now - (
        timedelta(minutes=30) if first else timedelta(minutes=rng.randint(60, 6 * 24 * 60))
    )
    # the demo incident was never updated; the others at most up to now
    updated = created if first else min(now, created + timedelta(minutes=rng.randint(0, 50)))
    title, category, technique = TITLES[1] if first else rng.choice(TITLES)
    device = workstations[0] if first else rng.choice(workstations)
    incident = {
        "incidentId": iid,
        "incidentUri": f"https://security.microsoft.com/incidents/{iid}?tid={tenant.tenant_id}",
        "redirectIncidentId": None,
        "incidentName": f"{title} on one endpoint" if first else f"{title} involving one user",
        "createdTime": iso(created),
        "lastUpdateTime": iso(updated),
        "assignedTo": None,
        "classification": "Unknown",
        "determination": "NotAvailable",
        "status": status,
        "severity": sev,
        "tags": [],
        "comments": [],
        "detectionSource": "EDR",
        "description": f"{title}. Generated by the prefect-defender emulator.",
    }
    return _Incident(incident, first, created, updated, title, category, technique, device)


def _seed_alert(rng: random.Random, tenant: Tenant, story: _Incident, a: int) -> dict[str, Any]:
    """The incident's alert number ``a`` with its user, file, IP and URL entities."""
    first, device, title = story.first, story.device, story.title
    aid = f"da{_digits(rng, 18)}_{rng.randint(10**8, 10**9)}"
    user = IOCS["account"] if first else rng.choice(SEED_USERS)
    entities = _seed_entities(rng, tenant, user, device, first)
    a_created = story.created + timedelta(minutes=a)
    sev, status = story.record["severity"], story.record["status"]
    return {
        "id": aid,
        "incidentId": story.record["incidentId"],
        "investigationId": None,
        "assignedTo": None,
        "severity": sev,
        "status": "New" if status != "Resolved" else "Resolved",
        "classification": None,
        "determination": None,
        "investigationState": "Running" if status == "Active" else "Benign",
        "detectionSource": "EDR",
        "detectorId": str(uuid.UUID(int=rng.getrandbits(128))),
        "category": story.category,
        "threatFamilyName": "Ransom:Win32/Emulated" if first else None,
        "title": title,
        "description": f"{title} on {device['computerDnsName']}.",
        "alertCreationTime": iso(a_created),
        "firstEventTime": iso(a_created - timedelta(minutes=5)),
        "lastEventTime": iso(a_created - timedelta(minutes=1)),
        "lastUpdateTime": iso(story.updated),
        "resolvedTime": None,
        "machineId": device["id"],
        "computerDnsName": device["computerDnsName"],
        "rbacGroupName": device["rbacGroupName"],
        "aadTenantId": tenant.tenant_id,
        "mitreTechniques": [story.technique],
        "relatedUser": {"userName": user, "domainName": tenant.name.upper()},
        "comments": [],
        "entities": entities,
    }


def _seed_entities(
    rng: random.Random, tenant: Tenant, user: str, device: dict[str, Any], first: bool
) -> list[dict[str, Any]]:
    """An alert's entities: its user, maybe a file, an IP and a URL (the demo's: all, the IOCs)."""
    entities: list[dict[str, Any]] = [
        {
            "entityType": "User",
            "accountName": user,
            "domainName": tenant.name.upper(),
            "userPrincipalName": f"{user}@{tenant.domain}",
        },
    ]
    if first or rng.random() < 0.5:
        entities.append(
            {
                "entityType": "File",
                "sha1": IOCS["sha1"] if first else _hex(rng, 40),
                "sha256": IOCS["sha256"] if first else _hex(rng, 64),
                "fileName": IOCS["file_name"] if first else f"tool{rng.randint(1, 99)}.exe",
                "filePath": f"C:\\Users\\{user}\\Downloads",
                "deviceId": device["id"],
            }
        )
    if first or rng.random() < 0.5:
        entities.append(
            {
                "entityType": "Ip",
                "ipAddress": IOCS["c2_ip"] if first else f"198.51.100.{rng.randint(1, 254)}",
            }
        )
    if first or rng.random() < 0.3:
        entities.append(
            {
                "entityType": "Url",
                "url": IOCS["phish_url"] if first else f"https://{_hex(rng, 8)}.example/landing",
            }
        )
    if first:
        entities.append({"entityType": "Url", "url": f"https://{IOCS['c2_domain']}/gate"})
    return entities


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))
