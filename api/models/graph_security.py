"""Models of the Graph *beta* security extras: custom detection rules and email remediation.

.. warning::
   Both APIs live under Microsoft Graph ``/beta`` only. Microsoft says: "APIs under the /beta
   version in Microsoft Graph are subject to change. Use of these APIs in production applications
   is not supported." Callers opt in explicitly (see :mod:`prefect_defender.tasks.graph_security`).

Sources (Microsoft Graph docs, beta): ``security-detectionrule`` (resource),
``security-detectionrule-post-detectionrules``, ``security-detectionrule-update``,
``security-ruleschedule`` (period ``0``, ``1H``, ``3H``, ``12H``, ``24H``; ``0`` = continuous),
``security-querycondition``, ``security-detectionaction``, ``security-alerttemplate``,
``security-analyzedemail`` and ``security-analyzedemail-remediate``.

Input models check everything before a request is sent:

* Graph enumerations that end in ``unknownFutureValue`` (remediation severity and action, alert
  severity) may grow, so they are *open strings*: a documented value is matched regardless of
  case and sent in its documented spelling; another well-formed camelCase word is passed through
  for the service to judge; anything else (blank, spaces, punctuation, the
  ``unknownFutureValue`` sentinel itself) is refused here.
* The schedule period is a closed list (the docs say "the allowed values are").
* A rule's KQL (``queryCondition.queryText``) must not be empty.
* Network message ids are GUIDs; recipients and approvers are e-mail addresses.

Response models keep unknown fields and type enumerations as plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.validation import check_comment, check_domain, check_guid

__all__ = [
    "MAX_ANALYZED_EMAILS",
    "MAX_QUERY_LENGTH",
    "AlertTemplate",
    "AlertTemplateSeverity",
    "AnalyzedEmailRef",
    "DetectionAction",
    "DetectionRule",
    "DetectionRuleInput",
    "DetectionRuleUpdate",
    "EmailRemediation",
    "EmailRemediationRequest",
    "ImpactedAsset",
    "QueryCondition",
    "RemediationAction",
    "RemediationSeverity",
    "ResponseAction",
    "RulePeriod",
    "RuleSchedule",
    "RunDetails",
    "check_email",
    "check_open_choice",
    "check_rule_id",
]

E = TypeVar("E", bound=StrEnum)

#: No documented maximum for a rule's query; a generous bound keeps requests sane.
MAX_QUERY_LENGTH = 30_000
#: No documented maximum of e-mails per remediation; one request stays reasonable below this.
MAX_ANALYZED_EMAILS = 1_000

_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_RULE_ID = re.compile(r"^[0-9]{1,19}$")
_EMAIL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,199}$")
_MITRE = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")
_ODATA_TYPE = re.compile(r"^#?microsoft\.graph\.security\.[A-Za-z][A-Za-z0-9]{0,127}$")
_SENTINEL = "unknownFutureValue"


# -- enumerations -------------------------------------------------------------------------------


class RulePeriod(StrEnum):
    """How often a custom detection rule runs (``0``: continuously, "near real time")."""

    CONTINUOUS = "0"
    EVERY_HOUR = "1H"
    EVERY_3_HOURS = "3H"
    EVERY_12_HOURS = "12H"
    EVERY_24_HOURS = "24H"


class AlertTemplateSeverity(StrEnum):
    """``microsoft.graph.alertSeverity`` values a rule's alert can carry (open: may grow)."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


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


# -- checks -------------------------------------------------------------------------------------


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", field=field)


def check_open_choice(value: Any, enum: type[E], field: str) -> str:
    """A Graph enum value from an *evolvable* list, as the string to send.

    A documented value matches whatever its case and is sent as documented; another
    well-formed camelCase word (Microsoft may have added it) is passed through unchanged.

    Examples:
        >>> check_open_choice("SoftDelete", RemediationAction, "action")
        'softDelete'
        >>> check_open_choice("moveToQuarantine", RemediationAction, "action")
        'moveToQuarantine'
    """
    if isinstance(value, enum):
        return value.value
    allowed = ", ".join(m.value for m in enum)
    if not isinstance(value, str):
        raise _fail(field, f"expected one of: {allowed}")
    text = value.strip()
    for member in enum:
        if member.value.lower() == text.lower():
            return member.value
    if text.lower() == _SENTINEL.lower():
        raise _fail(field, f"{_SENTINEL!r} is a sentinel and cannot be sent; use one of: {allowed}")
    if not _WORD.match(text):
        raise _fail(field, f"{text[:60]!r} is not one of: {allowed}")
    return text


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


