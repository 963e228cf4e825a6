"""Identity response: Defender XDR identity accounts, Entra ID users and risky users.

* :class:`IdentityAccountsAPI`: ``/security/identities/identityAccounts`` list and get
  (``SecurityIdentitiesAccount.Read.All``) and ``invokeAction``
  (``SecurityIdentitiesActions.ReadWrite.All``): disable, enable, force password reset, revoke all
  sessions, require sign-in again, mark as compromised, across Entra ID, on-premises Active
  Directory and Okta. An action is sent only if the account's own ``actions`` list names it
  (Microsoft's pages disagree on which provider takes which action; the service's answer per
  account is the tie-breaker), so an unsupported pair fails before any write.
* :class:`EntraUsersAPI`: ``GET /users/{id | UPN}``, ``PATCH /users/{id}`` with
  ``accountEnabled`` (``User.EnableDisableAccount.All``), ``POST /users/{id}/revokeSignInSessions``
  (``User.RevokeSessions.All``).
* :class:`RiskyUsersAPI`: ``/identityProtection/riskyUsers`` list/get
  (``IdentityRiskyUser.Read.All``), ``confirmCompromised`` and ``dismiss``
  (``IdentityRiskyUser.ReadWrite.All``; object ids only, no UPNs).

Example:
    >>> async def contain(client, upn):                                     # doctest: +SKIP
    ...     ident = await client.identity_accounts.find(upn)
    ...     acc = ident.account("entraID")
    ...     await client.identity_accounts.invoke_action(
    ...         ident.id, acc.identifier, "disable", "entraID", identity=ident)
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.identities import (
    EntraUser,
    HealthIssue,
    IdentityAccount,
    IdentityAction,
    IdentityProvider,
    InvokeActionResult,
    RiskDetection,
    RiskyUser,
    SignIn,
)
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import as_models, iterate_next_link
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    check_choice,
    check_items,
    check_odata_filter,
    check_opaque_id,
    check_user_ref,
)

__all__ = [
    "HEALTH_SEVERITIES",
    "HEALTH_STATUSES",
    "RISK_LEVELS",
    "RISK_STATES",
    "EntraUsersAPI",
    "HealthIssuesAPI",
    "IdentityAccountsAPI",
    "RiskDetectionsAPI",
    "RiskyUsersAPI",
    "SignInsAPI",
]

#: documented riskLevel and riskState values (riskyUser resource), for filters
RISK_LEVELS = ("low", "medium", "high", "hidden", "none")
RISK_STATES = (
    "none",
    "confirmedSafe",
    "remediated",
    "dismissed",
    "atRisk",
    "confirmedCompromised",
)
_RISK_FILTER = ODataFilter(("riskLevel", "riskState"))
_USER_FILTER = ODataFilter(("userId", "userPrincipalName", "createdDateTime"))
#: documented healthIssue values (healthIssue resource); the list page's examples write the
#: property as ``Status`` while the resource names it ``status``: the client sends ``status``
HEALTH_STATUSES = ("open", "closed", "suppressed")
HEALTH_SEVERITIES = ("low", "medium", "high")
_HEALTH_FILTER = ODataFilter(("status", "severity"))
#: ids per confirmCompromised/dismiss request: the pages document no maximum, so long lists
#: are sent in batches of this size to bound each request
MAX_USER_IDS = 60


def _limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError("limit: a non-negative integer", field="limit")
    return limit


class IdentityAccountsAPI(Resource):
    """Defender XDR identity accounts and their response actions (Graph v1.0)."""

    def iterate(
        self, *, odata_filter: str | None = None, limit: int | None = None
    ) -> AsyncIterator[IdentityAccount]:
        """Every identity account (``@odata.nextLink`` followed to the end)."""
        params = {"$filter": check_odata_filter(odata_filter)} if odata_filter else None
        return as_models(
            IdentityAccount,
            iterate_next_link(
                self.transport,
                endpoint("graph.identity_accounts.list"),
                params=params,
                limit=_limit(limit),
            ),
        )

    async def list(self, **kw: Any) -> builtins.list[IdentityAccount]:
        """All of :meth:`iterate` as a list."""
        return [i async for i in self.iterate(**kw)]

    async def get(self, identity_id: str) -> IdentityAccount:
        """One identity account by its id (``NotFoundError`` when there is none)."""
        iid = check_opaque_id(identity_id, "identity_id")
        body = await self.transport.request_json(
            endpoint("graph.identity_accounts.get"), path_params={"id": iid}
        )
        return IdentityAccount.model_validate(body)

    async def find(self, user: str) -> IdentityAccount | None:
        """The identity whose UPN, e-mail address or Entra object id is ``user`` (or ``None``).

        The list page documents ``$filter`` without naming the filterable properties, so the
        match is made here over the listed identities (case-insensitive for names).
        """
        ref = check_user_ref(user, "user")
        key = ref.lower()
        async for ident in self.iterate():
            names = {(ident.user_principal_name or "").lower(), (ident.email_address or "").lower()}
            if key in names or any(a.identifier.lower() == key for a in ident.accounts):
                return ident
        return None

    async def invoke_action(
        self,
        identity_id: str,
        account_id: str,
        action: IdentityAction | str,
        identity_provider: IdentityProvider | str,
        *,
        identity: IdentityAccount | None = None,
    ) -> InvokeActionResult:
        """Run ``action`` on one account of an identity.

        With ``identity`` given (as read before), the action is checked against that account's
        ``actions`` list first, so an unsupported action sends nothing. Repeating one of these
        actions leaves the same state, so a lost answer is retried.
        """
        iid = check_opaque_id(identity_id, "identity_id")
        aid = check_opaque_id(account_id, "account_id")
        act = check_choice(action, IdentityAction, "action")
        provider = check_choice(identity_provider, IdentityProvider, "identity_provider")
        if identity is not None:
            acc = next(
                (
                    a
                    for a in identity.accounts
                    if a.identifier == aid and a.identity_provider == provider.value
                ),
                None,
            )
            if acc is None:
                raise ValidationError(
                    f"account_id: {aid!r} is not an account of identity {iid} in {provider.value}",
                    field="account_id",
                )
            if act.value not in acc.actions:
                raise ValidationError(
                    f"action: {act.value!r} is not available for this {provider.value} account "
                    f"(it supports: {', '.join(acc.actions) or 'nothing'})",
                    field="action",
                )
        body = await self.transport.request_json(
            endpoint("graph.identity_accounts.invoke_action"),
            path_params={"id": iid},
            json={"accountId": aid, "action": act.value, "identityProvider": provider.value},
            idempotent=True,  # each action sets a state; sending it twice leaves the same state
        )
        return InvokeActionResult.model_validate(body or {})


class EntraUsersAPI(Resource):
    """Entra ID user response: read, disable/enable, revoke sign-in sessions."""

    async def get(self, user: str) -> EntraUser:
        """A user by object id or UPN (``NotFoundError`` when there is none)."""
        ref = check_user_ref(user, "user")
        body = await self.transport.request_json(
            endpoint("graph.users.get"),
            path_params={"id": ref},
            params={
                "$select": "id,userPrincipalName,displayName,mail,accountEnabled,"
                "onPremisesSyncEnabled"
            },
        )
        return EntraUser.model_validate(body)

    async def member_of(self, user: str) -> builtins.list[dict[str, Any]]:
        """The groups and directory roles the user is a direct member of (``@odata.type``,
        ``id``, ``displayName``), every page."""
        ref = check_user_ref(user, "user")
        return [
            item
            async for item in iterate_next_link(
                self.transport,
                endpoint("graph.users.member_of"),
                path_params={"id": ref},
                params={"$select": "id,displayName"},
            )
        ]

    async def set_enabled(self, user: str, enabled: bool) -> None:
        """``PATCH /users/{id}`` with ``accountEnabled`` (204); the same state if repeated."""
        ref = check_user_ref(user, "user")
        if not isinstance(enabled, bool):
            raise ValidationError("enabled: true or false", field="enabled")
        await self.transport.request(
            endpoint("graph.users.set_enabled"),
            path_params={"id": ref},
            json={"accountEnabled": enabled},
            idempotent=True,
        )

    async def revoke_sessions(self, user: str) -> bool:
        """Invalidate the user's refresh tokens and session cookies (``True`` when done)."""
        ref = check_user_ref(user, "user")
        body = await self.transport.request_json(
            endpoint("graph.users.revoke_sessions"), path_params={"id": ref}, idempotent=True
        )
        return bool(body.get("value", True)) if isinstance(body, dict) else True


