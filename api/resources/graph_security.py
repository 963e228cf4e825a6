"""Graph security extras: custom detection rules (v1.0) and email remediation (beta).

* :class:`DetectionRulesAPI`: ``/v1.0/security/rules/detectionRules`` list, get, create, update,
  delete (``CustomDetection.Read.All`` to read, ``CustomDetection.ReadWrite.All`` to write;
  application and delegated), in the v1.0 shape (``status``, ``schedule.frequency``,
  ``tactics``, ``entityMappings``, ``automatedActions``; see
  :mod:`~prefect_defender.api.models.graph_security`). Graph v1.0 since 2026: no beta opt-in.

.. warning::
   Email remediation exists under Microsoft Graph ``/beta`` only, which Microsoft documents as
   "subject to change" and "not supported" in production applications (v1.0 lacks it). Use it
   knowingly; :mod:`prefect_defender.tasks.graph_security` makes callers opt in with
   ``accept_beta=True``.

* :class:`AnalyzedEmailsAPI`: ``POST /beta/security/collaboration/analyzedEmails/remediate``
  (``SecurityAnalyzedMessage.ReadWrite.All``, **application only**: a delegated (user) client is
  refused before anything is sent). The service answers ``202 Accepted`` with a ``Location``
  header pointing at the action center, where the purge is tracked.

The beta URL is derived explicitly from the cloud's Graph base: ``.../v1.0`` becomes
``.../beta`` (a base already ending in ``/beta`` is kept); any other base (a proxy path, say) is
refused, rather than silently sending a beta call to a v1.0 host. Email remediation is documented
for the global service only, so the US Government and China Graph hosts are refused as well.

Example:
    ```python
    async with creds.get_client() as client:
        rules = [r.display_name async for r in client.detection_rules.iterate()]
    ```
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import PermissionDeniedError, ValidationError
from prefect_defender.api.models.graph_security import (
    DetectionRule,
    DetectionRuleInput,
    DetectionRuleUpdate,
    EmailRemediation,
    EmailRemediationRequest,
    check_rule_id,
)
from prefect_defender.api.paging import as_models, collect, iterate_next_link
from prefect_defender.api.resources.base import Resource

__all__ = [
    "GLOBAL_ONLY_HOSTS",
    "AnalyzedEmailsAPI",
    "DetectionRulesAPI",
    "beta_base_url",
    "bulk_id_from_location",
]

#: Graph hosts of the national clouds, where the beta area (email remediation) is not available.
GLOBAL_ONLY_HOSTS = frozenset(
    {"graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
)
#: Graph ``$top`` ceiling used for paging rule lists (no documented maximum for this API).
MAX_PAGE = 1000


def beta_base_url(graph_base_url: str) -> str:
    """The Graph beta base for ``graph_base_url``, or a :class:`ValidationError`.

    Examples:
        >>> beta_base_url("https://graph.microsoft.com/v1.0")
        'https://graph.microsoft.com/beta'
    """
    base = graph_base_url.rstrip("/")
    host = (urlsplit(base).hostname or "").lower()
    if host in GLOBAL_ONLY_HOSTS:
        raise ValidationError(
            f"graph_base_url: {host} is a national cloud; Microsoft documents email remediation "
            "for the global service only",
            field="graph_base_url",
        )
    if base.endswith("/beta"):
        return base
    if base.endswith("/v1.0"):
        return base[: -len("/v1.0")] + "/beta"
    raise ValidationError(
        f"graph_base_url: {base!r} does not end in /v1.0 or /beta, so the Graph beta URL cannot "
        "be derived from it; set graph_base_url to '<host>/v1.0'",
        field="graph_base_url",
    )


def bulk_id_from_location(location: str | None) -> str | None:
    """The ``bulkId`` in an action-center ``Location`` (``filters={"bulkId":["..."]}``).

    Examples:
        >>> bulk_id_from_location(
        ...     'https://security.microsoft.com/action-center/history'
        ...     '?filters={"bulkId":["9f6c"]}&tid=t1')
        '9f6c'
    """
    if not location:
        return None
    query = parse_qs(urlsplit(location).query)
    for raw in query.get("filters", []):
        try:
            filters = json.loads(unquote(raw))
        except ValueError:
            continue
        ids = filters.get("bulkId") if isinstance(filters, dict) else None
        if isinstance(ids, list) and ids and isinstance(ids[0], str):
            return ids[0]
    return None


class _BetaResource(Resource):
    """A Graph beta area: checks the cloud can serve it before each call."""

    def _check_beta(self) -> None:
        beta_base_url(self.client.endpoints.graph_base_url)


class DetectionRulesAPI(Resource):
    """Custom detection rules (Graph v1.0)."""

    def iterate(
        self, *, page_size: int | None = None, limit: int | None = None
    ) -> AsyncIterator[DetectionRule]:
        """Every custom detection rule, following ``@odata.nextLink``."""
        params: dict[str, Any] = {}
        if page_size is not None:
            if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
                raise ValidationError("page_size: a positive integer", field="page_size")
            params["$top"] = min(page_size, MAX_PAGE)
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise ValidationError("limit: must not be negative", field="limit")
        if limit == 0:
            return _nothing()
        return as_models(
            DetectionRule,
            iterate_next_link(
                self.transport,
                endpoint("graph.detection_rules.list"),
                params=params or None,
                limit=limit,
            ),
            "graph.detection_rules.list",
        )

    async def list(self, **kw: Any) -> builtins.list[DetectionRule]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, rule_id: str | int) -> DetectionRule:
        """One rule by id (``NotFoundError`` when there is none)."""
        rid = check_rule_id(rule_id)
        body = await self.transport.request_json(
            endpoint("graph.detection_rules.get"), path_params={"id": rid}
        )
        return read_model(DetectionRule, body, "graph.detection_rules.get")

    async def create(self, rule: DetectionRuleInput | dict[str, Any]) -> DetectionRule:
        """Create a rule (validated first: nothing is sent when it is invalid)."""
        item = rule if isinstance(rule, DetectionRuleInput) else _coerce(DetectionRuleInput, rule)
        body = await self.transport.request_json(
            endpoint("graph.detection_rules.create"),
            json=item.to_api(),
            idempotent=False,  # a lost answer must not create the rule twice
        )
        return read_model(DetectionRule, body, "graph.detection_rules.create")

    async def update(
        self, rule_id: str | int, changes: DetectionRuleUpdate | dict[str, Any]
    ) -> DetectionRule:
        """Change the given fields of a rule; returns the updated rule."""
        rid = check_rule_id(rule_id)
        item = (
            changes
            if isinstance(changes, DetectionRuleUpdate)
            else _coerce(DetectionRuleUpdate, changes)
        )
        body = await self.transport.request_json(
            endpoint("graph.detection_rules.update"), path_params={"id": rid}, json=item.to_api()
        )
        return read_model(DetectionRule, body, "graph.detection_rules.update")

    async def delete(self, rule_id: str | int) -> None:
        """Delete a rule (``NotFoundError`` when there is none)."""
        rid = check_rule_id(rule_id)
        await self.transport.request(
            endpoint("graph.detection_rules.delete"), path_params={"id": rid}
        )


class AnalyzedEmailsAPI(_BetaResource):
    """Email remediation (Graph **beta**, application permission only)."""

    async def remediate(
        self, request: EmailRemediationRequest | dict[str, Any]
    ) -> EmailRemediation:
        """Ask Defender for Office 365 to move or delete e-mails; answers once accepted (202).

        The purge runs asynchronously: follow it at ``result.location`` (the action center).
        The request is never repeated after a lost answer (the action could run twice).
        """
        item = (
            request
            if isinstance(request, EmailRemediationRequest)
            else _coerce(EmailRemediationRequest, request)
        )
        self._check_beta()
        ep = endpoint("graph.emails.remediate")
        if self.transport.provider.kind == "user":
            need = " or ".join(ep.application)
            raise PermissionDeniedError(
                "email remediation supports application permissions only; a delegated (user) "
                f"token cannot call it. Use an application or partner credential holding {need} "
                f"on {ep.api_name}.",
                required=ep.application,
                api=ep.api_name,
                code="DelegatedNotSupported",
            )
        resp = await self.transport.request(ep, json=item.to_api(), idempotent=False)
        location = resp.headers.get("Location")
        return EmailRemediation(
            status=resp.status_code,
            location=location,
            bulk_id=bulk_id_from_location(location),
            display_name=item.display_name,
            action=item.action,
            email_count=len(item.analyzed_emails),
        )


async def _nothing() -> AsyncIterator[DetectionRule]:
    return
    yield  # an async generator that yields nothing


def _coerce(model: Any, value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValidationError(
            f"expected a {model.__name__} or a mapping, got {type(value).__name__}",
            field=model.error_field,
        )
    return model(**value)