def check_rule_id(value: Any, field: str = "rule_id") -> str:
    """A custom detection rule id: the service issues decimal numbers (``"35079"``)."""
    if isinstance(value, bool):
        raise _fail(field, "expected a rule id such as '35079'")
    if isinstance(value, int) and value > 0:
        return str(value)
    if not isinstance(value, str) or not _RULE_ID.match(value.strip()):
        raise _fail(field, f"{str(value)[:40]!r} is not a rule id (a decimal number)")
    return value.strip()


def _required_text(value: Any, field: str, max_length: int = 4000) -> str:
    text = check_comment(value if value is not None else "", field, max_length)
    if not text:
        raise _fail(field, "must not be empty")
    return text


def _optional_text(value: Any, field: str, max_length: int = 4000) -> str | None:
    return None if value is None else check_comment(value, field, max_length)


def _query(value: Any, field: str = "query_text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "the rule's KQL query must not be empty")
    if "\x00" in value:
        raise _fail(field, "contains a NUL character")
    if len(value) > MAX_QUERY_LENGTH:
        raise _fail(field, f"is {len(value)} characters long; at most {MAX_QUERY_LENGTH}")
    return value.strip()


def _period(value: Any, field: str = "period") -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | RulePeriod):
        raise _fail(field, "expected 0, 1H, 3H, 12H or 24H")
    text = value.value if isinstance(value, RulePeriod) else str(value).strip().upper()
    try:
        return RulePeriod(text).value
    except ValueError:
        allowed = ", ".join(p.value for p in RulePeriod)
        raise _fail(field, f"{str(value)[:20]!r} is not one of: {allowed}") from None


def _mitre(values: Any, field: str = "mitre_techniques") -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise _fail(field, "expected a list such as ['T1059.001']")
    out = []
    for i, v in enumerate(values):
        text = v.strip().upper() if isinstance(v, str) else ""
        if not _MITRE.match(text):
            raise _fail(f"{field}[{i}]", f"{str(v)[:20]!r} is not a MITRE technique (T1234[.001])")
        out.append(text)
    return out


def _typed_items(values: Any, field: str, *, identifier: bool) -> list[dict[str, Any]]:
    """``[{"@odata.type": "#microsoft.graph.security.X", "identifier": ..., ...}]``."""
    if values is None:
        return []
    if isinstance(values, dict | str) or not isinstance(values, Iterable):
        raise _fail(field, "expected a list of objects")
    out = []
    for i, item in enumerate(values):
        where = f"{field}[{i}]"
        data = item.to_api() if isinstance(item, DefenderModel) else item
        if not isinstance(data, dict):
            raise _fail(where, "expected an object with '@odata.type'")
        data = dict(data)
        kind = data.pop("odata_type", None) or data.get("@odata.type")
        if not isinstance(kind, str) or not _ODATA_TYPE.match(kind.strip()):
            raise _fail(
                where,
                "'@odata.type' must name a microsoft.graph.security type, e.g. "
                "'#microsoft.graph.security.impactedDeviceAsset'",
            )
        kind = kind.strip()
        data["@odata.type"] = kind if kind.startswith("#") else "#" + kind
        if identifier:
            ident = data.get("identifier")
            if not isinstance(ident, str) or not _WORD.match(ident.strip()):
                raise _fail(where, "'identifier' must name a result column such as 'deviceId'")
            data["identifier"] = ident.strip()
        out.append(data)
    return out


def _as_our_error(exc: PydanticValidationError, field: str) -> ValidationError:
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("InvalidInput: ")
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {msg}" if loc and not msg.startswith(loc) else msg)
    return ValidationError("; ".join(parts) or str(exc), field=field)