class RiskyUsersAPI(Resource):
    """Identity Protection risky users."""

    def iterate(
        self,
        *,
        risk_level: str | None = None,
        risk_state: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[RiskyUser]:
        """Risky users, optionally filtered by ``risk_level`` / ``risk_state``."""
        parts: builtins.list[str | None] = []
        if risk_level is not None:
            if risk_level not in RISK_LEVELS:
                raise ValidationError(
                    f"risk_level: {str(risk_level)[:40]!r} is not one of {', '.join(RISK_LEVELS)}",
                    field="risk_level",
                )
            parts.append(_RISK_FILTER.eq("riskLevel", risk_level))
        if risk_state is not None:
            if risk_state not in RISK_STATES:
                raise ValidationError(
                    f"risk_state: {str(risk_state)[:40]!r} is not one of {', '.join(RISK_STATES)}",
                    field="risk_state",
                )
            parts.append(_RISK_FILTER.eq("riskState", risk_state))
        flt = ODataFilter.and_(*parts)
        return as_models(
            RiskyUser,
            iterate_next_link(
                self.transport,
                endpoint("graph.risky_users.list"),
                params={"$filter": flt} if flt else None,
                limit=_limit(limit),
            ),
        )

    async def list(self, **kw: Any) -> builtins.list[RiskyUser]:
        """All of :meth:`iterate` as a list."""
        return [r async for r in self.iterate(**kw)]

    async def get(self, user_id: str) -> RiskyUser:
        """One risky user by the user's object id."""
        uid = check_user_ref(user_id, "user_id", upn=False)
        body = await self.transport.request_json(
            endpoint("graph.risky_users.get"), path_params={"id": uid}
        )
        return RiskyUser.model_validate(body)

    async def confirm_compromised(self, user_ids: Iterable[str]) -> None:
        """Mark users compromised (their risk becomes high; 204)."""
        await self._post_ids("graph.risky_users.confirm_compromised", user_ids)

    async def dismiss(self, user_ids: Iterable[str]) -> None:
        """Dismiss users' risk (204)."""
        await self._post_ids("graph.risky_users.dismiss", user_ids)

    async def _post_ids(self, name: str, user_ids: Iterable[str]) -> None:
        ids = check_items(user_ids, lambda v, f: check_user_ref(v, f, upn=False), "user_ids")
        if not ids:
            raise ValidationError("user_ids: at least one user id", field="user_ids")
        for start in range(0, len(ids), MAX_USER_IDS):
            await self.transport.request(
                endpoint(name), json={"userIds": ids[start : start + MAX_USER_IDS]}, idempotent=True
            )


def _user_filter(user: str | None) -> str | None:
    if user is None:
        return None
    ref = check_user_ref(user, "user")
    if "@" in ref:
        return _USER_FILTER.eq("userPrincipalName", ref)
    return _USER_FILTER.eq("userId", ref)


class SignInsAPI(Resource):
    """Entra ID sign-in logs (``AuditLog.Read.All``; needs an Entra ID P1/P2 licence)."""

    def iterate(
        self,
        *,
        user: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[SignIn]:
        """Sign-ins, newest first, optionally of one user (object id or UPN) since a time."""
        if since is not None and not isinstance(since, datetime):
            raise ValidationError("since: a datetime", field="since")
        flt = ODataFilter.and_(
            _user_filter(user), _USER_FILTER.window("createdDateTime", since, None)
        )
        params: dict[str, Any] = {"$orderby": "createdDateTime desc"}
        if flt:
            params["$filter"] = flt
        return as_models(
            SignIn,
            iterate_next_link(
                self.transport, endpoint("graph.sign_ins.list"), params=params, limit=_limit(limit)
            ),
        )

    async def list(self, **kw: Any) -> builtins.list[SignIn]:
        """All of :meth:`iterate` as a list."""
        return [s async for s in self.iterate(**kw)]


class RiskDetectionsAPI(Resource):
    """Identity Protection risk detections (``IdentityRiskEvent.Read.All``)."""

    def iterate(
        self, *, user: str | None = None, limit: int | None = None
    ) -> AsyncIterator[RiskDetection]:
        """Risk detections, optionally of one user (object id or UPN)."""
        flt = _user_filter(user)
        return as_models(
            RiskDetection,
            iterate_next_link(
                self.transport,
                endpoint("graph.risk_detections.list"),
                params={"$filter": flt} if flt else None,
                limit=_limit(limit),
            ),
        )

    async def list(self, **kw: Any) -> builtins.list[RiskDetection]:
        """All of :meth:`iterate` as a list."""
        return [r async for r in self.iterate(**kw)]


class HealthIssuesAPI(Resource):
    """Defender for Identity health issues (``SecurityIdentitiesHealth.Read.All``)."""

    def iterate(
        self,
        *,
        status: str | None = None,
        severity: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[HealthIssue]:
        """Health issues, optionally by ``status`` (open, closed, suppressed) and ``severity``."""
        parts: builtins.list[str | None] = []
        for name, value, allowed in (
            ("status", status, HEALTH_STATUSES),
            ("severity", severity, HEALTH_SEVERITIES),
        ):
            if value is None:
                continue
            if value not in allowed:
                raise ValidationError(
                    f"{name}: {str(value)[:40]!r} is not one of {', '.join(allowed)}", field=name
                )
            parts.append(_HEALTH_FILTER.eq(name, value))
        flt = ODataFilter.and_(*parts)
        return as_models(
            HealthIssue,
            iterate_next_link(
                self.transport,
                endpoint("graph.health_issues.list"),
                params={"$filter": flt} if flt else None,
                limit=_limit(limit),
            ),
        )

    async def list(self, **kw: Any) -> builtins.list[HealthIssue]:
        """All of :meth:`iterate` as a list."""
        return [h async for h in self.iterate(**kw)]
