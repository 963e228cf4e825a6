"""Tasks for the Graph security extras: custom detection rules (Graph v1.0) and email
remediation (Graph *beta*).

.. warning::
   Email remediation calls Microsoft Graph ``/beta`` (v1.0 has no such API). Microsoft: "APIs
   under the /beta version in Microsoft Graph are subject to change. Use of these APIs in
   production applications is not supported." :func:`remediate_emails` therefore takes
   ``accept_beta`` and refuses to run (sending nothing) unless it is ``True``. The detection rule
   tasks call Graph v1.0 and need no opt-in.

Everything else is validated before the first request, too: rule ids, the rule's KQL (never
empty), its frequency (an ISO 8601 duration), tactics, entity mappings and automated actions
(only the documented collections and properties), severities and actions (documented values in
any case, or a new camelCase value Microsoft may have added), network message ids (GUIDs) and
e-mail addresses. A property Microsoft removed from detection rules on 1 October 2026
(``is_enabled``, ``period``, ``alert_category``, ``mitre_techniques``, ``impacted_assets``,
``response_actions``) is refused naming its replacement. Invalid input raises
``ValidationError`` with zero requests sent.

Permissions (Microsoft Graph): ``CustomDetection.Read.All`` to read rules,
``CustomDetection.ReadWrite.All`` to write them (application or delegated);
``SecurityAnalyzedMessage.ReadWrite.All`` to remediate e-mails (**application only**; a user
credential is refused before sending).
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    BetaOptIn,
    EmailAddress,
    EmailRemediationAction,
    EmailRemediationSeverity,
    Limit,
    RequiredText,
    RuleId,
    TenantId,
)
from prefect_defender.api.models.graph_security import (
    AnalyzedEmailRef,
    DetectionRule,
    DetectionRuleInput,
    DetectionRuleUpdate,
    EmailRemediation,
    EmailRemediationRequest,
    check_rule_id,
)
from prefect_defender.tasks.base import (
    DefenderCredentialsLike,
    defender_client,
    defender_task,
    task_logger,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus

__all__ = [
    "BETA_WARNING",
    "analyzed_emails_from_rows",
    "create_detection_rule",
    "delete_detection_rule",
    "get_detection_rule",
    "list_detection_rules",
    "remediate_emails",
    "update_detection_rule",
]

BETA_WARNING = (
    "Microsoft Graph /beta is subject to change and Microsoft does not support it in production"
)


def require_beta(accept_beta: bool, what: str) -> None:
    """Refuse (sending nothing) unless the caller opted in to Graph beta."""
    if accept_beta is not True:
        raise ValidationError(
            f"accept_beta: {what} is a Microsoft Graph beta API ({BETA_WARNING}); "
            "pass accept_beta=True to use it",
            field="accept_beta",
        )


@defender_task(endpoints=("graph.detection_rules.list",))
async def list_detection_rules(
    credentials: DefenderCredentialsLike,
    limit: Limit | None = None,
    tenant_id: TenantId | None = None,
) -> list[DetectionRule]:
    """Custom detection rules (Graph v1.0).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import list_detection_rules

        @flow
        async def disabled_rules() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rules = await list_detection_rules(creds)
            return [r.display_name or r.id for r in rules if not r.enabled]
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.detection_rules.list(limit=limit)


@defender_task(endpoints=("graph.detection_rules.get",))
async def get_detection_rule(
    credentials: DefenderCredentialsLike,
    rule_id: RuleId,
    tenant_id: TenantId | None = None,
) -> DetectionRule:
    """One custom detection rule by id (Graph v1.0; ``NotFoundError`` for an unknown id).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import get_detection_rule

        @flow
        async def rule_query(rule_id: str) -> str | None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rule = await get_detection_rule(creds, rule_id)
            return rule.query_text
        ```
    """
    rid = check_rule_id(rule_id)
    async with defender_client(credentials, tenant_id) as client:
        return await client.detection_rules.get(rid)


