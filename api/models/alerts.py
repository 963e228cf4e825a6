"""Alert models (MDE ``/api/alerts``) and the triage vocabulary shared with incidents.

Microsoft spells some values two ways across pages (``ConfirmedActivity`` vs
``ConfirmedUserActivity``, ``NotMalicious`` vs ``Clean``, ``CompromisedAccount`` vs
``CompromisedUser``, ``NoEnoughDataToValidate`` vs ``InsufficientData``): both are accepted on
input, and response fields are open strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.common import DefenderModel

__all__ = [
    "ALERT_STATUSES",
    "CLASSIFICATIONS",
    "DETERMINATIONS",
    "GRAPH_CLASSIFICATIONS",
    "GRAPH_DETERMINATIONS",
    "GRAPH_INCIDENT_STATUSES",
    "INCIDENT_STATUSES",
    "SEVERITIES",
    "Alert",
    "check_triage",
]

SEVERITIES = ("Informational", "Low", "Medium", "High")
ALERT_STATUSES = ("New", "InProgress", "Resolved")
INCIDENT_STATUSES = ("Active", "InProgress", "Resolved")
CLASSIFICATIONS = ("Unknown", "TruePositive", "InformationalExpectedActivity", "FalsePositive")

#: determinations allowed with each classification (both documented spellings, plus the
#: deprecated ``Apt`` and ``SecurityPersonnel`` still accepted by the incidents API)
DETERMINATIONS: dict[str, tuple[str, ...]] = {
    "TruePositive": (
        "MultiStagedAttack",
        "MaliciousUserActivity",
        "CompromisedUser",
        "CompromisedAccount",
        "Malware",
        "Phishing",
        "UnwantedSoftware",
        "Apt",
        "SecurityPersonnel",
        "Other",
    ),
    "InformationalExpectedActivity": (
        "SecurityTesting",
        "LineOfBusinessApplication",
        "ConfirmedUserActivity",
        "ConfirmedActivity",
        "Other",
    ),
    "FalsePositive": (
        "Clean",
        "NotMalicious",
        "InsufficientData",
        "NoEnoughDataToValidate",
        "Other",
    ),
    "Unknown": ("NotAvailable",),
}

GRAPH_INCIDENT_STATUSES = ("active", "inProgress", "resolved", "redirected", "awaitingAction")
GRAPH_ALERT_STATUSES = ("new", "inProgress", "resolved")
GRAPH_CLASSIFICATIONS = (
    "unknown",
    "truePositive",
    "informationalExpectedActivity",
    "falsePositive",
)
GRAPH_DETERMINATIONS = (
    "unknown",
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedUser",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "clean",
    "notMalicious",
    "insufficientData",
    "notEnoughDataToValidate",
    "confirmedUserActivity",
    "confirmedActivity",
    "lineOfBusinessApplication",
)


def one_of(value: Any, allowed: tuple[str, ...], field: str) -> str:
    """``value`` if it is exactly one of ``allowed`` (the APIs are case-sensitive)."""
    if value not in allowed:
        raise ValidationError(
            f"{field}: {str(value)[:60]!r} is not one of: {', '.join(allowed)}", field=field
        )
    return str(value)


def check_triage(
    classification: str | None, determination: str | None, *, graph: bool = False
) -> tuple[str | None, str | None]:
    """Validate a classification/determination pair (determination needs a classification)."""
    if graph:
        c = (
            one_of(classification, GRAPH_CLASSIFICATIONS, "classification")
            if classification
            else None
        )
        d = one_of(determination, GRAPH_DETERMINATIONS, "determination") if determination else None
        return c, d
    c = one_of(classification, CLASSIFICATIONS, "classification") if classification else None
    if determination is None:
        return c, None
    if c is None:
        raise ValidationError(
            "determination: set a classification too (determinations are grouped by "
            "classification)",
            field="determination",
        )
    return c, one_of(determination, DETERMINATIONS[c], f"determination (for {c})")


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
    alert_creation_time: datetime | None = None
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None
    last_update_time: datetime | None = None
    resolved_time: datetime | None = None
    machine_id: str | None = None
    computer_dns_name: str | None = None
    mitre_techniques: list[str] = []
    comments: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
