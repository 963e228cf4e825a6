"""Alert models (MDE ``/api/alerts``) and the triage vocabulary shared with incidents.

Inputs (values a caller sends) are strict :class:`~enum.StrEnum`\\ s checked with
:func:`~prefect_defender.api.validation.check_choice` before any request; response fields stay
open strings, because Microsoft adds values and spells some two ways.

Where Microsoft's pages disagree, both spellings are accepted on input:

* MDE ``alerts.md`` and ``batch-update-alerts.md`` say ``ConfirmedUserActivity``, ``Clean`` and
  ``InsufficientData``; ``update-alert.md`` says ``ConfirmedActivity`` and ``NotMalicious``;
* the XDR incident PATCH page says ``CompromisedAccount``, ``ConfirmedActivity``, ``Clean`` and
  ``NoEnoughDataToValidate``; the XDR list page keeps the old ``Apt``/``SecurityPersonnel``;
* Graph pages use ``compromisedUser``/``clean``/``insufficientData`` on the resource page and
  ``compromisedAccount``/``notMalicious``/``notEnoughDataToValidate``/``confirmedActivity`` on
  others, and the Graph incident PATCH example sends PascalCase (``"TruePositive"``) although
  the enum is documented in camelCase: :func:`check_graph_choice` takes either and sends the
  documented camelCase value.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.validation import check_choice

__all__ = [
    "ALERT_STATUSES",
    "CLASSIFICATIONS",
    "DETERMINATIONS",
    "GRAPH_ALERT_STATUSES",
    "GRAPH_CLASSIFICATIONS",
    "GRAPH_DETERMINATIONS",
    "GRAPH_INCIDENT_STATUSES",
    "INCIDENT_STATUSES",
    "SEVERITIES",
    "Alert",
    "AlertCategory",
    "AlertComment",
    "AlertRelation",
    "AlertSeverity",
    "AlertStatus",
    "Classification",
    "Determination",
    "GraphAlertStatus",
    "GraphClassification",
    "GraphDetermination",
    "GraphIncidentStatus",
    "GraphSeverity",
    "IncidentStatus",
    "Severity",
    "check_graph_choice",
    "check_triage",
    "one_of",
]

E = TypeVar("E", bound=StrEnum)


# -- MDE / XDR input enums (PascalCase, case-sensitive) -------------------------------------


class Severity(StrEnum):
    """Alert and incident severity (list filters)."""

    UNSPECIFIED = "UnSpecified"
    INFORMATIONAL = "Informational"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


class AlertSeverity(StrEnum):
    """Severity of an alert created by reference (only these three are documented)."""

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


class AlertStatus(StrEnum):
    """MDE alert status a caller may set (``Unknown`` appears only in answers)."""

    NEW = "New"
    IN_PROGRESS = "InProgress"
    RESOLVED = "Resolved"


class IncidentStatus(StrEnum):
    """XDR incident status (the PATCH page lists ``Redirected`` too)."""

    ACTIVE = "Active"
    IN_PROGRESS = "InProgress"
    RESOLVED = "Resolved"
    REDIRECTED = "Redirected"


class Classification(StrEnum):
    """Alert/incident classification (``Unknown`` is the old schema's reset value)."""

    UNKNOWN = "Unknown"
    TRUE_POSITIVE = "TruePositive"
    INFORMATIONAL_EXPECTED_ACTIVITY = "InformationalExpectedActivity"
    FALSE_POSITIVE = "FalsePositive"


class Determination(StrEnum):
    """Alert/incident determination: every documented spelling (see the module docstring)."""

    MULTI_STAGED_ATTACK = "MultiStagedAttack"
    MALICIOUS_USER_ACTIVITY = "MaliciousUserActivity"
    COMPROMISED_USER = "CompromisedUser"
    COMPROMISED_ACCOUNT = "CompromisedAccount"
    MALWARE = "Malware"
    PHISHING = "Phishing"
    UNWANTED_SOFTWARE = "UnwantedSoftware"
    APT = "Apt"  # deprecated (Aug 2022), still on the XDR list page
    SECURITY_PERSONNEL = "SecurityPersonnel"  # deprecated, as above
    SECURITY_TESTING = "SecurityTesting"
    LINE_OF_BUSINESS_APPLICATION = "LineOfBusinessApplication"
    CONFIRMED_USER_ACTIVITY = "ConfirmedUserActivity"
    CONFIRMED_ACTIVITY = "ConfirmedActivity"
    CLEAN = "Clean"
    NOT_MALICIOUS = "NotMalicious"
    INSUFFICIENT_DATA = "InsufficientData"
    NO_ENOUGH_DATA_TO_VALIDATE = "NoEnoughDataToValidate"
    OTHER = "Other"
    NOT_AVAILABLE = "NotAvailable"


D = Determination
#: determinations allowed with each classification. The XDR PATCH page says "determination only
#: if classification is TruePositive" but its own table groups determinations under all three
#: classifications, as the MDE pages do; the grouping is what is enforced here.
DETERMINATIONS: dict[Classification, tuple[Determination, ...]] = {
    Classification.TRUE_POSITIVE: (
        D.MULTI_STAGED_ATTACK,
        D.MALICIOUS_USER_ACTIVITY,
        D.COMPROMISED_USER,
        D.COMPROMISED_ACCOUNT,
        D.MALWARE,
        D.PHISHING,
        D.UNWANTED_SOFTWARE,
        D.APT,
        D.SECURITY_PERSONNEL,
        D.OTHER,
    ),
    Classification.INFORMATIONAL_EXPECTED_ACTIVITY: (
        D.SECURITY_TESTING,
        D.LINE_OF_BUSINESS_APPLICATION,
        D.CONFIRMED_USER_ACTIVITY,
        D.CONFIRMED_ACTIVITY,
        D.OTHER,
    ),
    Classification.FALSE_POSITIVE: (
        D.CLEAN,
        D.NOT_MALICIOUS,
        D.INSUFFICIENT_DATA,
        D.NO_ENOUGH_DATA_TO_VALIDATE,
        D.OTHER,
    ),
    Classification.UNKNOWN: (D.NOT_AVAILABLE,),
}
del D


class AlertCategory(StrEnum):
    """Categories documented for ``CreateAlertByReference``."""

    GENERAL = "General"
    COMMAND_AND_CONTROL = "CommandAndControl"
    COLLECTION = "Collection"
    CREDENTIAL_ACCESS = "CredentialAccess"
    DEFENSE_EVASION = "DefenseEvasion"
    DISCOVERY = "Discovery"
    EXFILTRATION = "Exfiltration"
    EXPLOIT = "Exploit"
    EXECUTION = "Execution"
    INITIAL_ACCESS = "InitialAccess"
    LATERAL_MOVEMENT = "LateralMovement"
    MALWARE = "Malware"
    PERSISTENCE = "Persistence"
    PRIVILEGE_ESCALATION = "PrivilegeEscalation"
    RANSOMWARE = "Ransomware"
    SUSPICIOUS_ACTIVITY = "SuspiciousActivity"


class AlertRelation(StrEnum):
    """Entities related to an MDE alert (``/api/alerts/{id}/<relation>``)."""

    DOMAINS = "domains"
    FILES = "files"
    IPS = "ips"
    MACHINE = "machine"
    USER = "user"


# -- Graph input enums (camelCase) -----------------------------------------------------------


class GraphSeverity(StrEnum):
    """Graph alert/incident severity."""

    UNKNOWN = "unknown"
    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class GraphIncidentStatus(StrEnum):
    """Graph incident status (the PATCH page omits ``inProgress``; the resource page has it)."""

    ACTIVE = "active"
    IN_PROGRESS = "inProgress"
    RESOLVED = "resolved"
    REDIRECTED = "redirected"
    AWAITING_ACTION = "awaitingAction"


class GraphAlertStatus(StrEnum):
    """Graph alert status."""

    NEW = "new"
    IN_PROGRESS = "inProgress"
    RESOLVED = "resolved"


class GraphClassification(StrEnum):
    """Graph ``alertClassification``."""

    UNKNOWN = "unknown"
    FALSE_POSITIVE = "falsePositive"
    TRUE_POSITIVE = "truePositive"
    INFORMATIONAL_EXPECTED_ACTIVITY = "informationalExpectedActivity"


class GraphDetermination(StrEnum):
    """Graph ``alertDetermination``: both documented spellings (see the module docstring)."""

    UNKNOWN = "unknown"
    APT = "apt"
    MALWARE = "malware"
    SECURITY_PERSONNEL = "securityPersonnel"
    SECURITY_TESTING = "securityTesting"
    UNWANTED_SOFTWARE = "unwantedSoftware"
    OTHER = "other"
    MULTI_STAGED_ATTACK = "multiStagedAttack"
    COMPROMISED_USER = "compromisedUser"
    COMPROMISED_ACCOUNT = "compromisedAccount"
    PHISHING = "phishing"
    MALICIOUS_USER_ACTIVITY = "maliciousUserActivity"
    CLEAN = "clean"
    NOT_MALICIOUS = "notMalicious"
    INSUFFICIENT_DATA = "insufficientData"
    NOT_ENOUGH_DATA_TO_VALIDATE = "notEnoughDataToValidate"
    CONFIRMED_USER_ACTIVITY = "confirmedUserActivity"
    CONFIRMED_ACTIVITY = "confirmedActivity"
    LINE_OF_BUSINESS_APPLICATION = "lineOfBusinessApplication"


# value tuples, kept for callers that want plain strings
SEVERITIES = tuple(m.value for m in Severity)
ALERT_STATUSES = tuple(m.value for m in AlertStatus)
INCIDENT_STATUSES = tuple(m.value for m in IncidentStatus)
CLASSIFICATIONS = tuple(m.value for m in Classification)
GRAPH_INCIDENT_STATUSES = tuple(m.value for m in GraphIncidentStatus)
GRAPH_ALERT_STATUSES = tuple(m.value for m in GraphAlertStatus)
GRAPH_CLASSIFICATIONS = tuple(m.value for m in GraphClassification)
GRAPH_DETERMINATIONS = tuple(m.value for m in GraphDetermination)


def one_of(value: Any, allowed: tuple[str, ...], field: str) -> str:
    """``value`` if it is exactly one of ``allowed`` (the APIs are case-sensitive)."""
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(
            f"{field}: {str(value)[:60]!r} is not one of: {', '.join(allowed)}", field=field
        )
    return str(value)


def check_graph_choice(value: Any, enum: type[E], field: str) -> E:
    """A Graph enum value, given in camelCase or in the PascalCase of the docs' examples."""
    if isinstance(value, str) and value and not isinstance(value, enum):
        lowered = value[:1].lower() + value[1:]
        if lowered in enum._value2member_map_:
            return enum(lowered)
    return check_choice(value, enum, field)


def check_triage(
    classification: Any, determination: Any, *, graph: bool = False
) -> tuple[str | None, str | None]:
    """Validate a classification/determination pair; returns the values to send.

    MDE/XDR: a determination needs a classification and must belong to its group. Graph: each
    value is checked against its enum (Graph documents no grouping).
    """
    if graph:
        gc = (
            check_graph_choice(classification, GraphClassification, "classification")
            if classification is not None
            else None
        )
        gd = (
            check_graph_choice(determination, GraphDetermination, "determination")
            if determination is not None
            else None
        )
        return (gc.value if gc else None), (gd.value if gd else None)
    c = (
        check_choice(classification, Classification, "classification")
        if classification is not None
        else None
    )
    if determination is None:
        return (c.value if c else None), None
    d = check_choice(determination, Determination, "determination")
    if c is None:
        raise ValidationError(
            "determination: set a classification too (determinations are grouped by "
            "classification)",
            field="determination",
        )
    if d not in DETERMINATIONS[c]:
        allowed = ", ".join(x.value for x in DETERMINATIONS[c])
        raise ValidationError(
            f"determination: {d.value!r} does not go with classification {c.value!r}; "
            f"use one of: {allowed}",
            field="determination",
        )
    return c.value, d.value


class AlertComment(DefenderModel):
    """A comment on an MDE alert (same shape as an XDR incident comment)."""

    comment: str | None = None
    created_by: str | None = None
    created_time: datetime | None = None


class Alert(DefenderModel):
    """A Defender for Endpoint alert (``GET /api/alerts``)."""

    id: str
    incident_id: int | None = None
    investigation_id: int | None = None
    assigned_to: str | None = None
    severity: str | None = None
    status: str | None = None
    classification: str | None = None
    determination: str | None = None
    investigation_state: str | None = None
    detection_source: str | None = None
    category: str | None = None
    threat_family_name: str | None = None
    title: str | None = None
    description: str | None = None
    recommended_action: str | None = None
    alert_creation_time: datetime | None = None
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None
    last_update_time: datetime | None = None
    resolved_time: datetime | None = None
    machine_id: str | None = None
    computer_dns_name: str | None = None
    mitre_techniques: list[str] = []
    comments: list[AlertComment] = []
    evidence: list[dict[str, Any]] = []
