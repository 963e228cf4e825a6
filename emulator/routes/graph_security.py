"""Graph beta security extras: custom detection rules and email remediation.

Served under ``/beta`` only (a ``/v1.0`` path is answered 404, like any unknown route), as
documented on the Graph beta pages security-detectionrule(-get, -post-detectionrules, -update,
-delete, -list), security-ruleschedule and security-analyzedemail-remediate:

* ``/beta/security/rules/detectionRules``: ``CustomDetection.Read.All`` or
  ``CustomDetection.ReadWrite.All`` to read, ``CustomDetection.ReadWrite.All`` to write, for
  application and delegated tokens alike. Rule ids are decimal numbers issued by the service;
  create answers 201 with the rule, update 200 with the updated rule, delete 204; an unknown id
  is 404. Body property names are case-sensitive and unknown ones are refused (400); read-only
  metadata (``createdBy``, ``lastModifiedDateTime`` ...) is ignored on create, as documented, and
  refused on update, which takes the listed updatable properties only. ``schedule.period`` is
  one of ``0``, ``1H``, ``3H``, ``12H``, ``24H``; ``queryCondition.queryText`` must not be empty
  and its table and column names must be spelled as in advanced hunting.
* ``POST /beta/security/collaboration/analyzedEmails/remediate``:
  ``SecurityAnalyzedMessage.ReadWrite.All``, **application only** (a delegated token gets 403).
  Answers ``202 Accepted`` with no body and a ``Location`` header linking to the action center
  history filtered on the new bulk action, as in the documented example. Each e-mail is named by
  ``id`` (the hunting ``ReportId``) or by ``networkMessageId`` + ``recipientEmailAddress`` and is
  looked up among the tenant's analyzed e-mails (seeded from the planted phishing row of
  ``EmailEvents``) and then in the ``EmailEvents`` hunting table; the remediation is recorded
  (admin dump ``email_remediations``) with a per-e-mail result, and found e-mails move.

Errors carry Graph's body (``{"error": {"code", "message", "innerError"}}``): 400 ``BadRequest``
for invalid input, 404 ``NotFound`` for an unknown rule.
"""

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
from prefect_defender.emulator.routes.graph_incidents import next_link
from prefect_defender.emulator.routes.hunting import _db, check_names
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

CD_READ = ("CustomDetection.Read.All", "CustomDetection.ReadWrite.All")
CD_WRITE = ("CustomDetection.ReadWrite.All",)
REMEDIATE = ("SecurityAnalyzedMessage.ReadWrite.All",)
RULES = "/beta/security/rules/detectionRules"
RULE_TYPE = "microsoft.graph.security.detectionRule"
PERIODS = {"0": None, "1H": 1, "3H": 3, "12H": 12, "24H": 24}
ALERT_SEVERITIES = {"informational", "low", "medium", "high"}
REMEDIATION_SEVERITIES = {"low", "medium", "high"}
REMEDIATION_ACTIONS = {
    "moveToJunk": "junkFolder",
    "moveToInbox": "inbox_folder",
    "moveToDeletedItems": "deletedFolder",
    "softDelete": "deletedFolder",
    "hardDelete": "dropped",
}
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
REMEDIATE_FIELDS = {
    "displayName",
    "description",
    "severity",
    "action",
    "approverUpn",
    "remediateSendersCopy",
    "analyzedEmails",
}
DEFAULT_PAGE = 100
MAX_TOP = 1000
PHISH_NETWORK_MESSAGE_ID = "b1f0c7a2-0000-4000-8000-000000000001"
PHISH_REPORT_ID = "940000"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _no_such_property(name: str, type_name: str) -> ApiError:
    return _bad(
        f"The property '{name}' does not exist on type '{type_name}'. Make sure to only use "
        "property names that are defined by the type."
    )


