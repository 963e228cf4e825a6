"""Graph v1.0 custom detection rules: ``/v1.0/security/rules/detectionRules`` (list, get,
create, update, delete); the body's shape is checked by :mod:`.rule_shape`, see the package
docstring for the contract served."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.hunting_tables import HUNTING_TABLES
from prefect_defender.emulator.odata import parse_top_skip
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.routes.graph_paging import next_link
from prefect_defender.emulator.routes.graph_security.bodies import bad, only, text
from prefect_defender.emulator.routes.graph_security.rule_shape import (
    RULE_TYPE,
    action_body,
    duration,
    rule_id,
    status,
)
from prefect_defender.emulator.routes.hunting import check_names
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import Tenant

RULES = "/v1.0/security/rules/detectionRules"
#: the v1.0 detectionRule's properties (no isEnabled, detectorId or lastRunDetails any more)
RULE_FIELDS = {
    "@odata.type",
    "id",
    "displayName",
    "description",
    "status",
    "createdBy",
    "createdDateTime",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "queryCondition",
    "schedule",
    "detectionAction",
}
#: metadata the service sets; ignored on create, refused on update
READ_ONLY = {"createdBy", "createdDateTime", "lastModifiedBy", "lastModifiedDateTime"}
DEFAULT_PAGE = 100
MAX_TOP = 1000


def _store(ctx: Ctx) -> dict[str, dict[str, Any]]:
    return ctx.tenant.data["detection_rules"]


def _find(ctx: Ctx) -> dict[str, Any]:
    rid = ctx.params["id"]
    rule = _store(ctx).get(rid)
    if rule is None:
        raise ApiError(404, "NotFound", f"Detection rule '{rid}' was not found.")
    return rule


def _query(cond: Any) -> str:
    cond = only(
        cond,
        {"@odata.type", "queryText", "lastModifiedDateTime"},
        "microsoft.graph.security.queryCondition",
        "queryCondition",
    )
    query = cond.get("queryText")
    if not isinstance(query, str) or not query.strip():
        raise bad("queryCondition.queryText is required and must not be empty.")
    check_names(query, set(HUNTING_TABLES))
    return query


def _required(body: dict[str, Any]) -> None:
    for name in ("id", "displayName", "status", "queryCondition", "schedule", "detectionAction"):
        if body.get(name) is None:
            raise bad(f"The property '{name}' is required when creating a detectionRule.")


@api("GET", RULES, surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.list"])
async def list_rules(ctx: Ctx) -> Response:
    """Every rule of the tenant, ``$top`` (default 100) pages linked by ``@odata.nextLink``."""
    top, skip = parse_top_skip(ctx.query, MAX_TOP, DEFAULT_PAGE)
    with ctx.state.lock:
        rows = sorted(_store(ctx).values(), key=lambda r: (r["createdDateTime"], r["id"]))
        page = [copy.deepcopy(r) for r in rows[skip : skip + top]]
    body: dict[str, Any] = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/rules/detectionRules",
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
        return JSONResponse(copy.deepcopy(_find(ctx)))


@api("POST", RULES, surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.create"])
async def create_rule(ctx: Ctx) -> Response:
    """Create a rule: 201 with the stored rule (409 when its id is taken)."""
    body = only(await ctx.body(), RULE_FIELDS, RULE_TYPE, "body")
    _required(body)
    rid = rule_id(body["id"])
    name = text(body.get("displayName"), "displayName", required=True)
    state = status(body["status"])
    query = _query(body["queryCondition"])
    duration(body["schedule"])
    action = action_body(body["detectionAction"], create=True)
    action.setdefault("automatedActions", {})
    action.setdefault("organizationalScope", None)
    now = datetime.now(UTC)
    with ctx.state.lock:
        if rid in _store(ctx):
            raise ApiError(409, "Conflict", f"A detection rule with id '{rid}' already exists.")
        rule = _rule_record(rid, name, state, query, body["schedule"]["frequency"], action)
        rule.update(_stamp(ctx.caller, now, created=True))
        rule["description"] = text(body.get("description"), "description", required=False)
        _store(ctx)[rid] = rule
        return JSONResponse(copy.deepcopy(rule), status_code=201)


@api("PATCH", RULES + "/{id}", surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.update"])
async def update_rule(ctx: Ctx) -> Response:
    """Change the updatable properties given: 200 with the updated rule."""
    body = await ctx.body()
    for key in body:
        if key in READ_ONLY or key == "id":
            raise bad(f"The property '{key}' is read-only and cannot be updated.")
    body = only(body, RULE_FIELDS, RULE_TYPE, "body")
    if not body:
        raise bad("The request body must name at least one property to update.")
    changes: dict[str, Any] = {}
    if "displayName" in body:
        changes["displayName"] = text(body["displayName"], "displayName", required=True)
    if "description" in body:
        changes["description"] = text(body["description"], "description", required=False)
    if "status" in body:
        changes["status"] = status(body["status"])
    if "schedule" in body:
        duration(body["schedule"])
        changes["schedule"] = {"frequency": body["schedule"]["frequency"]}
    query = _query(body["queryCondition"]) if "queryCondition" in body else None
    action = (
        action_body(body["detectionAction"], create=False) if "detectionAction" in body else None
    )
    now = datetime.now(UTC)
    with ctx.state.lock:
        rule = _find(ctx)
        rule.update(changes)
        if query is not None:
            rule["queryCondition"] = {"queryText": query, "lastModifiedDateTime": iso(now)}
        if action is not None:
            current = rule["detectionAction"]
            current["alertTemplate"].update(action.pop("alertTemplate", {}))
            current.update(action)
        rule.update(_stamp(ctx.caller, now, created=False))
        return JSONResponse(copy.deepcopy(rule))


@api(
    "DELETE", RULES + "/{id}", surface="graph", page=GRAPH_SECURITY_PAGES["detection_rules.delete"]
)
async def delete_rule(ctx: Ctx) -> Response:
    """Delete a rule: 204; 404 for an unknown id."""
    with ctx.state.lock:
        _find(ctx)
        del _store(ctx)[ctx.params["id"]]
    return Response(status_code=204)


def _stamp(author: str, when: datetime, *, created: bool) -> dict[str, Any]:
    out = {"lastModifiedBy": author, "lastModifiedDateTime": iso(when)}
    if created:
        out.update(createdBy=author, createdDateTime=iso(when))
    return out


def _rule_record(
    rid: str, name: str | None, state: str, query: str, frequency: str, action: dict[str, Any]
) -> dict[str, Any]:
    """A stored rule as the v1.0 service answers it."""
    tpl = action["alertTemplate"]
    for key in ("description", "recommendedActions", "entityMappings", "customDetails"):
        tpl.setdefault(key, None)
    tpl.setdefault("tactics", [])
    return {
        "@odata.type": "#" + RULE_TYPE,
        "id": rid,
        "displayName": name,
        "description": None,
        "status": state,
        "queryCondition": {"queryText": query, "lastModifiedDateTime": None},
        "schedule": {"frequency": frequency},
        "detectionAction": action,
    }


#: the two portal-made rules of every tenant: name, status, query, frequency, alert title,
#: severity, MITRE tactic and techniques
SEEDED_RULES = [
    (
        "Encoded PowerShell command line",
        "enabled",
        "DeviceProcessEvents | where ProcessCommandLine has '-enc' "
        "| project Timestamp, DeviceId, ReportId",
        "PT1H",
        "Encoded PowerShell",
        "medium",
        "Execution",
        [{"technique": "T1059", "subTechniques": ["T1059.001"]}],
    ),
    (
        "Logon from a known scanner",
        "disabled",
        "DeviceLogonEvents | where RemoteIP == '198.51.100.200' "
        "| project Timestamp, DeviceId, ReportId",
        "P1D",
        "Logon from scanner IP",
        "low",
        "InitialAccess",
        [],
    ),
]


def seed_rules(tenant: Tenant, now: datetime) -> None:
    """The tenant's :data:`SEEDED_RULES`, made two weeks ago by the SOC lead in the portal
    (which issues decimal ids)."""
    author = f"soc-lead@{tenant.domain}"
    store = tenant.data["detection_rules"]
    for name, state, query, frequency, title, severity, tactic, techniques in SEEDED_RULES:
        rid = str(tenant.next_id("detection_rule", 35_001))
        action = {
            "alertTemplate": {
                "title": title,
                "description": f"{title} (seeded by the emulator)",
                "severity": severity,
                "tactics": [{"tactic": tactic, "techniques": techniques}],
                "entityMappings": {"hosts": [{"deviceIdColumn": "DeviceId"}]},
            },
            "automatedActions": {},
            "organizationalScope": None,
        }
        rule = _rule_record(rid, name, state, query, frequency, action)
        rule.update(_stamp(author, now - timedelta(days=14), created=True))
        store[rid] = rule
