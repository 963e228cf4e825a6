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
* :class:`HealthIssuesAPI`: Defender for Identity health issues.
* Entra ID Protection (risky users, sign-ins, risk detections) lives in
  :mod:`~prefect_defender.api.resources.identity_protection`.

Example:
    ```python
    async with creds.get_client() as client:
        ident = await client.identity_accounts.find("jdoe@contoso.example")
        acc = ident.account("entraID")
        await client.identity_accounts.invoke_action(
            ident.id, acc.identifier, "disable", "entraID", identity=ident)
    ```
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.identities import (
    EntraUser,
    HealthIssue,
    IdentityAccount,
    IdentityAction,
    IdentityProvider,
    InvokeActionResult,
)
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import as_models, collect, iterate_next_link
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.identity_protection import (
    check_limit,
)
from prefect_defender.api.validation import (
    check_choice,
    check_odata_filter,
    check_opaque_id,
    check_user_ref,
)

__all__ = [
    "HEALTH_SEVERITIES",
    "HEALTH_STATUSES",
    "EntraUsersAPI",
    "HealthIssuesAPI",
    "IdentityAccountsAPI",
]

#: documented healthIssue values (healthIssue resource); the list page's examples write the
#: property as ``Status`` while the resource names it ``status``: the client sends ``status``
HEALTH_STATUSES = ("open", "closed", "suppressed")
HEALTH_SEVERITIES = ("low", "medium", "high")
_HEALTH_FILTER = ODataFilter(("status", "severity"))


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
                limit=check_limit(limit),
            ),
            "graph.identity_accounts.list",
        )

    async def list(self, **kw: Any) -> builtins.list[IdentityAccount]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, identity_id: str) -> IdentityAccount:
        """One identity account by its id (``NotFoundError`` when there is none)."""
        iid = check_opaque_id(identity_id, "identity_id")
        body = await self.transport.request_json(
            endpoint("graph.identity_accounts.get"), path_params={"id": iid}
        )
        return read_model(IdentityAccount, body, "graph.identity_accounts.get")

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
        return read_model(InvokeActionResult, body or {}, "graph.identity_accounts.invoke_action")


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
                "onPremisesSyncEnabled,onPremisesSecurityIdentifier,onPremisesSamAccountName,"
                "onPremisesDomainName"
            },
        )
        return read_model(EntraUser, body, "graph.users.get")

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
                limit=check_limit(limit),
            ),
            "graph.health_issues.list",
        )

    async def list(self, **kw: Any) -> builtins.list[HealthIssue]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))