@defender_task(endpoints=("graph.detection_rules.create",))
async def create_detection_rule(
    credentials: DefenderCredentialsLike,
    rule: DetectionRuleInput | dict[str, Any],
    tenant_id: TenantId | None = None,
) -> DetectionRule:
    """Create a custom detection rule from a KQL query (Graph v1.0; validated before sending).

    ``rule`` holds ``display_name``, ``query_text`` (not empty), ``frequency`` (an ISO 8601
    duration: ``PT1H``, ``PT3H``, ``P1D``; ``1h`` works too), ``alert_title``, ``alert_severity``
    and optionally ``rule_id`` (derived from the name otherwise), ``status`` (``enabled``),
    ``description``, the alert's description and recommended actions, ``tactics``
    (``{"Execution": ["T1059.001"]}``), ``entity_mappings`` and ``automated_actions`` (Graph's
    objects naming the query's columns).

    Automated actions run on every match without asking anyone: isolate devices, disable users,
    delete e-mail. Give them only for rules whose query you trust to that degree.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import create_detection_rule

        @flow
        async def detect_encoded_powershell() -> str:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rule = await create_detection_rule(creds, {
                "display_name": "Encoded PowerShell",
                "query_text": "DeviceProcessEvents | where ProcessCommandLine has '-enc'"
                              " | project Timestamp, DeviceId, DeviceName, ReportId",
                "frequency": "PT1H",
                "alert_title": "Encoded PowerShell", "alert_severity": "medium",
                "tactics": {"Execution": ["T1059.001"]},
                "entity_mappings": {"hosts": [{"deviceIdColumn": "DeviceId",
                                               "nameColumn": "DeviceName"}]},
            })
            return rule.id
        ```
    """
    item = rule if isinstance(rule, DetectionRuleInput) else _model(DetectionRuleInput, rule)
    async with defender_client(credentials, tenant_id) as client:
        created = await client.detection_rules.create(item)
    task_logger().info("created custom detection rule %s (%s)", created.id, item.display_name)
    return created


@defender_task(endpoints=("graph.detection_rules.update",))
async def update_detection_rule(
    credentials: DefenderCredentialsLike,
    rule_id: RuleId,
    changes: DetectionRuleUpdate | dict[str, Any],
    tenant_id: TenantId | None = None,
) -> DetectionRule:
    """Change a custom detection rule's name, status, query, frequency, alert or automated
    actions (Graph v1.0).

    Only the given fields are sent; ``{"status": "disabled"}`` turns a rule off.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import update_detection_rule

        @flow
        async def slow_down(rule_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await update_detection_rule(
                creds, rule_id, {"frequency": "P1D", "alert_severity": "low"})
        ```
    """
    rid = check_rule_id(rule_id)
    item = (
        changes
        if isinstance(changes, DetectionRuleUpdate)
        else _model(DetectionRuleUpdate, changes)
    )
    async with defender_client(credentials, tenant_id) as client:
        return await client.detection_rules.update(rid, item)


@defender_task(endpoints=("graph.detection_rules.delete",))
async def delete_detection_rule(
    credentials: DefenderCredentialsLike,
    rule_id: RuleId,
    tenant_id: TenantId | None = None,
) -> None:
    """Delete a custom detection rule (Graph v1.0; ``NotFoundError`` for an unknown id).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import delete_detection_rule

        @flow
        async def retire(rule_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await delete_detection_rule(creds, rule_id)
        ```
    """
    rid = check_rule_id(rule_id)
    async with defender_client(credentials, tenant_id) as client:
        await client.detection_rules.delete(rid)
    task_logger().info("deleted custom detection rule %s", rid)


