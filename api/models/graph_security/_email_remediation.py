"""E-mail remediation (Graph beta ``security/collaboration/analyzedEmails/remediate``): the
request (:class:`EmailRemediationRequest`, one :class:`AnalyzedEmailRef` per e-mail), checked
before it is sent, and the answer (:class:`EmailRemediation`). See
:mod:`~prefect_defender.api.models.graph_security` for the sources and the beta warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import model_validator

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.models.graph_security._graph_inputs import GraphInput, check_open_choice
from prefect_defender.api.validation import check_domain, check_guid, check_required_text
from prefect_defender.api.validation import fail as _fail

__all__ = [
    "MAX_ANALYZED_EMAILS",
    "AnalyzedEmailRef",
    "EmailRemediation",
    "EmailRemediationRequest",
    "RemediationAction",
    "RemediationSeverity",
    "check_email",
]

#: No documented maximum of e-mails per remediation; one request stays reasonable below this.
MAX_ANALYZED_EMAILS = 1_000
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_EMAIL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,199}$")


class RemediationSeverity(StrEnum):
    """``microsoft.graph.security.remediationSeverity`` (open: may grow)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RemediationAction(StrEnum):
    """``microsoft.graph.security.remediationAction`` (open: may grow)."""

    MOVE_TO_JUNK = "moveToJunk"
    MOVE_TO_INBOX = "moveToInbox"
    HARD_DELETE = "hardDelete"
    SOFT_DELETE = "softDelete"
    MOVE_TO_DELETED_ITEMS = "moveToDeletedItems"


def check_email(value: Any, field: str = "email") -> str:
    """An SMTP address ``local@domain`` (the domain lower-cased, the local part kept)."""
    if not isinstance(value, str):
        raise _fail(field, f"expected an e-mail address, got {type(value).__name__}")
    text = value.strip()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or len(local) > 64 or len(text) > 320 or not _LOCAL.match(local):
        raise _fail(field, f"{text[:80]!r} is not an e-mail address such as 'user@example.com'")
    try:
        host = check_domain(domain, field)
    except ValidationError:
        raise _fail(field, f"{text[:80]!r} has no valid domain after '@'") from None
    return f"{local}@{host}"


# -- email remediation --------------------------------------------------------------------------


