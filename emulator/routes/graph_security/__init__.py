"""Graph beta security extras: custom detection rules (:mod:`.detection_rules`) and email
remediation (:mod:`.email_remediation`), one area as in ``api`` and ``tasks``.

Served under ``/beta`` only (a ``/v1.0`` path is answered 404, like any unknown route), as
documented on the Graph beta pages security-detectionrule(-get, -post-detectionrules, -update,
-delete, -list), security-ruleschedule and security-analyzedemail-remediate:

* ``/beta/security/rules/detectionRules``: ``CustomDetection.Read.All`` or
  ``CustomDetection.ReadWrite.All`` to read, ``CustomDetection.ReadWrite.All`` to write, for
  application and delegated tokens alike. Rule ids are decimal numbers issued by the service;
  create answers 201 with the rule, update 200 with the updated rule, delete 204; an unknown id
  is 404. Body property names are case-sensitive and unknown ones are refused (400); read-only
  metadata (``createdBy``, ``lastModifiedDateTime`` ...) is ignored on create, as documented, and
  refused on update, which takes the listed updatable properties only. ``schedule.period`` is
  one of ``0``, ``1H``, ``3H``, ``12H``, ``24H``; ``queryCondition.queryText`` must not be empty
  and its table and column names must be spelled as in advanced hunting.
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
