"""Tasks for identity response: contain accounts as well as devices.

* **Defender XDR identity accounts** (Graph v1.0 ``security/identities/identityAccounts``):
  list, get, and :func:`invoke_identity_actions`, which runs actions such as ``disable`` or
  ``revokeAllSessions`` on every account of each user across Entra ID, on-premises Active
  Directory and Okta, falling back to Entra ID's own user actions where Defender has no account
  that supports the action (a cloud-only user not seen by Defender for Identity, say).
* **Entra ID users**: read, disable/enable (``accountEnabled``), revoke sign-in sessions.
* **Identity Protection**: list/get risky users, confirm compromised, dismiss risk.

The package is the public face; its parts are private: the reads (``_reads``), identity actions
across providers (``_account_actions``), Entra ID users and Identity Protection
(``_entra_user_actions``) and the pre-action summary (``_account_summaries``).

Every bulk task returns one :class:`~prefect_defender.tasks.outcomes.ItemOutcome` per input (per
user and action for :func:`invoke_identity_actions`), and checks every input before the first
request (user ids as GUID or UPN where the endpoint accepts a UPN, GUID only for risky users;
actions and providers by their exact documented spelling).

Permissions (Microsoft Graph, application or delegated): ``SecurityIdentitiesAccount.Read.All``
to read identity accounts, ``SecurityIdentitiesActions.ReadWrite.All`` to act on them,
``User.Read.All``, ``User.EnableDisableAccount.All``, ``User.RevokeSessions.All``,
``IdentityRiskyUser.Read.All`` / ``IdentityRiskyUser.ReadWrite.All``.
"""

from __future__ import annotations

from prefect_defender.tasks.identities._account_actions import (
    ENTRA_FALLBACK,
    IdentityIndex,
    invoke_identity_actions,
)
from prefect_defender.tasks.identities._account_summaries import AccountSummary, describe_accounts
from prefect_defender.tasks.identities._entra_user_actions import (
    confirm_users_compromised,
    dismiss_risky_users,
    revoke_user_sessions,
    set_users_enabled,
)
from prefect_defender.tasks.identities._reads import (
    get_entra_user,
    get_identity_account,
    get_risky_user,
    list_health_issues,
    list_identity_accounts,
    list_risk_detections,
    list_risky_users,
    list_sign_ins,
)

__all__ = [
    "ENTRA_FALLBACK",
    "AccountSummary",
    "IdentityIndex",
    "confirm_users_compromised",
    "describe_accounts",
    "dismiss_risky_users",
    "get_entra_user",
    "get_identity_account",
    "get_risky_user",
    "invoke_identity_actions",
    "list_health_issues",
    "list_identity_accounts",
    "list_risk_detections",
    "list_risky_users",
    "list_sign_ins",
    "revoke_user_sessions",
    "set_users_enabled",
]
