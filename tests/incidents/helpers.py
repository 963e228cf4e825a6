"""Helpers of the incidents/alerts tests: an incident of their own, request counts.

Each test that writes works on an incident (with alerts on real seeded machines) created for it
through the emulator's admin API, so it never changes the seeded data other tests read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SHA1 = "356a192b7913b04c54574d18c28d46e6395428ab"
SHA256 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"


@dataclass
class OwnIncident:
    """An incident created for one test."""

    incident_id: int
    alert_ids: list[str]
    machine_ids: list[str]
    tenant_id: str
    created: datetime


def requests(stats: dict[str, Any], route: str | None = None, status: int | None = None) -> int:
    """API requests the emulator counted (token requests are counted apart)."""
    return sum(
        int(r["count"])
        for r in stats["requests"]
        if (route is None or r["route"] == route) and (status is None or int(r["status"]) == status)
    )


def make_incident(
    emu: Any, tenant_id: str, *, alerts: int = 3, severity: str = "High", user: bool = True
) -> OwnIncident:
    """An Active incident whose alerts carry file, IP, URL and user entities."""
    machines = [m for m in emu.admin.dump(tenant_id, "machines")][:alerts]
    tag = uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    stamp = (now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    specs = []
    for n, m in enumerate(machines):
        specs.append(
            {
                "id": f"da{tag}_{n}",
                "machineId": m["id"],
                "computerDnsName": m["computerDnsName"],
                "severity": severity,
                "title": f"Emulated detection {tag} #{n}",
                "category": "Execution",
                "detectionSource": "EDR",
                "firstEventTime": stamp,
                "lastEventTime": stamp,
                "mitreTechniques": ["T1059.001"],
                "relatedUser": {"userName": "jdoe", "domainName": "CONTOSO"} if user else None,
                "entities": [
                    {
                        "entityType": "File",
                        "sha1": SHA1,
                        "sha256": SHA256,
                        "fileName": "invoice_update.exe",
                        "filePath": "C:\\Users\\jdoe\\Downloads",
                        "deviceId": m["id"],
                    },
                    {"entityType": "Ip", "ipAddress": "203.0.113.66"},
                    {"entityType": "Url", "url": "https://update-check.evil.example/a"},
                    {
                        "entityType": "User",
                        "accountName": "jdoe",
                        "domainName": "CONTOSO",
                        "userPrincipalName": "jdoe@contoso.example",
                    },
                ],
            }
        )
    (inc,) = emu.admin.upsert_incidents(
        tenant_id,
        [
            {
                "incidentName": f"Test incident {tag}",
                "severity": severity,
                "status": "Active",
                "alerts": specs,
            }
        ],
    )
    return OwnIncident(
        int(inc["incidentId"]),
        [s["id"] for s in specs],
        [m["id"] for m in machines],
        tenant_id,
        now,
    )
