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

from pydantic import AliasChoices, Field, field_validator, model_validator

from prefect_defender.api.models.common import DefenderModel

__all__ = [
    "EntraUser",
    "HealthIssue",
    "IdentityAccount",
    "IdentityAction",
    "IdentityProvider",
    "InvokeActionResult",
    "ProviderAccount",
    "RiskDetection",
    "RiskyUser",
    "SignIn",
    "SignInLocation",
    "SignInStatus",
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


def _canonical(value: Any, known: type[StrEnum]) -> Any:
    """``value`` spelled as ``known`` spells it when it names one of its members in any case
    (the examples write ``ActiveDirectory``, ``EntraID``, ``Enable``); else unchanged."""
    if isinstance(value, str):
        for member in known:
            if member.value.lower() == value.lower():
                return member.value
    return value


class ProviderAccount(DefenderModel):
    """One account of an identity in one identity provider, with the actions it supports.

    The *account* resource page names the provider ``identityProvider`` with values
    ``entraID``, ``activeDirectory``, ``okta``; the list and get pages' examples write
    ``"provider": "ActiveDirectory"`` and actions such as ``"Enable"``
    (https://learn.microsoft.com/graph/api/resources/security-account,
    https://learn.microsoft.com/graph/api/security-identitycontainer-list-identityaccounts,
    https://learn.microsoft.com/graph/api/security-identityaccounts-get). Both names and any
    case are read, and kept in the resource page's spelling.
    """

    identifier: str
    identity_provider: str = Field(
        validation_alias=AliasChoices("identityProvider", "provider", "identity_provider")
    )
    actions: list[str] = []

    @field_validator("identity_provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> Any:
        return _canonical(value, IdentityProvider)

    @field_validator("actions", mode="before")
    @classmethod
    def _actions(cls, value: Any) -> Any:
        return [_canonical(v, IdentityAction) for v in value] if isinstance(value, list) else value


class IdentityAccount(DefenderModel):
    """An identity seen by Defender for Identity, with its accounts across providers.

    The get page's example wraps the identity in ``{"value": {...}}``; it is read either way.
    ``email_address`` and ``user_principal_name`` come only with the derived
    ``security.user`` type: the base resource and every example have neither, so a user is
    matched by object id, on-premises SID or account name too (``tasks.identities``).
    """

    id: str
    display_name: str | None = None
    domain: str | None = None
    is_enabled: bool | None = None
    on_premises_security_identifier: str | None = None
    cloud_security_identifier: str | None = None
    email_address: str | None = None
    user_principal_name: str | None = None
    accounts: list[ProviderAccount] = []

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value"), dict) and "id" not in data:
            return data["value"]
        return data

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
    on_premises_security_identifier: str | None = None
    on_premises_sam_account_name: str | None = None
    on_premises_domain_name: str | None = None


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


class SignInStatus(DefenderModel):
    """``status`` of a sign-in: ``errorCode`` 0 means success."""

    error_code: int | None = None
    failure_reason: str | None = None


class SignInLocation(DefenderModel):
    """Where a sign-in came from (as Entra ID geolocates the IP address)."""

    city: str | None = None
    country_or_region: str | None = None


class SignIn(DefenderModel):
    """An Entra ID sign-in (``GET /auditLogs/signIns``)."""

    id: str
    created_date_time: datetime | None = None
    user_id: str | None = None
    user_principal_name: str | None = None
    app_display_name: str | None = None
    ip_address: str | None = None
    client_app_used: str | None = None
    conditional_access_status: str | None = None
    risk_level_during_sign_in: str | None = None
    status: SignInStatus | None = None
    location: SignInLocation | None = None

    @property
    def succeeded(self) -> bool:
        """True when Entra ID let the sign-in through (``errorCode`` 0)."""
        return self.status is not None and self.status.error_code == 0


class RiskDetection(DefenderModel):
    """An Identity Protection risk detection (``GET /identityProtection/riskDetections``)."""

    id: str
    user_id: str | None = None
    user_principal_name: str | None = None
    risk_event_type: str | None = None
    risk_level: str | None = None
    risk_state: str | None = None
    activity: str | None = None
    ip_address: str | None = None
    detected_date_time: datetime | None = None


class HealthIssue(DefenderModel):
    """A Defender for Identity health issue (``GET /security/identities/healthIssues``)."""

    id: str
    display_name: str | None = None
    health_issue_type: str | None = None
    issue_type_id: str | None = None
    severity: str | None = None
    status: str | None = None
    description: str | None = None
    created_date_time: datetime | None = None
    last_modified_date_time: datetime | None = None
    domain_names: list[str] = []
    # Graph spells it with upper-case DNS, which the camelCase alias would not produce
    sensor_dns_names: list[str] = Field(default_factory=list, alias="sensorDNSNames")
    recommendations: list[str] = []
    recommended_action_commands: list[str] = []
    additional_information: list[str] = []
