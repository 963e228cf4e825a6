"""The values the examples' flows take by parameter name, read from the emulator's seed (or
made there, for what the seed has none of): what a reader would pass from their own tenant."""

from __future__ import annotations

from typing import Any

from prefect_defender.emulator.seed import IOCS


async def seeded_values(
    emulator: Any, creds: Any, partner: Any, tenants: dict[str, str]
) -> dict[str, Any]:
    """Names -> values: ids of alerts, users, identities, rules, indicators, CVEs ..."""
    from prefect_defender.tasks import (
        alerts,
        graph_security,
        hunting,
        identities,
        incidents,
        indicators,
        live_response,
        machine_actions,
        machines,
        vulnerabilities,
    )

    listed = await machines.list_machines.fn(creds, limit=50)
    plain = [m.id for m in listed if not set(m.machine_tags) & {"DomainController", "Tier0"}]
    incident = await incidents.get_incident.fn(creds, 1001)
    alert = (await alerts.list_alerts.fn(creds, limit=1))[0]
    graph_alert = (await alerts.list_graph_alerts.fn(creds, limit=1))[0]
    event = (
        await hunting.run_hunting_query.fn(
            creds, "DeviceProcessEvents | project ReportId, Timestamp, DeviceId | take 1"
        )
    ).rows[0]
    identity = (await identities.list_identity_accounts.fn(creds, limit=1))[0]
    upn = "jdoe@contoso.example"
    user = await identities.get_entra_user.fn(creds, upn)
    rule = await graph_security.create_detection_rule.fn(
        creds,
        {
            "display_name": "examples: encoded PowerShell",
            "query_text": "DeviceProcessEvents | project Timestamp, DeviceId, ReportId | take 1",
            "frequency": "PT1H",
            "alert_title": "examples",
            "alert_severity": "low",
        },
    )
    indicator = await indicators.submit_indicator.fn(
        creds,
        {
            "value": "examples.evil.example",
            "type": "DomainName",
            "action": "Audit",
            "generate_alert": True,
            "title": "examples",
            "description": "examples",
        },
    )
    cve = (await vulnerabilities.list_vulnerabilities.fn(creds, limit=1))[0].id
    scan = await machine_actions.run_antivirus_scan.fn(creds, plain[5], "examples: a scan")
    package = await machine_actions.collect_investigation_package.fn(creds, plain[6], "examples")
    script = await live_response.run_script.fn(creds, plain[7], "collect_triage.ps1", "examples")
    # one action that stays Pending (decided when it is made), for cancel's example
    emulator.admin.patch_config(action_outcomes={f"{plain[-1]}/RunAntiVirusScan": "Pending"})
    pending = await machine_actions.run_antivirus_scan.fn(creds, plain[-1], "examples: pending")
    emulator.admin.patch_config(action_outcomes={})
    for done in (scan, package, script):
        await machine_actions.wait_for_machine_action.fn(creds, done.action.id, timeout=120)
    return {
        "machine_id": plain[0],
        "ids": plain[1:4],
        "machine_ids": plain[1:4],
        "incident_id": 1001,
        "incident": incident,
        "alert_id": alert.id,
        "graph_alert_id": graph_alert.id,
        "report_id": str(event["ReportId"]),
        "when": event["Timestamp"],
        "sha1": IOCS["sha1"],
        "sha256": IOCS["sha256"],
        "hashes": [IOCS["sha256"]],
        "ip": IOCS["c2_ip"],
        "domain": IOCS["c2_domain"],
        "url": IOCS["phish_url"],
        "upn": upn,
        "upns": [upn],
        "user_id": user.id,
        "identity_id": identity.id,
        "rule_id": rule.id,
        "indicator_id": indicator.id,
        "indicator_ids": [indicator.id],
        "cve": cve,
        "subject": "Invoice update",
        "action_id": scan.action.id,
        "package_action_id": package.action.id,
        "live_response_action_id": script.action.id,
        "pending_action_id": pending.action.id,
        "tenant_id": tenants["contoso"],
        "customer_tenant_id": tenants["fabrikam"],
    }
