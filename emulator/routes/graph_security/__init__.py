"""Graph security extras: custom detection rules (:mod:`.detection_rules`, Graph v1.0) and
email remediation (:mod:`.email_remediation`, Graph beta), one area as in ``api`` and ``tasks``.

* ``/v1.0/security/rules/detectionRules`` (security-rulesroot-list/post-detectionrules,
  security-detectionrule-get/update, security-rulesroot-delete-detectionrules, v1.0):
  ``CustomDetection.Read.All`` or ``CustomDetection.ReadWrite.All`` to read,
  ``CustomDetection.ReadWrite.All`` to write, for application and delegated tokens alike. The
  create body names its own ``id`` (409 when taken) and needs ``displayName``, ``status``,
  ``queryCondition``, ``schedule.frequency`` (an ISO 8601 duration) and ``detectionAction``
  (its ``alertTemplate`` with ``title`` and ``severity``); ``tactics``, ``entityMappings`` and
  ``automatedActions`` take only their documented collections and properties
  (:mod:`.rule_shape`). Body property names are case-sensitive; unknown ones, and the ones
  Microsoft removed on 2026-10-01 (``isEnabled``, ``schedule.period``, ``category``,
  ``mitreTechniques``, ``impactedAssets``, ``responseActions``), are refused with Graph's 400
  "does not exist on type". Read-only metadata (``createdBy``, ``lastModifiedDateTime`` ...) is
  ignored on create and refused on update. Create answers 201, update 200, delete 204, an
  unknown id 404; the query's table and column names must be spelled as in advanced hunting.
  The ``/beta`` path is not served (the client uses v1.0).
* ``POST /beta/security/collaboration/analyzedEmails/remediate``:
  ``SecurityAnalyzedMessage.ReadWrite.All``, **application only** (a delegated token gets 403).
  Answers ``202 Accepted`` with no body and a ``Location`` header linking to the action center
  history filtered on the new bulk action, as in the documented example. Each e-mail is named by
  ``id`` (the hunting ``ReportId``) or by ``networkMessageId`` + ``recipientEmailAddress`` and is
  looked up among the tenant's analyzed e-mails (seeded from the planted phishing row of
  ``EmailEvents``) and then in the ``EmailEvents`` hunting table; the remediation is recorded
  (admin dump ``email_remediations``) with a per-e-mail result, and found e-mails move.

Errors carry Graph's body (``{"error": {"code", "message", "innerError"}}``): 400 ``BadRequest``
for invalid input, 404 ``NotFound`` for an unknown rule.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect_defender.emulator.routes.graph_security import detection_rules, email_remediation
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["detection_rules", "email_remediation", "seed"]


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """Two portal-made rules, and the planted phishing e-mail of ``EmailEvents``."""
    now = datetime.now(UTC)
    detection_rules.seed_rules(tenant, now)
    email_remediation.seed_email(tenant, now)