class _Input(BaseModel):
    """Base of the input models: unknown fields refused, our ValidationError on bad input."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    error_field: ClassVar[str] = "input"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise _as_our_error(exc, type(self).error_field) from None


# -- detection rules: input ---------------------------------------------------------------------

_RULE_FIELDS = (
    "display_name",
    "is_enabled",
    "query_text",
    "period",
    "alert_title",
    "alert_description",
    "alert_severity",
    "alert_category",
    "recommended_actions",
    "mitre_techniques",
    "impacted_assets",
    "response_actions",
    "organizational_scope",
)


def _check_rule_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out = dict(data)
    required = ("display_name", "query_text", "period", "alert_title", "alert_severity")
    for name in required:
        if not partial and out.get(name) is None:
            raise _fail(name, "required")
    checks: dict[str, Any] = {
        "display_name": lambda v: _required_text(v, "display_name", 256),
        "query_text": _query,
        "period": _period,
        "alert_title": lambda v: _required_text(v, "alert_title", 256),
        "alert_description": lambda v: _optional_text(v, "alert_description"),
        "alert_severity": lambda v: check_open_choice(v, AlertTemplateSeverity, "alert_severity"),
        "alert_category": lambda v: _optional_text(v, "alert_category", 256),
        "recommended_actions": lambda v: _optional_text(v, "recommended_actions"),
        "mitre_techniques": _mitre,
        "impacted_assets": lambda v: _typed_items(v, "impacted_assets", identifier=True),
        "response_actions": lambda v: _typed_items(v, "response_actions", identifier=False),
    }
    for name, check in checks.items():
        if out.get(name) is not None:
            out[name] = check(out[name])
    enabled = out.get("is_enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise _fail("is_enabled", "expected true or false")
    scope = out.get("organizational_scope")
    if scope is not None and not isinstance(scope, dict):
        raise _fail("organizational_scope", "expected an object (or nothing)")
    return out


class DetectionRuleInput(_Input):
    """A custom detection rule to create (Graph beta), flattened for forms and task parameters.

    ``impacted_assets`` and ``response_actions`` take Graph's polymorphic objects as documented
    (``{"@odata.type": "#microsoft.graph.security.impactedDeviceAsset", "identifier":
    "deviceId"}``); the query must return the columns they name.

    Examples:
        >>> rule = DetectionRuleInput(
        ...     display_name="Encoded PowerShell", query_text="DeviceProcessEvents | take 1",
        ...     period="1h", alert_title="Encoded PowerShell", alert_severity="Medium")
        >>> body = rule.to_api()
        >>> body["schedule"], body["detectionAction"]["alertTemplate"]["severity"]
        ({'period': '1H'}, 'medium')
    """

    error_field: ClassVar[str] = "rule"

    display_name: str
    is_enabled: bool = True
    query_text: str = Field(description="The advanced hunting (KQL) query; must not be empty.")
    period: str = Field(description="How often it runs: 0 (continuous), 1H, 3H, 12H or 24H.")
    alert_title: str
    alert_severity: str = Field(description="informational, low, medium or high.")
    alert_description: str | None = None
    alert_category: str | None = None
    recommended_actions: str | None = None
    mitre_techniques: list[str] = Field(default_factory=list)
    impacted_assets: list[dict[str, Any]] = Field(default_factory=list)
    response_actions: list[dict[str, Any]] = Field(default_factory=list)
    organizational_scope: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _checks(cls, data: Any) -> Any:
        return _check_rule_fields(data, partial=False) if isinstance(data, dict) else data

    def to_api(self) -> dict[str, Any]:
        """The ``POST /beta/security/rules/detectionRules`` body."""
        return _rule_body(self.model_dump(), partial=False)


class DetectionRuleUpdate(_Input):
    """The fields of a custom detection rule to change; only the given ones are sent.

    ``recommended_actions=""`` and ``impacted_assets=[]`` clear those values (the docs' "provide
    null to delete"); ``response_actions`` replaces the list. The MITRE techniques are not among
    the documented updatable properties, so they are refused here.

    Examples:
        >>> body = DetectionRuleUpdate(period="24h", alert_title="New title").to_api()
        >>> body["schedule"], body["detectionAction"]
        ({'period': '24H'}, {'alertTemplate': {'title': 'New title'}})
    """

    error_field: ClassVar[str] = "update"

    display_name: str | None = None
    is_enabled: bool | None = None
    query_text: str | None = None
    period: str | None = None
    alert_title: str | None = None
    alert_severity: str | None = None
    alert_description: str | None = None
    alert_category: str | None = None
    recommended_actions: str | None = None
    impacted_assets: list[dict[str, Any]] | None = None
    response_actions: list[dict[str, Any]] | None = None
    organizational_scope: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _checks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("mitre_techniques") is not None:
            raise _fail(
                "mitre_techniques",
                "not updatable (the update API does not list it); re-create the rule instead",
            )
        out = _check_rule_fields(data, partial=True)
        if not any(out.get(f) is not None for f in _RULE_FIELDS):
            raise _fail("update", "nothing to update: give at least one field")
        return out

    def to_api(self) -> dict[str, Any]:
        """The ``PATCH /beta/security/rules/detectionRules/{id}`` body (given fields only)."""
        return _rule_body(self.model_dump(exclude_none=True), partial=True)


def _rule_body(d: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "display_name" in d:
        body["displayName"] = d["display_name"]
    if "is_enabled" in d:
        body["isEnabled"] = d["is_enabled"]
    if "query_text" in d:
        body["queryCondition"] = {"queryText": d["query_text"]}
    if "period" in d:
        body["schedule"] = {"period": d["period"]}
    template: dict[str, Any] = {}
    names = {
        "alert_title": "title",
        "alert_description": "description",
        "alert_severity": "severity",
        "alert_category": "category",
        "recommended_actions": "recommendedActions",
        "mitre_techniques": "mitreTechniques",
        "impacted_assets": "impactedAssets",
    }
    for ours, theirs in names.items():
        if ours in d:
            template[theirs] = d[ours]
    if partial and template.get("recommendedActions") == "":
        template["recommendedActions"] = None
    if partial and template.get("impactedAssets") == []:
        template["impactedAssets"] = None
    action: dict[str, Any] = {}
    if template or not partial:
        action["alertTemplate"] = template
    if "response_actions" in d:
        action["responseActions"] = d["response_actions"]
    if "organizational_scope" in d:
        action["organizationalScope"] = d["organizational_scope"]
    if action:
        body["detectionAction"] = action
    return body


# -- detection rules: answers ------------------------------------------------------------------


class QueryCondition(DefenderModel):
    """The rule's advanced hunting query."""

    query_text: str | None = None
    last_modified_date_time: datetime | None = None


class RuleSchedule(DefenderModel):
    """How often the rule runs and when it runs next."""

    period: str | None = None
    next_run_date_time: datetime | None = None


class RunDetails(DefenderModel):
    """The outcome of the rule's last run."""

    last_run_date_time: datetime | None = None
    status: str | None = None
    failure_reason: str | None = None
    error_code: str | None = None


class ImpactedAsset(DefenderModel):
    """An entity the rule's alert names (``#microsoft.graph.security.impactedDeviceAsset`` ...)."""

    odata_type: str | None = Field(default=None, alias="@odata.type")
    identifier: str | None = None


class ResponseAction(DefenderModel):
    """An automatic response (``isolateDeviceResponseAction`` ...); extra fields are kept."""

    odata_type: str | None = Field(default=None, alias="@odata.type")
    identifier: str | None = None


class AlertTemplate(DefenderModel):
    """The alert a rule raises."""

    title: str | None = None
    description: str | None = None
    severity: str | None = None
    category: str | None = None
    recommended_actions: str | None = None
    mitre_techniques: list[str] = Field(default_factory=list)
    impacted_assets: list[ImpactedAsset] | None = None


class DetectionAction(DefenderModel):
    """What happens on a match: the alert, the scope and the response actions."""

    alert_template: AlertTemplate | None = None
    organizational_scope: dict[str, Any] | None = None
    response_actions: list[ResponseAction] | None = None


class DetectionRule(DefenderModel):
    """A custom detection rule (``microsoft.graph.security.detectionRule``, Graph beta)."""

    id: str
    display_name: str | None = None
    is_enabled: bool | None = None
    created_by: str | None = None
    created_date_time: datetime | None = None
    last_modified_by: str | None = None
    last_modified_date_time: datetime | None = None
    detector_id: str | None = None
    query_condition: QueryCondition | None = None
    schedule: RuleSchedule | None = None
    last_run_details: RunDetails | None = None
    detection_action: DetectionAction | None = None

    @property
    def query_text(self) -> str | None:
        """The rule's KQL."""
        return self.query_condition.query_text if self.query_condition else None

    @property
    def period(self) -> str | None:
        """How often the rule runs (``0``, ``1H`` ...)."""
        return self.schedule.period if self.schedule else None


# -- email remediation --------------------------------------------------------------------------


class AnalyzedEmailRef(_Input):
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


class EmailRemediationRequest(_Input):
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
        out["display_name"] = _required_text(out["display_name"], "display_name", 256)
        out["description"] = _required_text(out["description"], "description")
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
