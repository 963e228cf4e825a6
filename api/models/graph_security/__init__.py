"""Models of the Graph security extras: custom detection rules (Graph **v1.0**) and email
remediation (Graph **beta**).

.. warning::
   Email remediation lives under Microsoft Graph ``/beta`` only. Microsoft says: "APIs under the
   /beta version in Microsoft Graph are subject to change. Use of these APIs in production
   applications is not supported." Callers opt in explicitly
   (see :mod:`prefect_defender.tasks.graph_security`). Custom detection rules are in v1.0 and
   need no opt-in.

Sources: detection rules in ``_detection_rule_parts``; email
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

The package is the public face; its parts (``_detection_rules``, ``_detection_rule_parts``,
``_email_remediation``, and the shared input checks in ``_graph_inputs``) are private.
"""

from __future__ import annotations

from prefect_defender.api.models.graph_security._detection_rule_parts import (
    ACTION_COLUMNS,
    ENTITY_MAPPINGS,
    ISOLATION_TYPES,
    MAX_FREQUENCY,
    check_automated_actions,
    check_entity_mappings,
    check_frequency,
    check_tactics,
)
from prefect_defender.api.models.graph_security._detection_rules import (
    MAX_QUERY_LENGTH,
    REMOVED_FIELDS,
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
    rule_id_for,
)
from prefect_defender.api.models.graph_security._email_remediation import (
    MAX_ANALYZED_EMAILS,
    AnalyzedEmailRef,
    EmailRemediation,
    EmailRemediationRequest,
    RemediationAction,
    RemediationSeverity,
    check_email,
)
from prefect_defender.api.models.graph_security._graph_inputs import (
    CAMEL_WORD,
    GraphInput,
    check_open_choice,
    optional_text,
)

__all__ = [
    "ACTION_COLUMNS",
    "CAMEL_WORD",
    "ENTITY_MAPPINGS",
    "ISOLATION_TYPES",
    "MAX_ANALYZED_EMAILS",
    "MAX_FREQUENCY",
    "MAX_QUERY_LENGTH",
    "REMOVED_FIELDS",
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
    "GraphInput",
    "QueryCondition",
    "RemediationAction",
    "RemediationSeverity",
    "RuleSchedule",
    "check_automated_actions",
    "check_email",
    "check_entity_mappings",
    "check_frequency",
    "check_open_choice",
    "check_rule_id",
    "check_tactics",
    "optional_text",
    "rule_id_for",
]
