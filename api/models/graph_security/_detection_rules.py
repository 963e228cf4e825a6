"""Custom detection rules on Microsoft Graph **v1.0** (``/security/rules/detectionRules``): the
input models (:class:`DetectionRuleInput`, :class:`DetectionRuleUpdate`), checked before a
request is sent, and the answer (:class:`DetectionRule`).

The shape is the current one (sources in :mod:`~prefect_defender.api.models.graph_security`):
``status`` (not ``isEnabled``), ``schedule.frequency`` (not ``period``), ``alertTemplate.tactics``
(not ``category``/``mitreTechniques``), ``alertTemplate.entityMappings`` (not
``impactedAssets``) and ``detectionAction.automatedActions`` (not ``responseActions``). Microsoft
removed the old properties on 1 October 2026 (the beta pages); giving one of them here raises a
``ValidationError`` that names its replacement, before anything is sent.

Permissions: ``CustomDetection.Read.All`` to read, ``CustomDetection.ReadWrite.All`` to write
(application and delegated).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, model_validator

from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.models.graph_security._detection_rule_parts import (
    check_automated_actions,
    check_entity_mappings,
    check_frequency,
    check_tactics,
)
from prefect_defender.api.models.graph_security._graph_inputs import (
    GraphInput,
    check_open_choice,
    optional_text,
)
from prefect_defender.api.validation import check_required_text
from prefect_defender.api.validation import fail as _fail

__all__ = [
    "MAX_QUERY_LENGTH",
    "REMOVED_FIELDS",
    "AlertTemplate",
    "AlertTemplateSeverity",
    "DetectionAction",
    "DetectionRule",
    "DetectionRuleInput",
    "DetectionRuleStatus",
    "DetectionRuleUpdate",
    "QueryCondition",
    "RuleSchedule",
    "check_rule_id",
    "rule_id_for",
]

#: No documented maximum for a rule's query; a generous bound keeps requests sane.
MAX_QUERY_LENGTH = 30_000
#: a rule id: the service's decimal ids, and v1.0's client-provided ones
#: ("office-encoded-powershell" in the create page's example)
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

#: the input names of properties Microsoft removed on 2026-10-01, and what replaces each
REMOVED_FIELDS: dict[str, str] = {
    "is_enabled": "status ('enabled' or 'disabled')",
    "period": "frequency (an ISO 8601 duration such as PT1H)",
    "alert_category": "tactics ({'Execution': ['T1059.001']})",
    "mitre_techniques": "tactics ({'Execution': ['T1059.001']})",
    "impacted_assets": "entity_mappings ({'hosts': [{'deviceIdColumn': 'DeviceId'}]})",
    "response_actions": "automated_actions ({'isolateDevices': [{'deviceIdColumn': ...}]})",
}


class AlertTemplateSeverity(StrEnum):
    """``microsoft.graph.alertSeverity`` values a rule's alert can carry (open: may grow)."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DetectionRuleStatus(StrEnum):
    """``detectionRuleStatus`` a caller can set (``autoDisabled`` is the service's own)."""

    ENABLED = "enabled"
    DISABLED = "disabled"


def check_rule_id(value: Any, field: str = "rule_id") -> str:
    """A detection rule id: letters, digits, ``.``, ``_``, ``-`` (up to 128), or a number."""
    if isinstance(value, bool):
        raise _fail(field, "expected a rule id such as 'office-encoded-powershell'")
    if isinstance(value, int) and value > 0:
        return str(value)
    if not isinstance(value, str) or not _RULE_ID.match(value.strip()):
        raise _fail(field, f"{str(value)[:40]!r} is not a rule id (letters, digits, . _ -)")
    return value.strip()