@defender_task(endpoints=("graph.emails.remediate",))
async def remediate_emails(
    credentials: DefenderCredentialsLike,
    display_name: RequiredText,
    description: RequiredText,
    action: EmailRemediationAction,
    analyzed_emails: list[AnalyzedEmailRef | dict[str, Any]],
    severity: EmailRemediationSeverity = "medium",
    remediate_senders_copy: bool = False,
    approver_upn: EmailAddress | None = None,
    dry_run: bool = False,
    accept_beta: BetaOptIn = False,
    tenant_id: TenantId | None = None,
) -> EmailRemediation:
    """Move or delete delivered e-mails from mailboxes (Graph beta, application only).

    ``action`` is ``moveToJunk``, ``moveToInbox``, ``moveToDeletedItems``, ``softDelete`` or
    ``hardDelete``; each e-mail is given by its ``network_message_id`` (GUID) and
    ``recipient_email_address``, or by its analyzed-email ``id``. Defender answers 202 and runs
    the purge in the background: ``result.location`` links to it in the action center. A user
    (delegated) credential is refused before sending: Microsoft allows application tokens only.
    ``dry_run=True`` validates and reports without sending.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import remediate_emails

        @flow
        async def purge_phish() -> str | None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            result = await remediate_emails(
                creds, display_name="IR-7 phish", description="Password reset lure",
                action="softDelete", severity="high",
                analyzed_emails=[{
                    "network_message_id": "b1f0c7a2-0000-4000-8000-000000000001",
                    "recipient_email_address": "jdoe@contoso.example"}],
                accept_beta=True)
            return result.location
        ```
    """
    require_beta(accept_beta, "email remediation")
    req = _model(
        EmailRemediationRequest,
        {
            "display_name": display_name,
            "description": description,
            "action": action,
            "severity": severity,
            "analyzed_emails": analyzed_emails,
            "remediate_senders_copy": remediate_senders_copy,
            "approver_upn": approver_upn,
        },
    )
    log = task_logger()
    if dry_run:
        log.info(
            "dry run: would %s %d e-mail(s) (%s)",
            req.action,
            len(req.analyzed_emails),
            BETA_WARNING,
        )
        return EmailRemediation(
            status=0,
            display_name=req.display_name,
            action=req.action,
            email_count=len(req.analyzed_emails),
        )
    async with defender_client(credentials, tenant_id) as client:
        result = await client.analyzed_emails.remediate(req)
    log.info(
        "remediation %r accepted: %s on %d e-mail(s); follow it at %s",
        req.display_name,
        req.action,
        len(req.analyzed_emails),
        result.location,
    )
    return result


def analyzed_emails_from_rows(
    rows: list[dict[str, Any]],
) -> tuple[list[AnalyzedEmailRef], list[ItemOutcome]]:
    """E-mails to remediate from advanced hunting rows (``EmailEvents`` and friends).

    Each row needs ``NetworkMessageId`` and ``RecipientEmailAddress``; duplicates collapse into
    one. A row that cannot be used is returned as a ``skipped`` outcome, never dropped silently.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import (
            analyzed_emails_from_rows, remediate_emails)
        from prefect_defender.tasks.hunting import run_hunting_query

        @flow
        async def purge_lure(subject: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            found = await run_hunting_query(creds, "EmailEvents | where ThreatTypes has 'Phish'")
            emails, skipped = analyzed_emails_from_rows(found.rows)
            if emails:
                await remediate_emails(creds, "phish purge", subject, "softDelete", emails,
                                       accept_beta=True)
        ```
    """
    refs: dict[tuple[str, str], AnalyzedEmailRef] = {}
    skipped: list[ItemOutcome] = []
    for i, row in enumerate(rows):
        nmid = row.get("NetworkMessageId") if isinstance(row, dict) else None
        rcpt = row.get("RecipientEmailAddress") if isinstance(row, dict) else None
        try:
            ref = AnalyzedEmailRef(network_message_id=nmid, recipient_email_address=rcpt)
        except ValidationError as exc:
            skipped.append(
                ItemOutcome(item=f"row {i}", status=OutcomeStatus.SKIPPED, reason=exc.message)
            )
            continue
        key = (str(ref.network_message_id), str(ref.recipient_email_address).lower())
        refs.setdefault(key, ref)
    return list(refs.values()), skipped


def _model(model: Any, value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValidationError(
            f"expected a {model.__name__} or a mapping, got {type(value).__name__}",
            field=model.error_field,
        )
    return model(**value)
