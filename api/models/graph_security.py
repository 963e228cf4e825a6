"""Models of the Graph security extras: custom detection rules (Graph **v1.0**) and email
remediation (Graph **beta**).

.. warning::
   Email remediation lives under Microsoft Graph ``/beta`` only. Microsoft says: "APIs under the
   /beta version in Microsoft Graph are subject to change. Use of these APIs in production
   applications is not supported." Callers opt in explicitly
   (see :mod:`prefect_defender.tasks.graph_security`). Custom detection rules are in v1.0 and
   need no opt-in.

Sources: detection rules in :mod:`~prefect_defender.api.models.detection_rule_parts`; email
remediation: ``security-analyzedemail`` and ``security-analyzedemail-remediate`` (beta).

Input models check everything before a request is sent:

* Graph enumerations that end in ``unknownFutureValue`` (remediation severity and action, alert
  severity, rule status) may grow, so they are *open strings*: a documented value is matched
  regardless of case and sent in its documented spelling; another well-formed camelCase word is
  passed through for the service to judge; anything else (blank, spaces, punctuation, the
  ``unknownFutureValue`` sentinel itself) is refused here.
* A rule's KQL (``queryCondition.queryText``) must not be empty; its frequency is an ISO 8601
  duration; the properties Microsoft removed on 1 October 2026 are refused naming their
  replacement.
* Network message ids are GUIDs; recipients and approvers are e-mail addresses.

Response models keep unknown fields and type enumerations as plain strings.

The models live in :mod:`~prefect_defender.api.models.detection_rules` and
:mod:`~prefect_defender.api.models.email_remediation` (shared input checks in
:mod:`~prefect_defender.api.models.graph_inputs`); every name stays importable from here.
"""

from __future__ import annotations

from prefect_defender.api.models.detection_rules import (
    MAX_QUERY_LENGTH,
    AlertTemplate,
    AlertTemplateSeverity,
    DetectionAction,
    DetectionRule,
    DetectionRuleInput,
    DetectionRuleStatus,
    DetectionRuleUpdate,
    QueryCondition,
    RuleSchedule,
    check_rule_id,
)
from prefect_defender.api.models.email_remediation import (
    MAX_ANALYZED_EMAILS,
    AnalyzedEmailRef,
    EmailRemediation,
    EmailRemediationRequest,
    RemediationAction,
    RemediationSeverity,
    check_email,
)
from prefect_defender.api.models.graph_inputs import check_open_choice

__all__ = [
    "MAX_ANALYZED_EMAILS",
    "MAX_QUERY_LENGTH",
    "AlertTemplate",
    "AlertTemplateSeverity",
    "AnalyzedEmailRef",
    "DetectionAction",
    "DetectionRule",
    "DetectionRuleInput",
    "DetectionRuleStatus",
    "DetectionRuleUpdate",
    "EmailRemediation",
    "EmailRemediationRequest",
    "QueryCondition",
    "RemediationAction",
    "RemediationSeverity",
    "RuleSchedule",
    "check_email",
    "check_open_choice",
    "check_rule_id",
]