def rule_id_for(name: str) -> str:
    """A rule id made from a display name (``Encoded PowerShell`` -> ``encoded-powershell``).

    Examples:
        >>> rule_id_for("Encoded PowerShell (Office)")
        'encoded-powershell-office'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:128].rstrip("-")
    return slug or "rule"


def _query(value: Any, field: str = "query_text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "the rule's KQL query must not be empty")
    if "\x00" in value:
        raise _fail(field, "contains a NUL character")
    if len(value) > MAX_QUERY_LENGTH:
        raise _fail(field, f"is {len(value)} characters long; at most {MAX_QUERY_LENGTH}")
    return value.strip()


def _refuse_removed(data: dict[str, Any]) -> None:
    for name, instead in REMOVED_FIELDS.items():
        if data.get(name) is not None:
            raise _fail(
                name,
                f"Microsoft removed this property from custom detection rules on 1 October 2026; "
                f"use {instead}",
            )


_CHECKS: dict[str, Any] = {
    "rule_id": check_rule_id,
    "display_name": lambda v: check_required_text(v, "display_name", 256),
    "description": lambda v: optional_text(v, "description"),
    "status": lambda v: check_open_choice(v, DetectionRuleStatus, "status"),
    "query_text": _query,
    "frequency": check_frequency,
    "alert_title": lambda v: check_required_text(v, "alert_title", 256),
    "alert_description": lambda v: optional_text(v, "alert_description"),
    "alert_severity": lambda v: check_open_choice(v, AlertTemplateSeverity, "alert_severity"),
    "recommended_actions": lambda v: optional_text(v, "recommended_actions"),
    "tactics": check_tactics,
    "entity_mappings": check_entity_mappings,
    "automated_actions": check_automated_actions,
}


def _check_rule_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    _refuse_removed(data)
    out = dict(data)
    for name in ("display_name", "query_text", "frequency", "alert_title", "alert_severity"):
        if not partial and out.get(name) is None:
            raise _fail(name, "required")
    for name, check in _CHECKS.items():
        if out.get(name) is not None:
            out[name] = check(out[name])
    scope = out.get("organizational_scope")
    if scope is not None and not isinstance(scope, dict):
        raise _fail("organizational_scope", "expected an object (or nothing)")
    return out


class DetectionRuleInput(GraphInput):
    """A custom detection rule to create (Graph v1.0), flattened for forms and task parameters.

    ``rule_id`` is the client-provided id the create page requires (derived from the display
    name when not given). ``tactics`` maps MITRE tactics to techniques; ``entity_mappings`` and
    ``automated_actions`` take Graph's objects, whose values name columns the query returns.

    Examples:
        >>> rule = DetectionRuleInput(
        ...     display_name="Encoded PowerShell", query_text="DeviceProcessEvents | take 1",
        ...     frequency="1h", alert_title="Encoded PowerShell", alert_severity="Medium",
        ...     tactics={"Execution": ["T1059.001"]},
        ...     automated_actions={"isolateDevices": [{"deviceIdColumn": "DeviceId"}]})
        >>> body = rule.to_api()
        >>> body["id"], body["status"], body["schedule"]
        ('encoded-powershell', 'enabled', {'frequency': 'PT1H'})
        >>> body["detectionAction"].get("automatedActions")
        {'isolateDevices': [{'deviceIdColumn': 'DeviceId', 'isolationType': 'full'}]}
    """

    error_field: ClassVar[str] = "rule"

    rule_id: str | None = Field(default=None, description="Client-provided id (derived if not).")
    display_name: str
    description: str | None = None
    status: str = Field(default="enabled", description="enabled or disabled.")
    query_text: str = Field(description="The advanced hunting (KQL) query; must not be empty.")
    frequency: str = Field(description="How often it runs: an ISO 8601 duration (PT1H, P1D).")
    alert_title: str
    alert_severity: str = Field(description="informational, low, medium or high.")
    alert_description: str | None = None
    recommended_actions: str | None = None
    tactics: list[dict[str, Any]] = Field(default_factory=list)
    entity_mappings: dict[str, Any] = Field(default_factory=dict)
    automated_actions: dict[str, Any] = Field(default_factory=dict)
    organizational_scope: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _checks(cls, data: Any) -> Any:
        return _check_rule_fields(data, partial=False) if isinstance(data, dict) else data

    def to_api(self) -> dict[str, Any]:
        """The ``POST /security/rules/detectionRules`` body (Graph v1.0)."""
        d = self.model_dump()
        d["rule_id"] = d["rule_id"] or rule_id_for(self.display_name)
        return _rule_body(d, partial=False)


class DetectionRuleUpdate(GraphInput):
    """The fields of a custom detection rule to change; only the given ones are sent.

    ``recommended_actions=""`` clears it; ``automated_actions`` and ``entity_mappings`` replace
    the rule's (``{}`` removes them all).

    Examples:
        >>> body = DetectionRuleUpdate(frequency="24h", status="disabled").to_api()
        >>> body
        {'status': 'disabled', 'schedule': {'frequency': 'P1D'}}
    """

    error_field: ClassVar[str] = "update"

    display_name: str | None = None
    description: str | None = None
    status: str | None = None
    query_text: str | None = None
    frequency: str | None = None
    alert_title: str | None = None
    alert_severity: str | None = None
    alert_description: str | None = None
    recommended_actions: str | None = None
    tactics: list[dict[str, Any]] | None = None
    entity_mappings: dict[str, Any] | None = None
    automated_actions: dict[str, Any] | None = None
    organizational_scope: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _checks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("rule_id") is not None:
            raise _fail("rule_id", "a rule's id cannot be changed")
        out = _check_rule_fields(data, partial=True)
        if not any(out.get(f) is not None for f in _CHECKS if f != "rule_id") and (
            out.get("organizational_scope") is None
        ):
            raise _fail("update", "nothing to update: give at least one field")
        return out

    def to_api(self) -> dict[str, Any]:
        """The ``PATCH /security/rules/detectionRules/{id}`` body (given fields only)."""
        return _rule_body(self.model_dump(exclude_none=True), partial=True)


_TEMPLATE_NAMES = {
    "alert_title": "title",
    "alert_description": "description",
    "alert_severity": "severity",
    "recommended_actions": "recommendedActions",
    "tactics": "tactics",
    "entity_mappings": "entityMappings",
}


def _rule_body(d: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for ours, theirs in (("rule_id", "id"), ("display_name", "displayName")):
        if d.get(ours) is not None:
            body[theirs] = d[ours]
    for name in ("description", "status"):
        if d.get(name) is not None:
            body[name] = d[name]
    if "query_text" in d:
        body["queryCondition"] = {"queryText": d["query_text"]}
    if "frequency" in d:
        body["schedule"] = {"frequency": d["frequency"]}
    template = {
        theirs: d[ours]
        for ours, theirs in _TEMPLATE_NAMES.items()
        if ours in d and (partial or d[ours] not in (None, [], {}))
    }
    if partial and template.get("recommendedActions") == "":
        template["recommendedActions"] = None
    action: dict[str, Any] = {}
    if template or not partial:
        action["alertTemplate"] = template
    if "automated_actions" in d and (partial or d["automated_actions"]):
        action["automatedActions"] = d["automated_actions"]
    if d.get("organizational_scope") is not None:
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
    """How often the rule runs (an ISO 8601 duration)."""

    frequency: str | None = None


class AlertTemplate(DefenderModel):
    """The alert a rule raises."""

    title: str | None = None
    description: str | None = None
    severity: str | None = None
    recommended_actions: str | None = None
    tactics: list[dict[str, Any]] = Field(default_factory=list)
    entity_mappings: dict[str, Any] | None = None
    custom_details: dict[str, Any] | None = None


class DetectionAction(DefenderModel):
    """What happens on a match: the alert, the scope and the automated actions."""

    alert_template: AlertTemplate | None = None
    organizational_scope: dict[str, Any] | None = None
    automated_actions: dict[str, Any] | None = None


class DetectionRule(DefenderModel):
    """A custom detection rule (``microsoft.graph.security.detectionRule``, Graph v1.0)."""

    id: str
    display_name: str | None = None
    description: str | None = None
    status: str | None = None
    created_by: str | None = None
    created_date_time: datetime | None = None
    last_modified_by: str | None = None
    last_modified_date_time: datetime | None = None
    query_condition: QueryCondition | None = None
    schedule: RuleSchedule | None = None
    detection_action: DetectionAction | None = None

    @property
    def query_text(self) -> str | None:
        """The rule's KQL."""
        return self.query_condition.query_text if self.query_condition else None

    @property
    def frequency(self) -> str | None:
        """How often the rule runs (``PT1H``, ``P1D`` ...)."""
        return self.schedule.frequency if self.schedule else None

    @property
    def enabled(self) -> bool:
        """True when the rule runs (``status`` ``enabled``)."""
        return self.status == DetectionRuleStatus.ENABLED.value

    @property
    def automated_actions(self) -> dict[str, Any]:
        """The rule's automated actions (``{}`` when none)."""
        action = self.detection_action
        return dict(action.automated_actions or {}) if action else {}
