"""Graph beta email remediation: ``POST /beta/security/collaboration/analyzedEmails/remediate``;
see the package docstring for the contract served."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response

from prefect_defender.emulator.guard import Ctx, api
from prefect_defender.emulator.permissions import GRAPH_SECURITY_PAGES
from prefect_defender.emulator.routes.graph_security.bodies import bad, only, text
from prefect_defender.emulator.routes.hunting import _db
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import Tenant

REMEDIATION_SEVERITIES = {"low", "medium", "high"}
REMEDIATION_ACTIONS = {
    "moveToJunk": "junkFolder",
    "moveToInbox": "inbox_folder",
    "moveToDeletedItems": "deletedFolder",
    "softDelete": "deletedFolder",
    "hardDelete": "dropped",
}
REMEDIATE_FIELDS = {
    "displayName",
    "description",
    "severity",
    "action",
    "approverUpn",
    "remediateSendersCopy",
    "analyzedEmails",
}
PHISH_NETWORK_MESSAGE_ID = "b1f0c7a2-0000-4000-8000-000000000001"
PHISH_REPORT_ID = "940000"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


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
    columns = (
        "SELECT Timestamp, NetworkMessageId, SenderFromAddress, RecipientEmailAddress, "
        "Subject, ThreatTypes, ReportId FROM EmailEvents "
    )
    if rid is not None:
        if not (str(rid).isascii() and str(rid).isdigit() and len(str(rid)) <= 18):
            return None  # not a ReportId of this emulator's hunting tables
        rows = db.select(columns + "WHERE ReportId = ?", [int(rid)])
    else:
        rows = db.select(
            columns + "WHERE lower(NetworkMessageId) = ? AND lower(RecipientEmailAddress) = ?",
            [nmid, rcpt],
        )
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
        raise bad("'analyzedEmails' is required and must be a non-empty collection.")
    refs = []
    allowed = {"@odata.type", "id", "networkMessageId", "recipientEmailAddress"}
    for i, item in enumerate(value):
        item = only(item, allowed, "microsoft.graph.security.analyzedEmail", "analyzedEmails")
        rid, nmid, rcpt = (
            item.get("id"),
            item.get("networkMessageId"),
            item.get("recipientEmailAddress"),
        )
        if rid is not None:
            if not isinstance(rid, str) or not rid.strip():
                raise bad(f"'analyzedEmails[{i}].id' must be a non-empty string.")
        elif not (isinstance(nmid, str) and isinstance(rcpt, str)):
            raise bad(
                f"'analyzedEmails[{i}]' must give 'id' or 'networkMessageId' and "
                "'recipientEmailAddress'."
            )
        if nmid is not None and (not isinstance(nmid, str) or not _GUID.match(nmid)):
            raise bad(f"'analyzedEmails[{i}].networkMessageId' is not a valid GUID.")
        if rcpt is not None and (not isinstance(rcpt, str) or not _EMAIL.match(rcpt)):
            raise bad(f"'analyzedEmails[{i}].recipientEmailAddress' is not an e-mail address.")
        refs.append(item)
    return refs


def _flag(value: Any) -> bool:
    # the documented example sends "false" as a string; Graph's JSON reader accepts both
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad("'remediateSendersCopy' must be a Boolean.")


@api(
    "POST",
    "/beta/security/collaboration/analyzedEmails/remediate",
    surface="graph",
    page=GRAPH_SECURITY_PAGES["emails.remediate"],
)
async def remediate(ctx: Ctx) -> Response:
    """Accept a remediation: 202, no body, ``Location`` of the action-center history."""
    body = only(await ctx.body(), REMEDIATE_FIELDS, "remediate parameters", "body")
    for name in ("displayName", "description"):
        text(body.get(name), name, required=True)
    if body.get("severity") not in REMEDIATION_SEVERITIES:
        raise bad(f"Invalid severity '{body.get('severity')}'. Expected one of: low, medium, high.")
    action = body.get("action")
    if action not in REMEDIATION_ACTIONS:
        raise bad(
            f"Invalid action '{action}'. Expected one of: " + ", ".join(REMEDIATION_ACTIONS) + "."
        )
    copy = _flag(body.get("remediateSendersCopy", False))
    approver = body.get("approverUpn")
    if approver is not None and (not isinstance(approver, str) or not _EMAIL.match(approver)):
        raise bad("'approverUpn' is not a user principal name.")
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


def seed_email(tenant: Tenant, now: datetime) -> None:
    """The tenant's analyzed phishing e-mail."""
    # the planted phishing row of EmailEvents (hunting_store._planted_rows), same ids
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
