"""The emulator's own reading of the identity operations' permission tables on Microsoft's pages.

Each row below is what the operation's page lists (least privileged first); see
``emulator/permissions.py`` for the page and the sentence behind each. A token holding only the
page's least-privileged permission is let through by the guard; one holding none of the listed
permissions gets a 403 that names them.
"""

from __future__ import annotations

import pytest

from prefect_defender.emulator.guard import EndpointSpec
from prefect_defender.emulator.permissions import IDENTITY_PAGES
from prefect_defender.emulator.routes import identities, identity_protection
from tests.unit.guard_checks import assert_refused_naming_its_lists, denied, spec_of

assert identities and identity_protection  # imported for their routes' registration

#: (method, path under /v1.0, IDENTITY_PAGES key, least-privileged app, least-privileged delegated)
ROUTES = [
    ("GET", "/security/identities/identityAccounts", "identity_accounts.read",
     "SecurityIdentitiesAccount.Read.All", "SecurityIdentitiesAccount.Read.All"),
    ("GET", "/security/identities/identityAccounts/{id}", "identity_accounts.read",
     "SecurityIdentitiesAccount.Read.All", "SecurityIdentitiesAccount.Read.All"),
    ("POST", "/security/identities/identityAccounts/{id}/invokeAction",
     "identity_accounts.invoke_action",
     "SecurityIdentitiesActions.ReadWrite.All", "SecurityIdentitiesActions.ReadWrite.All"),
    ("GET", "/users/{id}", "users.get", "User.Read.All", "User.ReadBasic.All"),
    ("GET", "/users/{id}/memberOf", "users.member_of", "Directory.Read.All", "User.Read.All"),
    ("PATCH", "/users/{id}", "users.account_enabled",
     "User.EnableDisableAccount.All", "User.EnableDisableAccount.All"),
    ("POST", "/users/{id}/revokeSignInSessions", "users.revoke_sessions",
     "User.RevokeSessions.All", "User.RevokeSessions.All"),
    ("GET", "/identityProtection/riskyUsers", "risky_users.read",
     "IdentityRiskyUser.Read.All", "IdentityRiskyUser.Read.All"),
    ("GET", "/identityProtection/riskyUsers/{id}", "risky_users.read",
     "IdentityRiskyUser.Read.All", "IdentityRiskyUser.Read.All"),
    ("POST", "/identityProtection/riskyUsers/confirmCompromised", "risky_users.write",
     "IdentityRiskyUser.ReadWrite.All", "IdentityRiskyUser.ReadWrite.All"),
    ("POST", "/identityProtection/riskyUsers/dismiss", "risky_users.write",
     "IdentityRiskyUser.ReadWrite.All", "IdentityRiskyUser.ReadWrite.All"),
    ("GET", "/auditLogs/signIns", "sign_ins.list", "AuditLog.Read.All", "AuditLog.Read.All"),
    ("GET", "/identityProtection/riskDetections", "risk_detections.list",
     "IdentityRiskEvent.Read.All", "IdentityRiskEvent.Read.All"),
    ("GET", "/security/identities/healthIssues", "health_issues.list",
     "SecurityIdentitiesHealth.Read.All", "SecurityIdentitiesHealth.Read.All"),
]  # fmt: skip


def _spec(method: str, path: str) -> EndpointSpec:
    return spec_of(method, "/v1.0" + path)


@pytest.mark.parametrize(("method", "path", "key", "app", "delegated"), ROUTES)
def test_route_takes_its_pages_lists(
    method: str, path: str, key: str, app: str, delegated: str
) -> None:
    spec, page = _spec(method, path), IDENTITY_PAGES[key]
    assert (spec.app, spec.delegated) == (page.app, page.delegated)
    assert page.page.startswith("https://learn.microsoft.com/graph/api/")
    # the least-privileged permission is the first of each row, and alone is enough
    assert (page.app[0], page.delegated[0]) == (app, delegated)
    assert denied(spec, {"roles": [app]}) is None
    assert denied(spec, {"scp": f"openid {delegated}"}) is None


@pytest.mark.parametrize(("method", "path", "key", "app", "delegated"), ROUTES)
def test_token_without_a_listed_permission_is_refused_by_name(
    method: str, path: str, key: str, app: str, delegated: str
) -> None:
    assert_refused_naming_its_lists(_spec(method, path))


@pytest.mark.parametrize(
    ("method", "path", "claims"),
    [
        # "user: revokeSignInSessions": Application higher privileged "Not available."
        ("POST", "/users/{id}/revokeSignInSessions", {"roles": ["User.ReadWrite.All"]}),
        ("POST", "/users/{id}/revokeSignInSessions", {"roles": ["Directory.ReadWrite.All"]}),
        # "List riskyUsers" / "Get riskyUser": higher privileged "Not available."
        ("GET", "/identityProtection/riskyUsers", {"roles": ["IdentityRiskyUser.ReadWrite.All"]}),
        # memberOf, another user's memberships: the Application row lists Directory.* only
        ("GET", "/users/{id}/memberOf", {"roles": ["GroupMember.Read.All"]}),
        # "Get a user": User.Read is the signed-in user's own profile only
        ("GET", "/users/{id}", {"scp": "User.Read"}),
    ],
)
def test_what_the_page_does_not_list_is_refused(
    method: str, path: str, claims: dict[str, object]
) -> None:
    answer = denied(_spec(method, path), claims)
    assert answer is not None and answer["status"] == 403