class AnalyzedEmailRef(GraphInput):
    """One e-mail to remediate: its analyzed-email ``id`` (the hunting ``ReportId``), or its
    ``network_message_id`` (a GUID) together with the ``recipient_email_address``.

    Examples:
        >>> ref = AnalyzedEmailRef(network_message_id="B1F0C7A2-0000-4000-8000-000000000001",
        ...                        recipient_email_address="jdoe@Contoso.example")
        >>> ref.to_api()["networkMessageId"], ref.to_api()["recipientEmailAddress"]
        ('b1f0c7a2-0000-4000-8000-000000000001', 'jdoe@contoso.example')
    """

    error_field: ClassVar[str] = "analyzed_emails"

    id: str | None = None
    network_message_id: str | None = None
    recipient_email_address: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _checks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = {k: v for k, v in data.items() if v is not None}
        aliases = {
            "networkMessageId": "network_message_id",
            "recipientEmailAddress": "recipient_email_address",
        }
        for camel, snake in aliases.items():
            if camel in out:
                out[snake] = out.pop(camel)
        if "id" in out:
            text = out["id"].strip() if isinstance(out["id"], str) else ""
            if not _EMAIL_ID.match(text):
                raise _fail("id", f"{str(out['id'])[:60]!r} is not an analyzed e-mail id")
            out["id"] = text
        nmid, rcpt = out.get("network_message_id"), out.get("recipient_email_address")
        if nmid is not None:
            out["network_message_id"] = check_guid(nmid, "network_message_id")
        if rcpt is not None:
            out["recipient_email_address"] = check_email(rcpt, "recipient_email_address")
        if "id" not in out and (nmid is None or rcpt is None):
            raise _fail(
                "analyzed_email",
                "give 'id', or both 'network_message_id' and 'recipient_email_address'",
            )
        return out

    @property
    def label(self) -> str:
        """A short name for reports."""
        if self.network_message_id and self.recipient_email_address:
            return f"{self.network_message_id}/{self.recipient_email_address}"
        return str(self.id)

    def to_api(self) -> dict[str, Any]:
        """One element of the remediate body's ``analyzedEmails``."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        if self.network_message_id is not None:
            out["networkMessageId"] = self.network_message_id
        if self.recipient_email_address is not None:
            out["recipientEmailAddress"] = self.recipient_email_address
        return out


class EmailRemediationRequest(GraphInput):
    """A ``POST /beta/security/collaboration/analyzedEmails/remediate`` body, validated.

    Examples:
        >>> req = EmailRemediationRequest(
        ...     display_name="Clean up phish", description="IR-7", severity="Medium",
        ...     action="softDelete", analyzed_emails=[{"id": "940000"}])
        >>> req.to_api()["action"], req.to_api()["remediateSendersCopy"]
        ('softDelete', False)
    """

    error_field: ClassVar[str] = "remediation"

    display_name: str
    description: str
    severity: str
    action: str
    analyzed_emails: list[AnalyzedEmailRef]
    remediate_senders_copy: bool = False
    approver_upn: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _checks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name in ("display_name", "description", "severity", "action", "analyzed_emails"):
            if out.get(name) is None:
                raise _fail(name, "required")
        out["display_name"] = check_required_text(out["display_name"], "display_name", 256)
        out["description"] = check_required_text(out["description"], "description")
        out["severity"] = check_open_choice(out["severity"], RemediationSeverity, "severity")
        out["action"] = check_open_choice(out["action"], RemediationAction, "action")
        copy = out.get("remediate_senders_copy", False)
        if not isinstance(copy, bool):
            raise _fail("remediate_senders_copy", "expected true or false")
        if out.get("approver_upn") is not None:
            out["approver_upn"] = check_email(out["approver_upn"], "approver_upn")
        out["analyzed_emails"] = _email_refs(out["analyzed_emails"])
        return out

    def to_api(self) -> dict[str, Any]:
        """The JSON body, field names as documented."""
        body: dict[str, Any] = {
            "displayName": self.display_name,
            "description": self.description,
            "severity": self.severity,
            "action": self.action,
            "remediateSendersCopy": self.remediate_senders_copy,
            "analyzedEmails": [e.to_api() for e in self.analyzed_emails],
        }
        if self.approver_upn is not None:
            body["approverUpn"] = self.approver_upn
        return body


def _email_refs(values: Any) -> list[AnalyzedEmailRef]:
    if isinstance(values, dict | str | bytes) or not isinstance(values, Iterable):
        raise _fail("analyzed_emails", "expected a list of e-mails")
    items = list(values)
    if not items:
        raise _fail("analyzed_emails", "give at least one e-mail")
    if len(items) > MAX_ANALYZED_EMAILS:
        raise _fail("analyzed_emails", f"{len(items)} given; at most {MAX_ANALYZED_EMAILS}")
    out: list[AnalyzedEmailRef] = []
    for i, item in enumerate(items):
        try:
            if isinstance(item, AnalyzedEmailRef):
                out.append(item)
            elif isinstance(item, dict):
                out.append(AnalyzedEmailRef(**item))
            else:
                raise _fail("analyzed_email", f"expected a mapping, got {type(item).__name__}")
        except ValidationError as exc:
            raise _fail(f"analyzed_emails[{i}]", exc.message) from None
    return out


class EmailRemediation(DefenderModel):
    """What the remediate call answered: 202 Accepted and where to follow the action.

    ``location`` is the ``Location`` header (the action center history, filtered on the bulk
    action); ``bulk_id`` is read from it when present.
    """

    status: int
    location: str | None = None
    bulk_id: str | None = None
    display_name: str
    action: str
    email_count: int