def _only(obj: Any, allowed: set[str], type_name: str, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _bad(f"'{where}' must be an object of type '{type_name}'.")
    for key in obj:
        if key not in allowed:
            raise _no_such_property(key, type_name)
    return obj


def _text(value: Any, where: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _bad(f"'{where}' is required and must be a non-empty string.")
    return value


# -- detection rules ------------------------------------------------------------------------


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
    cond = _only(
        cond, {"@odata.type", "queryText", "lastModifiedDateTime"}, "queryCondition", where
    )
    text = cond.get("queryText")
    if not isinstance(text, str) or not text.strip():
        raise _bad("queryCondition.queryText is required and must not be empty.")
    check_names(text, set(HUNTING_TABLES))
    return text


def _period(sched: Any) -> str:
    sched = _only(sched, {"@odata.type", "period", "nextRunDateTime"}, "ruleSchedule", "schedule")
    period = sched.get("period")
    if period not in PERIODS:
        raise _bad(
            f"Invalid schedule period '{period}'. The allowed values are: 0, 1H, 3H, 12H, 24H."
        )
    return str(period)


def _typed(items: Any, where: str, *, assets: bool) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise _bad(f"'{where}' must be a collection.")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(f"'{where}[{i}]' must be an object.")
        kind = item.get("@odata.type")
        ok = (
            kind in ASSET_TYPES
            if assets
            else isinstance(kind, str)
            and kind.startswith("#microsoft.graph.security.")
            and kind.endswith("ResponseAction")
        )
        if not ok:
            raise _bad(f"'{where}[{i}]' has an unknown or missing '@odata.type' ({kind!r}).")
        ident = item.get("identifier")
        if assets and (not isinstance(ident, str) or not _WORD.match(ident)):
            raise _bad(f"'{where}[{i}].identifier' must name a column of the query's results.")
        out.append(dict(item))
    return out


def _template(tpl: Any, *, create: bool) -> dict[str, Any]:
    allowed = TEMPLATE_FIELDS if create else TEMPLATE_UPDATABLE
    tpl = _only(tpl, allowed, "microsoft.graph.security.alertTemplate", "alertTemplate")
    out: dict[str, Any] = {}
    if create or "title" in tpl:
        out["title"] = _text(tpl.get("title"), "alertTemplate.title", required=True)
    if create or "severity" in tpl:
        sev = tpl.get("severity")
        if sev not in ALERT_SEVERITIES:
            raise _bad(
                f"Invalid alertTemplate.severity '{sev}'. Expected one of: "
                + ", ".join(sorted(ALERT_SEVERITIES))
                + "."
            )
        out["severity"] = sev
    for name in ("description", "category", "recommendedActions"):
        if name in tpl:
            out[name] = _text(tpl[name], f"alertTemplate.{name}", required=False)
    if "mitreTechniques" in tpl:
        mitre = tpl["mitreTechniques"] or []
        if not isinstance(mitre, list) or not all(isinstance(m, str) for m in mitre):
            raise _bad("'alertTemplate.mitreTechniques' must be a collection of strings.")
        out["mitreTechniques"] = mitre
    if "impactedAssets" in tpl:
        out["impactedAssets"] = _typed(
            tpl["impactedAssets"], "alertTemplate.impactedAssets", assets=True
        )
    return out


def _action(action: Any, *, create: bool) -> dict[str, Any]:
    action = _only(action, ACTION_FIELDS, "microsoft.graph.security.detectionAction", "action")
    out: dict[str, Any] = {}
    if create or "alertTemplate" in action:
        if create and not isinstance(action.get("alertTemplate"), dict):
            raise _bad("detectionAction.alertTemplate is required.")
        out["alertTemplate"] = _template(action.get("alertTemplate"), create=create)
    if "responseActions" in action:
        out["responseActions"] = _typed(
            action["responseActions"], "detectionAction.responseActions", assets=False
        )
    if "organizationalScope" in action:
        scope = action["organizationalScope"]
        if scope is not None and not isinstance(scope, dict):
            raise _bad("'detectionAction.organizationalScope' must be an object or null.")
        out["organizationalScope"] = scope
    return out


@api("GET", RULES, surface="graph", app=CD_READ)
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


@api("GET", RULES + "/{id}", surface="graph", app=CD_READ)
async def get_rule(ctx: Ctx) -> Response:
    """One rule; 404 for an unknown id."""
    with ctx.state.lock:
        return JSONResponse(dict(_find(ctx)))


@api("POST", RULES, surface="graph", app=CD_WRITE)
async def create_rule(ctx: Ctx) -> Response:
    """Create a rule: 201 with the stored rule."""
    body = _only(await ctx.body(), RULE_FIELDS, RULE_TYPE, "body")
    name = _text(body.get("displayName"), "displayName", required=True)
    enabled = body.get("isEnabled", True)
    if not isinstance(enabled, bool):
        raise _bad("'isEnabled' must be a Boolean.")
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
        rule = {
            "@odata.type": "#" + RULE_TYPE,
            "id": rid,
            "displayName": name,
            "isEnabled": enabled,
            "createdBy": ctx.caller,
            "createdDateTime": iso(now),
            "lastModifiedDateTime": iso(now),
            "lastModifiedBy": ctx.caller,
            "detectorId": str(uuid.uuid4()),
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
        _store(ctx)[rid] = rule
        return JSONResponse(dict(rule), status_code=201)


@api("PATCH", RULES + "/{id}", surface="graph", app=CD_WRITE)
async def update_rule(ctx: Ctx) -> Response:
    """Change the updatable properties given: 200 with the updated rule."""
    body = await ctx.body()
    for key in body:
        if key in READ_ONLY:
            raise _bad(f"The property '{key}' is read-only and cannot be updated.")
    body = _only(body, RULE_FIELDS, RULE_TYPE, "body")
    if not body:
        raise _bad("The request body must name at least one property to update.")
    changes: dict[str, Any] = {}
    if "displayName" in body:
        changes["displayName"] = _text(body["displayName"], "displayName", required=True)
    if "isEnabled" in body:
        if not isinstance(body["isEnabled"], bool):
            raise _bad("'isEnabled' must be a Boolean.")
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


@api("DELETE", RULES + "/{id}", surface="graph", app=CD_WRITE)
async def delete_rule(ctx: Ctx) -> Response:
    """Delete a rule: 204; 404 for an unknown id."""
    with ctx.state.lock:
        _find(ctx)
        del _store(ctx)[ctx.params["id"]]
    return Response(status_code=204)


# -- email remediation ----------------------------------------------------------------------


def _email_lookup(ctx: Ctx, ref: dict[str, Any]) -> dict[str, Any] | None:
    """The analyzed e-mail ``ref`` names: seeded first, then the ``EmailEvents`` table."""
    emails: dict[str, dict[str, Any]] = ctx.tenant.data["analyzed_emails"]
    rid = ref.get("id")
    nmid = str(ref.get("networkMessageId") or "").lower()
    rcpt = str(ref.get("recipientEmailAddress") or "").lower()
    for email in emails.values():
        if rid is not None and email["id"] == rid:
            return email
        key = (email["networkMessageId"], email["recipientEmailAddress"].lower())
        if rid is None and key == (nmid, rcpt):
            return email
    db = _db(ctx)
    with db.lock:
        if rid is not None:
            if not (str(rid).isascii() and str(rid).isdigit() and len(str(rid)) <= 18):
                return None  # not a ReportId of this emulator's hunting tables
            rows = db.con.execute(
                "SELECT Timestamp, NetworkMessageId, SenderFromAddress, RecipientEmailAddress, "
                "Subject, ThreatTypes, ReportId FROM _t_EmailEvents WHERE ReportId = ?",
                [int(rid)],
            ).fetchall()
        else:
            rows = db.con.execute(
                "SELECT Timestamp, NetworkMessageId, SenderFromAddress, RecipientEmailAddress, "
                "Subject, ThreatTypes, ReportId FROM _t_EmailEvents "
                "WHERE lower(NetworkMessageId) = ? AND lower(RecipientEmailAddress) = ?",
                [nmid, rcpt],
            ).fetchall()
    if not rows:
        return None
    when, msg_id, sender, recipient, subject, threats, report = rows[0]
    email = _analyzed_email(
        str(report), str(msg_id), str(sender), str(recipient), str(subject), threats, when
    )
    emails[email["id"]] = email
    return email


def _analyzed_email(
    report_id: str,
    network_message_id: str,
    sender: str,
    recipient: str,
    subject: str,
    threats: str | None,
    when: datetime,
) -> dict[str, Any]:
    stamp = iso(when.replace(tzinfo=UTC) if when.tzinfo is None else when)
    return {
        "id": report_id,
        "loggedDateTime": stamp,
        "networkMessageId": network_message_id.lower(),
        "recipientEmailAddress": recipient,
        "senderDetail": {"fromAddress": sender, "mailFromAddress": sender},
        "subject": subject,
        "directionality": "inbound",
        "threatTypes": [t for t in (threats or "").split(",") if t],
        "originalDelivery": {"action": "delivered", "location": "inbox_folder"},
        "latestDelivery": {"action": "delivered", "location": "inbox_folder"},
    }


def _email_refs(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _bad("'analyzedEmails' is required and must be a non-empty collection.")
    refs = []
    allowed = {"@odata.type", "id", "networkMessageId", "recipientEmailAddress"}
    for i, item in enumerate(value):
        item = _only(item, allowed, "microsoft.graph.security.analyzedEmail", "analyzedEmails")
        rid, nmid, rcpt = (
            item.get("id"),
            item.get("networkMessageId"),
            item.get("recipientEmailAddress"),
        )
        if rid is not None:
            if not isinstance(rid, str) or not rid.strip():
                raise _bad(f"'analyzedEmails[{i}].id' must be a non-empty string.")
        elif not (isinstance(nmid, str) and isinstance(rcpt, str)):
            raise _bad(
                f"'analyzedEmails[{i}]' must give 'id' or 'networkMessageId' and "
                "'recipientEmailAddress'."
            )
        if nmid is not None and (not isinstance(nmid, str) or not _GUID.match(nmid)):
            raise _bad(f"'analyzedEmails[{i}].networkMessageId' is not a valid GUID.")
        if rcpt is not None and (not isinstance(rcpt, str) or not _EMAIL.match(rcpt)):
            raise _bad(f"'analyzedEmails[{i}].recipientEmailAddress' is not an e-mail address.")
        refs.append(item)
    return refs


def _flag(value: Any) -> bool:
    # the documented example sends "false" as a string; Graph's JSON reader accepts both
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad("'remediateSendersCopy' must be a Boolean.")


@api(
    "POST",
    "/beta/security/collaboration/analyzedEmails/remediate",
    surface="graph",
    app=REMEDIATE,
    delegated=(),
)
async def remediate(ctx: Ctx) -> Response:
    """Accept a remediation: 202, no body, ``Location`` of the action-center history."""
    body = _only(await ctx.body(), REMEDIATE_FIELDS, "remediate parameters", "body")
    for name in ("displayName", "description"):
        _text(body.get(name), name, required=True)
    if body.get("severity") not in REMEDIATION_SEVERITIES:
        raise _bad(
            f"Invalid severity '{body.get('severity')}'. Expected one of: low, medium, high."
        )
    action = body.get("action")
    if action not in REMEDIATION_ACTIONS:
        raise _bad(
            f"Invalid action '{action}'. Expected one of: " + ", ".join(REMEDIATION_ACTIONS) + "."
        )
    copy = _flag(body.get("remediateSendersCopy", False))
    approver = body.get("approverUpn")
    if approver is not None and (not isinstance(approver, str) or not _EMAIL.match(approver)):
        raise _bad("'approverUpn' is not a user principal name.")
    refs = _email_refs(body.get("analyzedEmails"))
    bulk_id = str(uuid.uuid4())
    now = iso(datetime.now(UTC))
    results = []
    with ctx.state.lock:
        for ref in refs:
            email = _email_lookup(ctx, ref)
            if email is None:
                results.append({**ref, "status": "notFound"})
                continue
            email["latestDelivery"] = {
                "action": action,
                "location": REMEDIATION_ACTIONS[action],
            }
            results.append({**ref, "id": email["id"], "status": "succeeded"})
        ctx.tenant.data["email_remediations"][bulk_id] = {
            "bulkId": bulk_id,
            "displayName": body["displayName"],
            "description": body["description"],
            "severity": body["severity"],
            "action": action,
            "remediateSendersCopy": copy,
            "approverUpn": approver,
            "requestedBy": ctx.caller,
            "createdDateTime": now,
            "status": "completed",
            "emails": results,
        }
    filters = json.dumps({"bulkId": [bulk_id]}, separators=(",", ":"))
    location = (
        f"https://security.microsoft.com/action-center/history?filters={filters}"
        f"&tid={ctx.tenant.tenant_id}"
    )
    return Response(status_code=202, headers={"Location": location})


# -- seed -----------------------------------------------------------------------------------


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """Two portal-made rules, and the planted phishing e-mail of ``EmailEvents``."""
    now = datetime.now(UTC)
    author = f"soc-lead@{tenant.domain}"
    rows = [
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
    store = tenant.data["detection_rules"]
    for name, enabled, query, period, title, severity, category, mitre in rows:
        rid = str(tenant.next_id("detection_rule", 35_001))
        created = now - timedelta(days=14)
        store[rid] = {
            "@odata.type": "#" + RULE_TYPE,
            "id": rid,
            "displayName": name,
            "isEnabled": enabled,
            "createdBy": author,
            "createdDateTime": iso(created),
            "lastModifiedDateTime": iso(created),
            "lastModifiedBy": author,
            "detectorId": str(uuid.UUID(int=int(rid))),
            "queryCondition": {"queryText": query, "lastModifiedDateTime": None},
            "schedule": {"period": period, "nextRunDateTime": _next_run(period, now)},
            "lastRunDetails": {
                "lastRunDateTime": iso(now - timedelta(minutes=30)) if enabled else None,
                "status": "completed" if enabled else None,
                "failureReason": None,
                "errorCode": None,
            },
            "detectionAction": {
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
        }
    # the planted phishing row of EmailEvents (hunting_tables.HuntingDB._plant), same ids
    email = _analyzed_email(
        PHISH_REPORT_ID,
        PHISH_NETWORK_MESSAGE_ID,
        "it-support@contoso-support.example",
        f"jdoe@{tenant.domain}",
        "Password reset required",
        "Phish",
        now - timedelta(hours=2),
    )
    tenant.data["analyzed_emails"][email["id"]] = email
