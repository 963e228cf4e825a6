"""Tasks for the Graph security *beta* extras: custom detection rules and email remediation.

.. warning::
   These tasks call Microsoft Graph ``/beta``. Microsoft: "APIs under the /beta version in
   Microsoft Graph are subject to change. Use of these APIs in production applications is not
   supported." Every task therefore takes ``accept_beta`` and refuses to run (sending nothing)
   unless it is ``True``: a playbook opts in knowingly, call by call.

Everything else is validated before the first request, too: rule ids, the rule's KQL (never
empty), the schedule period (``0``, ``1H``, ``3H``, ``12H``, ``24H``), severities and actions
(documented values in any case, or a new camelCase value Microsoft may have added), network
message ids (GUIDs) and e-mail addresses. Invalid input raises ``ValidationError`` with zero
requests sent.

Permissions (Microsoft Graph): ``CustomDetection.Read.All`` to read rules,
``CustomDetection.ReadWrite.All`` to write them (application or delegated);
``SecurityAnalyzedMessage.ReadWrite.All`` to remediate e-mails (**application only**; a user
credential is refused before sending).
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.errors import ValidationError
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
    accept_beta: bool = False,
    limit: int | None = None,
    tenant_id: str | None = None,
) -> list[DetectionRule]:
    """Custom detection rules (Graph beta; pass ``accept_beta=True``).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import list_detection_rules

        @flow
        async def disabled_rules() -> list[str]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rules = await list_detection_rules(creds, accept_beta=True)
            return [r.display_name or r.id for r in rules if not r.is_enabled]
        ```
    """
    require_beta(accept_beta, "custom detection rules")
    async with defender_client(credentials, tenant_id) as client:
        return await client.detection_rules.list(limit=limit)


@defender_task(endpoints=("graph.detection_rules.get",))
async def get_detection_rule(
    credentials: DefenderCredentialsLike,
    rule_id: str,
    accept_beta: bool = False,
    tenant_id: str | None = None,
) -> DetectionRule:
    """One custom detection rule by id (Graph beta; ``NotFoundError`` for an unknown id).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import get_detection_rule

        @flow
        async def rule_query(rule_id: str) -> str | None:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            rule = await get_detection_rule(creds, rule_id, accept_beta=True)
            return rule.query_text
        ```
    """
    require_beta(accept_beta, "custom detection rules")
    rid = check_rule_id(rule_id)
    async with defender_client(credentials, tenant_id) as client:
        return await client.detection_rules.get(rid)


@defender_task(endpoints=("graph.detection_rules.create",))
async def create_detection_rule(
    credentials: DefenderCredentialsLike,
    rule: DetectionRuleInput | dict[str, Any],
    accept_beta: bool = False,
    tenant_id: str | None = None,
) -> DetectionRule:
    """Create a custom detection rule from a KQL query (Graph beta; validated before sending).

    ``rule`` holds ``display_name``, ``query_text`` (not empty), ``period`` (``0`` for
    continuous, ``1H``, ``3H``, ``12H`` or ``24H``), ``alert_title``, ``alert_severity`` and
    optionally the alert's description, category, recommended actions, MITRE techniques,
    impacted assets and response actions (Graph's ``@odata.type`` objects).

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
                              " | project Timestamp, DeviceId, ReportId",
                "period": "1H",
                "alert_title": "Encoded PowerShell", "alert_severity": "medium",
                "alert_category": "Execution", "mitre_techniques": ["T1059.001"],
                "impacted_assets": [{"@odata.type":
                    "#microsoft.graph.security.impactedDeviceAsset", "identifier": "deviceId"}],
            }, accept_beta=True)
            return rule.id
        ```
    """
    require_beta(accept_beta, "custom detection rules")
    item = rule if isinstance(rule, DetectionRuleInput) else _model(DetectionRuleInput, rule)
    async with defender_client(credentials, tenant_id) as client:
        created = await client.detection_rules.create(item)
    task_logger().info("created custom detection rule %s (%s)", created.id, item.display_name)
    return created


@defender_task(endpoints=("graph.detection_rules.update",))
async def update_detection_rule(
    credentials: DefenderCredentialsLike,
    rule_id: str,
    changes: DetectionRuleUpdate | dict[str, Any],
    accept_beta: bool = False,
    tenant_id: str | None = None,
) -> DetectionRule:
    """Change a custom detection rule's name, state, query, schedule or alert (Graph beta).

    Only the given fields are sent; ``{"is_enabled": False}`` turns a rule off.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import update_detection_rule

        @flow
        async def slow_down(rule_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await update_detection_rule(
                creds, rule_id, {"period": "24H", "alert_severity": "low"}, accept_beta=True)
        ```
    """
    require_beta(accept_beta, "custom detection rules")
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
    rule_id: str,
    accept_beta: bool = False,
    tenant_id: str | None = None,
) -> None:
    """Delete a custom detection rule (Graph beta; ``NotFoundError`` for an unknown id).

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.graph_security import delete_detection_rule

        @flow
        async def retire(rule_id: str):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            await delete_detection_rule(creds, rule_id, accept_beta=True)
        ```
    """
    require_beta(accept_beta, "custom detection rules")
    rid = check_rule_id(rule_id)
    async with defender_client(credentials, tenant_id) as client:
        await client.detection_rules.delete(rid)
    task_logger().info("deleted custom detection rule %s", rid)


@defender_task(endpoints=("graph.emails.remediate",))
async def remediate_emails(
    credentials: DefenderCredentialsLike,
    display_name: str,
    description: str,
    action: str,
    analyzed_emails: list[AnalyzedEmailRef | dict[str, Any]],
    severity: str = "medium",
    remediate_senders_copy: bool = False,
    approver_upn: str | None = None,
    dry_run: bool = False,
    accept_beta: bool = False,
    tenant_id: str | None = None,
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
