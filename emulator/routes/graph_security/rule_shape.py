"""The v1.0 shape of a custom detection rule's body, checked as Graph checks it: unknown (and
removed) properties refused with Graph's "does not exist on type" 400, required ones named.

Read on Microsoft Graph, December 2026:

* v1.0 create https://learn.microsoft.com/graph/api/security-rulesroot-post-detectionrules?view=graph-rest-1.0:
  ``id`` (client-provided), ``displayName``, ``queryCondition``, ``schedule`` and
  ``detectionAction`` required, ``description`` optional, ``status`` (enabled, disabled,
  autoDisabled); the beta page of the same operation marks ``status`` required too.
* v1.0 resource security-detectionrule: no ``isEnabled``, ``detectorId`` or ``lastRunDetails``
  ("Runtime execution details aren't exposed in the v1.0 API", the beta page says).
* v1.0 security-automatedaction (seven derived types) and security-isolatedeviceaction
  (``deviceIdColumn``, ``isolationType`` full/selective).
* beta views (2026-06-20) of automatedActionSet, alertTemplate, ruleSchedule,
  entityMappingConfiguration, mitreTactic and mitreTechnique, whose non-deprecated properties are
  the v1.0 ones; the properties they mark "will be removed on 2026-10-01" (``period``,
  ``nextRunDateTime``, ``category``, ``mitreTechniques``, ``impactedAssets``,
  ``responseActions``, ``isEnabled``) are refused here as properties the type no longer has.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from prefect_defender.emulator.routes.graph_security.bodies import bad, only, text

__all__ = [
    "ACTION_PROPERTIES",
    "RULE_TYPE",
    "action_body",
    "duration",
    "rule_id",
    "status",
]

RULE_TYPE = "microsoft.graph.security.detectionRule"
STATUSES = {"enabled", "disabled", "autoDisabled"}
ALERT_SEVERITIES = {"informational", "low", "medium", "high"}
TEMPLATE_FIELDS = {
    "@odata.type",
    "title",
    "description",
    "severity",
    "recommendedActions",
    "tactics",
    "entityMappings",
    "customDetails",
}
ACTION_FIELDS = {"@odata.type", "alertTemplate", "automatedActions", "organizationalScope"}
_FILE = {"sha1Column", "sha256Column", "deviceGroupNames"}
_DEVICE = {"deviceIdColumn"}
_EMAIL = {"networkMessageIdColumn", "recipientColumn"}
_SID = {"accountSidColumn"}
#: automatedActionSet's collections and the properties of their action types
ACTION_PROPERTIES: dict[str, set[str]] = {
    "allowFiles": _FILE,
    "blockFiles": _FILE,
    "collectInvestigationPackages": _DEVICE,
    "disableUsers": _SID,
    "forceUserPasswordResets": _SID,
    "hardDeleteEmails": _EMAIL,
    "initiateInvestigations": _DEVICE,
    "isolateDevices": {"deviceIdColumn", "isolationType"},
    "markUsersAsCompromised": {"accountObjectIdColumn"},
    "moveEmailsToDeletedItems": _EMAIL,
    "moveEmailsToInbox": _EMAIL,
    "moveEmailsToJunk": _EMAIL,
    "restrictAppExecutions": _DEVICE,
    "runAntivirusScans": _DEVICE,
    "softDeleteEmails": _EMAIL,
    "stopAndQuarantineFiles": {"deviceIdColumn", "sha1Column"},
}
ENTITY_MAPPINGS = {
    "accounts",
    "amazonResources",
    "azureResources",
    "cloudApplications",
    "dns",
    "files",
    "googleCloudResources",
    "hosts",
    "ips",
    "mailboxes",
    "mailClusters",
    "mailMessages",
    "oAuthApplications",
    "processes",
    "registryValues",
    "securityGroups",
    "urls",
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_TECHNIQUE = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")


def rule_id(value: Any) -> str:
    """The client-provided ``id`` (required on create)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise bad("'id' is required: a client-provided identifier of letters, digits, . _ -.")
    return value


def status(value: Any) -> str:
    """``detectionRuleStatus``."""
    if value not in STATUSES:
        raise bad(f"Invalid value '{value}' for 'status'. Expected one of: enabled, disabled.")
    return str(value)


def duration(sched: Any) -> timedelta:
    """``schedule.frequency``: an ISO 8601 duration greater than zero."""
    sched = only(
        sched, {"@odata.type", "frequency"}, "microsoft.graph.security.ruleSchedule", "schedule"
    )
    raw = sched.get("frequency")
    match = _DURATION.match(raw) if isinstance(raw, str) else None
    if match is None or raw in ("P", "PT") or raw.endswith("T"):
        raise bad(f"Cannot convert the literal '{raw}' to the expected type 'Edm.Duration'.")
    d, h, m, s = (int(g or 0) for g in match.groups())
    delta = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if delta <= timedelta(0):
        raise bad("'schedule.frequency' must be greater than zero.")
    return delta


def _columns(item: Any, allowed: set[str], type_name: str, where: str) -> dict[str, Any]:
    item = only(item, allowed | {"@odata.type"}, type_name, where)
    out = {k: v for k, v in item.items() if k != "@odata.type"}
    for key, value in out.items():
        if key.endswith("Column") and (not isinstance(value, str) or not _COLUMN.match(value)):
            raise bad(f"'{where}.{key}' must name a column of the query's results.")
    if not any(k.endswith("Column") for k in out):
        raise bad(f"'{where}' names no column of the query's results.")
    return out


