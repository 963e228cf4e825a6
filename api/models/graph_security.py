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
    DetectionRuleUpdate,
    ImpactedAsset,
    QueryCondition,
    ResponseAction,
    RulePeriod,
    RuleSchedule,
    RunDetails,
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
