"""Custom detection rules (Graph beta ``security/rules/detectionRules``): the input models
(:class:`DetectionRuleInput`, :class:`DetectionRuleUpdate`), checked before a request is sent,
and the answer (:class:`DetectionRule`). See :mod:`~prefect_defender.api.models.graph_security`
for the sources and the beta warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, model_validator

from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.models.graph_inputs import (
    GraphInput,
    check_open_choice,
    check_typed_items,
    optional_text,
)
from prefect_defender.api.validation import check_required_text
from prefect_defender.api.value_checks import fail as _fail

__all__ = [
    "MAX_QUERY_LENGTH",
    "AlertTemplate",
    "AlertTemplateSeverity",
    "DetectionAction",
    "DetectionRule",
    "DetectionRuleInput",
    "DetectionRuleUpdate",
    "ImpactedAsset",
    "QueryCondition",
    "ResponseAction",
    "RulePeriod",
    "RuleSchedule",
    "RunDetails",
    "check_rule_id",
]

#: No documented maximum for a rule's query; a generous bound keeps requests sane.
MAX_QUERY_LENGTH = 30_000
_RULE_ID = re.compile(r"^[0-9]{1,19}$")
_MITRE = re.compile(r"^T[0-9]{4}(\.[0-9]{3})?$")


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


def check_rule_id(value: Any, field: str = "rule_id") -> str:
    """A custom detection rule id: the service issues decimal numbers (``"35079"``)."""
    if isinstance(value, bool):
        raise _fail(field, "expected a rule id such as '35079'")
    if isinstance(value, int) and value > 0:
        return str(value)
    if not isinstance(value, str) or not _RULE_ID.match(value.strip()):
        raise _fail(field, f"{str(value)[:40]!r} is not a rule id (a decimal number)")
    return value.strip()


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
        "display_name": lambda v: check_required_text(v, "display_name", 256),
        "query_text": _query,
        "period": _period,
        "alert_title": lambda v: check_required_text(v, "alert_title", 256),
        "alert_description": lambda v: optional_text(v, "alert_description"),
        "alert_severity": lambda v: check_open_choice(v, AlertTemplateSeverity, "alert_severity"),
        "alert_category": lambda v: optional_text(v, "alert_category", 256),
        "recommended_actions": lambda v: optional_text(v, "recommended_actions"),
        "mitre_techniques": _mitre,
        "impacted_assets": lambda v: check_typed_items(v, "impacted_assets", identifier=True),
        "response_actions": lambda v: check_typed_items(v, "response_actions", identifier=False),
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


class DetectionRuleInput(GraphInput):
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


class DetectionRuleUpdate(GraphInput):
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
