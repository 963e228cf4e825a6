"""Graph beta custom detection rules: ``/beta/security/rules/detectionRules`` (list, get,
create, update, delete); see the package docstring for the contract served."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.hunting_tables import HUNTING_TABLES
from prefect_defender.emulator.odata import parse_top_skip
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.routes.graph_incidents import next_link
from prefect_defender.emulator.routes.graph_security.bodies import bad, only, text
from prefect_defender.emulator.routes.hunting import check_names
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import Tenant

RULES = "/beta/security/rules/detectionRules"
RULE_TYPE = "microsoft.graph.security.detectionRule"
PERIODS = {"0": None, "1H": 1, "3H": 3, "12H": 12, "24H": 24}
ALERT_SEVERITIES = {"informational", "low", "medium", "high"}
ASSET_TYPES = {
    "#microsoft.graph.security.impactedDeviceAsset",
    "#microsoft.graph.security.impactedUserAsset",
    "#microsoft.graph.security.impactedMailboxAsset",
}
RULE_FIELDS = {
    "@odata.type",
    "id",
    "displayName",
    "isEnabled",
    "createdBy",
    "createdDateTime",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "detectorId",
    "queryCondition",
    "schedule",
    "lastRunDetails",
    "detectionAction",
}
READ_ONLY = {
    "id",
    "createdBy",
    "createdDateTime",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "detectorId",
    "lastRunDetails",
}
TEMPLATE_FIELDS = {
    "@odata.type",
    "title",
    "description",
    "severity",
    "category",
    "recommendedActions",
    "mitreTechniques",
    "impactedAssets",
}
TEMPLATE_UPDATABLE = TEMPLATE_FIELDS - {"mitreTechniques"}
ACTION_FIELDS = {"@odata.type", "alertTemplate", "organizationalScope", "responseActions"}
DEFAULT_PAGE = 100
MAX_TOP = 1000
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def _store(ctx: Ctx) -> dict[str, dict[str, Any]]:
    return ctx.tenant.data["detection_rules"]


def _find(ctx: Ctx) -> dict[str, Any]:
    rid = ctx.params["id"]
    rule = _store(ctx).get(rid)
    if rule is None:
        raise ApiError(404, "NotFound", f"Detection rule '{rid}' was not found.")
    return rule


def _next_run(period: str, now: datetime) -> str:
    hours = PERIODS[period]
    return iso(now if hours is None else now + timedelta(hours=hours))


def _query(cond: Any, where: str) -> str:
    cond = only(cond, {"@odata.type", "queryText", "lastModifiedDateTime"}, "queryCondition", where)
    text = cond.get("queryText")
    if not isinstance(text, str) or not text.strip():
        raise bad("queryCondition.queryText is required and must not be empty.")
    check_names(text, set(HUNTING_TABLES))
    return text


def _period(sched: Any) -> str:
    sched = only(sched, {"@odata.type", "period", "nextRunDateTime"}, "ruleSchedule", "schedule")
    period = sched.get("period")
    if period not in PERIODS:
        raise bad(
            f"Invalid schedule period '{period}'. The allowed values are: 0, 1H, 3H, 12H, 24H."
        )
    return str(period)


def _typed(items: Any, where: str, *, assets: bool) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise bad(f"'{where}' must be a collection.")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"'{where}[{i}]' must be an object.")
        kind = item.get("@odata.type")
        ok = (
            kind in ASSET_TYPES
            if assets
            else isinstance(kind, str)
            and kind.startswith("#microsoft.graph.security.")
            and kind.endswith("ResponseAction")
        )
        if not ok:
            raise bad(f"'{where}[{i}]' has an unknown or missing '@odata.type' ({kind!r}).")
        ident = item.get("identifier")
        if assets and (not isinstance(ident, str) or not _WORD.match(ident)):
            raise bad(f"'{where}[{i}].identifier' must name a column of the query's results.")
        out.append(dict(item))
    return out


def _template(tpl: Any, *, create: bool) -> dict[str, Any]:
    allowed = TEMPLATE_FIELDS if create else TEMPLATE_UPDATABLE
    tpl = only(tpl, allowed, "microsoft.graph.security.alertTemplate", "alertTemplate")
    out: dict[str, Any] = {}
    if create or "title" in tpl:
        out["title"] = text(tpl.get("title"), "alertTemplate.title", required=True)
    if create or "severity" in tpl:
        sev = tpl.get("severity")
        if sev not in ALERT_SEVERITIES:
            raise bad(
                f"Invalid alertTemplate.severity '{sev}'. Expected one of: "
                + ", ".join(sorted(ALERT_SEVERITIES))
                + "."
            )
        out["severity"] = sev
    for name in ("description", "category", "recommendedActions"):
        if name in tpl:
            out[name] = text(tpl[name], f"alertTemplate.{name}", required=False)
    if "mitreTechniques" in tpl:
        mitre = tpl["mitreTechniques"] or []
        if not isinstance(mitre, list) or not all(isinstance(m, str) for m in mitre):
            raise bad("'alertTemplate.mitreTechniques' must be a collection of strings.")
        out["mitreTechniques"] = mitre
    if "impactedAssets" in tpl:
        out["impactedAssets"] = _typed(
            tpl["impactedAssets"], "alertTemplate.impactedAssets", assets=True
        )
    return out


def _action(action: Any, *, create: bool) -> dict[str, Any]:
    action = only(action, ACTION_FIELDS, "microsoft.graph.security.detectionAction", "action")
    out: dict[str, Any] = {}
    if create or "alertTemplate" in action:
        if create and not isinstance(action.get("alertTemplate"), dict):
            raise bad("detectionAction.alertTemplate is required.")
        out["alertTemplate"] = _template(action.get("alertTemplate"), create=create)
    if "responseActions" in action:
        out["responseActions"] = _typed(
            action["responseActions"], "detectionAction.responseActions", assets=False
        )
    if "organizationalScope" in action:
        scope = action["organizationalScope"]
        if scope is not None and not isinstance(scope, dict):
            raise bad("'detectionAction.organizationalScope' must be an object or null.")
        out["organizationalScope"] = scope
    return out


@api("GET", RULES, surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.list"])
async def list_rules(ctx: Ctx) -> Response:
    """Every rule of the tenant, ``$top`` (default 100) pages linked by ``@odata.nextLink``."""
    top, skip = parse_top_skip(ctx.query, MAX_TOP, DEFAULT_PAGE)
    with ctx.state.lock:
        rows = sorted(_store(ctx).values(), key=lambda r: int(r["id"]))
        page = [dict(r) for r in rows[skip : skip + top]]
    body: dict[str, Any] = {
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#security/rules/detectionRules",
        "value": page,
    }
    if skip + top < len(rows):
        extra = {k: v for k, v in ctx.query.items() if k not in ("$top", "$skip")}
        body["@odata.nextLink"] = next_link(ctx, skip + top, top, extra)
    return JSONResponse(body)


@api("GET", RULES + "/{id}", surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.get"])
async def get_rule(ctx: Ctx) -> Response:
    """One rule; 404 for an unknown id."""
    with ctx.state.lock:
        return JSONResponse(dict(_find(ctx)))


@api("POST", RULES, surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.create"])
async def create_rule(ctx: Ctx) -> Response:
    """Create a rule: 201 with the stored rule."""
    body = only(await ctx.body(), RULE_FIELDS, RULE_TYPE, "body")
    name = text(body.get("displayName"), "displayName", required=True)
    enabled = body.get("isEnabled", True)
    if not isinstance(enabled, bool):
        raise bad("'isEnabled' must be a Boolean.")
    query = _query(body.get("queryCondition"), "queryCondition")
    period = _period(body.get("schedule"))
    action = _action(body.get("detectionAction"), create=True)
    tpl = action["alertTemplate"]
    tpl.setdefault("description", None)
    tpl.setdefault("category", None)
    tpl.setdefault("recommendedActions", None)
    tpl.setdefault("mitreTechniques", [])
    tpl.setdefault("impactedAssets", [])
    action.setdefault("organizationalScope", None)
    action.setdefault("responseActions", [])
    now = datetime.now(UTC)
    with ctx.state.lock:
        rid = str(ctx.tenant.next_id("detection_rule", 35_001))
        rule = _rule_record(
            rid, name, enabled, query, period, action, ctx.caller, now, now, str(uuid.uuid4())
        )
        _store(ctx)[rid] = rule
        return JSONResponse(dict(rule), status_code=201)


@api("PATCH", RULES + "/{id}", surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.update"])
async def update_rule(ctx: Ctx) -> Response:
    """Change the updatable properties given: 200 with the updated rule."""
    body = await ctx.body()
    for key in body:
        if key in READ_ONLY:
            raise bad(f"The property '{key}' is read-only and cannot be updated.")
    body = only(body, RULE_FIELDS, RULE_TYPE, "body")
    if not body:
        raise bad("The request body must name at least one property to update.")
    changes: dict[str, Any] = {}
    if "displayName" in body:
        changes["displayName"] = text(body["displayName"], "displayName", required=True)
    if "isEnabled" in body:
        if not isinstance(body["isEnabled"], bool):
            raise bad("'isEnabled' must be a Boolean.")
        changes["isEnabled"] = body["isEnabled"]
    query = _query(body["queryCondition"], "queryCondition") if "queryCondition" in body else None
    period = _period(body["schedule"]) if "schedule" in body else None
    action = _action(body["detectionAction"], create=False) if "detectionAction" in body else None
    now = datetime.now(UTC)
    with ctx.state.lock:
        rule = _find(ctx)
        rule.update(changes)
        if query is not None:
            rule["queryCondition"] = {"queryText": query, "lastModifiedDateTime": iso(now)}
        if period is not None:
            rule["schedule"] = {"period": period, "nextRunDateTime": _next_run(period, now)}
        if action is not None:
            current = rule["detectionAction"]
            current["alertTemplate"].update(action.pop("alertTemplate", {}))
            current.update(action)
        rule["lastModifiedDateTime"] = iso(now)
        rule["lastModifiedBy"] = ctx.caller
        return JSONResponse(json.loads(json.dumps(rule)))


@api(
    "DELETE", RULES + "/{id}", surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.delete"]
)
async def delete_rule(ctx: Ctx) -> Response:
    """Delete a rule: 204; 404 for an unknown id."""
    with ctx.state.lock:
        _find(ctx)
        del _store(ctx)[ctx.params["id"]]
    return Response(status_code=204)


def _rule_record(
    rid: str,
    name: str | None,
    enabled: bool,
    query: str,
    period: str,
    action: dict[str, Any],
    author: str,
    created: datetime,
    now: datetime,
    detector: str,
) -> dict[str, Any]:
    """A stored rule as the service answers it, made by ``author`` at ``created``, not run yet."""
    return {
        "@odata.type": "#" + RULE_TYPE,
        "id": rid,
        "displayName": name,
        "isEnabled": enabled,
        "createdBy": author,
        "createdDateTime": iso(created),
        "lastModifiedDateTime": iso(created),
        "lastModifiedBy": author,
        "detectorId": detector,
        "queryCondition": {"queryText": query, "lastModifiedDateTime": None},
        "schedule": {"period": period, "nextRunDateTime": _next_run(period, now)},
        "lastRunDetails": {
            "lastRunDateTime": None,
            "status": None,
            "failureReason": None,
            "errorCode": None,
        },
        "detectionAction": action,
    }


#: the two portal-made rules of every tenant: name, enabled, query, period, alert title,
#: severity, category, MITRE techniques
SEEDED_RULES = [
    (
        "Encoded PowerShell command line",
        True,
        "DeviceProcessEvents | where ProcessCommandLine has '-enc' "
        "| project Timestamp, DeviceId, ReportId",
        "1H",
        "Encoded PowerShell",
        "medium",
        "Execution",
        ["T1059.001"],
    ),
    (
        "Logon from a known scanner",
        False,
        "DeviceLogonEvents | where RemoteIP == '198.51.100.200' "
        "| project Timestamp, DeviceId, ReportId",
        "24H",
        "Logon from scanner IP",
        "low",
        "InitialAccess",
        [],
    ),
]


def seed_rules(tenant: Tenant, now: datetime) -> None:
    """The tenant's :data:`SEEDED_RULES`, made two weeks ago by the SOC lead."""
    author = f"soc-lead@{tenant.domain}"
    store = tenant.data["detection_rules"]
    for name, enabled, query, period, title, severity, category, mitre in SEEDED_RULES:
        rid = str(tenant.next_id("detection_rule", 35_001))
        created = now - timedelta(days=14)
        rule = _rule_record(
            rid,
            name,
            enabled,
            query,
            period,
            {
                "alertTemplate": {
                    "title": title,
                    "description": f"{title} (seeded by the emulator)",
                    "severity": severity,
                    "category": category,
                    "recommendedActions": None,
                    "mitreTechniques": mitre,
                    "impactedAssets": [
                        {
                            "@odata.type": "#microsoft.graph.security.impactedDeviceAsset",
                            "identifier": "deviceId",
                        }
                    ],
                },
                "organizationalScope": None,
                "responseActions": [],
            },
            author,
            created,
            now,
            str(uuid.UUID(int=int(rid))),
        )
        if enabled:  # seeded rules have run half an hour ago
            rule["lastRunDetails"].update(
                lastRunDateTime=iso(now - timedelta(minutes=30)), status="completed"
            )
        store[rid] = rule
