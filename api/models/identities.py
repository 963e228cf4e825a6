"""Identity response models: Defender XDR identity accounts, Entra ID users, risky users.

Sources (Microsoft Graph v1.0): *identityAccounts resource type*, *account resource type*,
*identityAccounts: invokeAction*, *invokeActionResult resource type*, *user resource type*,
*riskyUser resource type*. Where the pages disagree the models accept both spellings (see
:class:`InvokeActionResult`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field, model_validator

from prefect_defender.api.models.common import DefenderModel

__all__ = [
    "EntraUser",
    "IdentityAccount",
    "IdentityAction",
    "IdentityProvider",
    "InvokeActionResult",
    "ProviderAccount",
    "RiskyUser",
]


class IdentityProvider(StrEnum):
    """Where an account lives (``microsoft.graph.security.identityProvider``)."""

    ENTRA_ID = "entraID"
    ACTIVE_DIRECTORY = "activeDirectory"
    OKTA = "okta"


class IdentityAction(StrEnum):
    """What ``invokeAction`` can do (``microsoft.graph.security.action``).

    Which provider takes which action differs between Microsoft's pages: the *account* resource
    lists Entra ID for disable, enable, revokeAllSessions, requireUserToSignInAgain and
    markUserAsCompromised; the invokeAction page lists Active Directory and Okta only. The
    client therefore trusts each account's own ``actions`` list (what the service says that
    account supports) and never sends an action the account does not list.
    """

    DISABLE = "disable"
    ENABLE = "enable"
    FORCE_PASSWORD_RESET = "forcePasswordReset"
    REVOKE_ALL_SESSIONS = "revokeAllSessions"
    REQUIRE_USER_TO_SIGN_IN_AGAIN = "requireUserToSignInAgain"
    MARK_USER_AS_COMPROMISED = "markUserAsCompromised"


class ProviderAccount(DefenderModel):
    """One account of an identity in one identity provider, with the actions it supports."""

    identifier: str
    identity_provider: str
    actions: list[str] = []


class IdentityAccount(DefenderModel):
    """An identity seen by Defender for Identity, with its accounts across providers."""

    id: str
    display_name: str | None = None
    domain: str | None = None
    is_enabled: bool | None = None
    on_premises_security_identifier: str | None = None
    cloud_security_identifier: str | None = None
    email_address: str | None = None
    user_principal_name: str | None = None
    accounts: list[ProviderAccount] = []

    def account(self, provider: IdentityProvider | str) -> ProviderAccount | None:
        """This identity's account in ``provider`` (``None`` when it has none there)."""
        return next((a for a in self.accounts if a.identity_provider == str(provider)), None)

    @property
    def entra_object_id(self) -> str | None:
        """The Entra ID object id of the identity's cloud account, if it has one."""
        acc = self.account(IdentityProvider.ENTRA_ID)
        return acc.identifier if acc else None


class InvokeActionResult(DefenderModel):
    """The answer of ``invokeAction``.

    The invokeAction page's example wraps the result in ``value`` and names the provider
    ``provider``; the invokeActionResult resource names it ``identityProvider``. Both are read.
    """

    account_id: str | None = None
    action: str | None = None
    identity_provider: str | None = Field(
        default=None, validation_alias=AliasChoices("identityProvider", "provider")
    )
    correlation_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value"), dict):
            return data["value"]
        return data


class EntraUser(DefenderModel):
    """The Entra ID user properties a responder needs (``GET /users/{id}``)."""

    id: str
    user_principal_name: str | None = None
    display_name: str | None = None
    mail: str | None = None
    account_enabled: bool | None = None
    on_premises_sync_enabled: bool | None = None


class RiskyUser(DefenderModel):
    """An Identity Protection risky user; ``risk_level``/``risk_state`` are open strings
    (documented: low, medium, high, hidden, none / atRisk, confirmedCompromised, remediated,
    dismissed, confirmedSafe, none)."""

    id: str
    user_principal_name: str | None = None
    user_display_name: str | None = None
    risk_level: str | None = None
    risk_state: str | None = None
    risk_detail: str | None = None
    risk_last_updated_date_time: datetime | None = None
    is_deleted: bool | None = None
    is_processing: bool | None = None