def _collection(items: Any, where: str) -> list[Any]:
    if not isinstance(items, list):
        raise bad(f"'{where}' must be a collection.")
    return items


def automated_actions(value: Any) -> dict[str, Any]:
    """``automatedActionSet``: the documented collections of the documented action types."""
    where = "detectionAction.automatedActions"
    value = only(
        value,
        set(ACTION_PROPERTIES) | {"@odata.type"},
        "microsoft.graph.security.automatedActionSet",
        where,
    )
    out: dict[str, Any] = {}
    for name, items in value.items():
        if name == "@odata.type":
            continue
        actions = []
        for i, item in enumerate(_collection(items, f"{where}.{name}")):
            here = f"{where}.{name}[{i}]"
            action = _columns(
                item, ACTION_PROPERTIES[name], "microsoft.graph.security.automatedAction", here
            )
            if name == "isolateDevices" and action.get("isolationType", "full") not in (
                "full",
                "selective",
            ):
                raise bad(f"Invalid value '{action['isolationType']}' for '{here}.isolationType'.")
            actions.append(action)
        out[name] = actions
    return out


def entity_mappings(value: Any) -> dict[str, Any]:
    """``entityMappingConfiguration``: collections of ``...Column`` mappings."""
    where = "alertTemplate.entityMappings"
    value = only(
        value,
        ENTITY_MAPPINGS | {"@odata.type"},
        "microsoft.graph.security.entityMappingConfiguration",
        where,
    )
    out: dict[str, Any] = {}
    for name, items in value.items():
        if name == "@odata.type":
            continue
        mapped = []
        for i, item in enumerate(_collection(items, f"{where}.{name}")):
            if not isinstance(item, dict):
                raise bad(f"'{where}.{name}[{i}]' must be an object.")
            mapped.append(
                _columns(item, set(item) - {"@odata.type"}, "entityMapping", f"{where}.{name}[{i}]")
            )
        out[name] = mapped
    return out


def tactics(value: Any) -> list[dict[str, Any]]:
    """``mitreTactic`` collection. The mitreTechnique page spells a sub-technique in
    ``subTechniques``; the create example puts ``T1059.001`` in ``technique``: both accepted."""
    out = []
    for i, item in enumerate(_collection(value, "alertTemplate.tactics")):
        where = f"alertTemplate.tactics[{i}]"
        item = only(
            item,
            {"@odata.type", "tactic", "techniques"},
            "microsoft.graph.security.mitreTactic",
            where,
        )
        tactic = text(item.get("tactic"), f"{where}.tactic", required=True)
        techniques = []
        for j, t in enumerate(_collection(item.get("techniques") or [], f"{where}.techniques")):
            t = only(
                t,
                {"@odata.type", "technique", "subTechniques"},
                "microsoft.graph.security.mitreTechnique",
                f"{where}.techniques[{j}]",
            )
            ids = [t.get("technique"), *(t.get("subTechniques") or [])]
            if not all(isinstance(x, str) and _TECHNIQUE.match(x) for x in ids):
                raise bad(f"'{where}.techniques[{j}]' is not a MITRE ATT&CK technique.")
            techniques.append({k: v for k, v in t.items() if k != "@odata.type"})
        out.append({"tactic": tactic, "techniques": techniques})
    return out


def template(tpl: Any, *, create: bool) -> dict[str, Any]:
    """``alertTemplate`` (title and severity required on create)."""
    tpl = only(tpl, TEMPLATE_FIELDS, "microsoft.graph.security.alertTemplate", "alertTemplate")
    out: dict[str, Any] = {}
    if create or "title" in tpl:
        out["title"] = text(tpl.get("title"), "alertTemplate.title", required=True)
    if create or "severity" in tpl:
        if tpl.get("severity") not in ALERT_SEVERITIES:
            raise bad(
                f"Invalid alertTemplate.severity '{tpl.get('severity')}'. Expected one of: "
                + ", ".join(sorted(ALERT_SEVERITIES))
                + "."
            )
        out["severity"] = tpl["severity"]
    for name in ("description", "recommendedActions"):
        if name in tpl:
            out[name] = text(tpl[name], f"alertTemplate.{name}", required=False)
    if "tactics" in tpl:
        out["tactics"] = tactics(tpl["tactics"])
    if "entityMappings" in tpl:
        out["entityMappings"] = (
            None if tpl["entityMappings"] is None else entity_mappings(tpl["entityMappings"])
        )
    if "customDetails" in tpl:
        out["customDetails"] = tpl["customDetails"]
    return out


def action_body(action: Any, *, create: bool) -> dict[str, Any]:
    """``detectionAction`` (its ``alertTemplate`` required on create)."""
    action = only(
        action, ACTION_FIELDS, "microsoft.graph.security.detectionAction", "detectionAction"
    )
    out: dict[str, Any] = {}
    if create or "alertTemplate" in action:
        if create and not isinstance(action.get("alertTemplate"), dict):
            raise bad("detectionAction.alertTemplate is required.")
        out["alertTemplate"] = template(action.get("alertTemplate"), create=create)
    if "automatedActions" in action:
        out["automatedActions"] = automated_actions(action["automatedActions"] or {})
    if "organizationalScope" in action:
        scope = action["organizationalScope"]
        if scope is not None and not isinstance(scope, dict):
            raise bad("'detectionAction.organizationalScope' must be an object or null.")
        out["organizationalScope"] = scope
    return out
