"""Who may call what in the emulator: the audiences (resources) tokens are issued for, the
application roles and delegated scopes granted to the seeded apps and users per audience, and the
identity and Graph security operations' permission lists as the emulator reads them on Microsoft's
pages."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "APP_ROLES",
    "DELEGATED_SCOPES",
    "GRAPH_AUDIENCE",
    "GRAPH_SECURITY_PAGES",
    "IDENTITY_PAGES",
    "MACHINE_ACTION_PERMISSIONS",
    "MDE_AUDIENCE",
    "READONLY_ROLES",
    "RESOURCES",
    "XDR_AUDIENCE",
    "PagePermissions",
]

MDE_AUDIENCE = "https://api.securitycenter.microsoft.com"
XDR_AUDIENCE = "https://api.security.microsoft.com"
GRAPH_AUDIENCE = "https://graph.microsoft.com"

#: accepted scope prefixes (resource part of ``<resource>/.default``) -> token ``aud``
RESOURCES: dict[str, str] = {
    MDE_AUDIENCE: MDE_AUDIENCE,
    "https://securitycenter.onmicrosoft.com/windowsatpservice": MDE_AUDIENCE,
    XDR_AUDIENCE: XDR_AUDIENCE,
    GRAPH_AUDIENCE: GRAPH_AUDIENCE,
}

#: the machine action permissions: one name each, as application role and as delegated scope
MACHINE_ACTION_PERMISSIONS = (
    "Machine.Isolate",
    "Machine.RestrictExecution",
    "Machine.Scan",
    "Machine.CollectForensics",
    "Machine.StopAndQuarantine",
    "Machine.Offboard",
    "Machine.LiveResponse",
)

#: Graph permissions the emulator grants both as application roles and as delegated scopes
#: (Graph names them alike either way); remediating e-mail is granted to applications only
_GRAPH_PERMISSIONS = (
    "SecurityIncident.Read.All",
    "SecurityIncident.ReadWrite.All",
    "SecurityAlert.Read.All",
    "SecurityAlert.ReadWrite.All",
    "ThreatHunting.Read.All",
    "CustomDetection.ReadWrite.All",
    "SecurityIdentitiesAccount.Read.All",
    "SecurityIdentitiesActions.ReadWrite.All",
    "User.Read.All",
    "User.EnableDisableAccount.All",
    "User.RevokeSessions.All",
    "IdentityRiskyUser.Read.All",
    "IdentityRiskyUser.ReadWrite.All",
    "AuditLog.Read.All",
    "IdentityRiskEvent.Read.All",
    "SecurityIdentitiesHealth.Read.All",
    "GroupMember.Read.All",
)

APP_ROLES: dict[str, list[str]] = {
    MDE_AUDIENCE: [
        "Machine.Read.All",
        "Machine.ReadWrite.All",
        *MACHINE_ACTION_PERMISSIONS,
        "Alert.Read.All",
        "Alert.ReadWrite.All",
        "Ti.ReadWrite.All",
        "Ti.ReadWrite",
        "File.Read.All",
        "Ip.Read.All",
        "URL.Read.All",
        "User.Read.All",
        "Vulnerability.Read.All",
        "Software.Read.All",
        "SecurityRecommendation.Read.All",
        "Score.Read.All",
        "AdvancedQuery.Read.All",
        "Library.Manage",
    ],
    XDR_AUDIENCE: ["Incident.Read.All", "Incident.ReadWrite.All", "AdvancedHunting.Read.All"],
    # Directory.Read.All: the only application permission the memberOf page lists for another
    # user's memberships (see IDENTITY_PAGES)
    GRAPH_AUDIENCE: [
        *_GRAPH_PERMISSIONS,
        "SecurityAnalyzedMessage.ReadWrite.All",
        "Directory.Read.All",
    ],
}

READONLY_ROLES: dict[str, list[str]] = {
    MDE_AUDIENCE: [
        "Machine.Read.All",
        "Alert.Read.All",
        "File.Read.All",
        "Ip.Read.All",
        "URL.Read.All",
        "User.Read.All",
        "Vulnerability.Read.All",
        "Software.Read.All",
        "Score.Read.All",
        "SecurityRecommendation.Read.All",
    ],
    XDR_AUDIENCE: ["Incident.Read.All", "AdvancedHunting.Read.All"],
    GRAPH_AUDIENCE: [
        "SecurityIncident.Read.All",
        "SecurityAlert.Read.All",
        "ThreatHunting.Read.All",
        "SecurityIdentitiesAccount.Read.All",
        "User.Read.All",
        "IdentityRiskyUser.Read.All",
        "AuditLog.Read.All",
        "IdentityRiskEvent.Read.All",
        "SecurityIdentitiesHealth.Read.All",
        "GroupMember.Read.All",
        "Directory.Read.All",
    ],
}

DELEGATED_SCOPES: dict[str, list[str]] = {
    MDE_AUDIENCE: [
        "Machine.Read",
        "Machine.ReadWrite",
        *MACHINE_ACTION_PERMISSIONS,
        "Alert.Read",
        "Alert.ReadWrite",
        "Ti.ReadWrite",
        "File.Read.All",
        "Ip.Read.All",
        "URL.Read.All",
        "User.Read.All",
        "Vulnerability.Read",
        "Software.Read",
        "SecurityRecommendation.Read",
        "Score.Read",
        "AdvancedQuery.Read",
        "Library.Manage",
    ],
    XDR_AUDIENCE: ["Incident.Read", "Incident.ReadWrite", "AdvancedHunting.Read"],
    GRAPH_AUDIENCE: list(_GRAPH_PERMISSIONS),
}


@dataclass(frozen=True)
class PagePermissions:
    """One operation's permissions as its Microsoft Learn page lists them.

    ``app`` and ``delegated`` are the page's *Application* and *Delegated (work or school
    account)* rows, least privileged first, as the page orders them; any one of a row allows the
    call (the guard's reading of "Choose the permission or permissions marked as least
    privileged ... Use a higher privileged permission ... only if your app requires it").
    """

    page: str
    app: tuple[str, ...]
    delegated: tuple[str, ...]

    @classmethod
    def both_rows(cls, page: str, *permissions: str) -> PagePermissions:
        """A page whose Application and Delegated rows list the same permissions."""
        return cls(page, app=permissions, delegated=permissions)


_GRAPH_API = "https://learn.microsoft.com/graph/api/"

#: the identity operations' permissions, read on each operation's own page (Microsoft Graph
#: v1.0), written here from those pages and not from the client's catalog
IDENTITY_PAGES: dict[str, PagePermissions] = {
    # "List identityAccounts" and "Get identityAccounts": SecurityIdentitiesAccount.Read.All,
    # higher privileged "Not available.", for both rows
    "identity_accounts.read": PagePermissions.both_rows(
        _GRAPH_API + "security-identitycontainer-list-identityaccounts",
        "SecurityIdentitiesAccount.Read.All",
    ),
    # "identityAccounts: invokeAction": SecurityIdentitiesActions.ReadWrite.All, both rows
    "identity_accounts.invoke_action": PagePermissions.both_rows(
        _GRAPH_API + "security-identityaccounts-invokeaction",
        "SecurityIdentitiesActions.ReadWrite.All",
    ),
    # "Get a user": Application User.Read.All, then User.ReadWrite.All, Directory.Read.All,
    # Directory.ReadWrite.All. The delegated row starts with User.Read and User.ReadWrite, which
    # the page's note limits to "the signed-in user only"; the emulator serves /users/{id}, so
    # its delegated list starts at User.ReadBasic.All, the next one the page names.
    "users.get": PagePermissions(
        _GRAPH_API + "user-get",
        app=(
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ),
        delegated=(
            "User.ReadBasic.All",
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ),
    ),
    # "List a user's direct memberships", table "Permissions for another user's direct
    # memberships": Application Directory.Read.All, then Directory.ReadWrite.All; delegated
    # User.Read.All, then Directory.Read.All, Directory.ReadWrite.All, GroupMember.Read.All
    "users.member_of": PagePermissions(
        _GRAPH_API + "user-list-memberof",
        app=("Directory.Read.All", "Directory.ReadWrite.All"),
        delegated=(
            "User.Read.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "GroupMember.Read.All",
        ),
    ),
    # "Update user" lists User.ReadWrite (delegated) and User.ManageIdentities.All (application)
    # as least privileged for the whole PATCH, but the emulator updates accountEnabled only:
    # "Get a user" names "User.EnableDisableAccount.All + User.Read.All" as "the least privileged
    # combination of permissions to read and write the accountEnabled property", and "Update
    # user" says "Updating the identities property requires the User.ManageIdentities.All
    # permission". So: User.EnableDisableAccount.All, then the page's higher User.ReadWrite.All,
    # Directory.ReadWrite.All, for both rows.
    "users.account_enabled": PagePermissions.both_rows(
        _GRAPH_API + "user-update",
        "User.EnableDisableAccount.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ),
    # "user: revokeSignInSessions": delegated User.RevokeSessions.All, higher
    # Directory.ReadWrite.All, User.ReadWrite.All; Application User.RevokeSessions.All, higher
    # "Not available."
    "users.revoke_sessions": PagePermissions(
        _GRAPH_API + "user-revokesigninsessions",
        app=("User.RevokeSessions.All",),
        delegated=("User.RevokeSessions.All", "Directory.ReadWrite.All", "User.ReadWrite.All"),
    ),
    # "List riskyUsers" and "Get riskyUser": IdentityRiskyUser.Read.All, higher "Not available."
    "risky_users.read": PagePermissions.both_rows(
        _GRAPH_API + "riskyuser-list", "IdentityRiskyUser.Read.All"
    ),
    # "riskyUser: confirmCompromised" and "riskyUser: dismiss": IdentityRiskyUser.ReadWrite.All,
    # higher "Not available."
    "risky_users.write": PagePermissions.both_rows(
        _GRAPH_API + "riskyuser-confirmcompromised", "IdentityRiskyUser.ReadWrite.All"
    ),
    # "List signIns": AuditLog.Read.All, higher Directory.Read.All, for both rows
    "sign_ins.list": PagePermissions.both_rows(
        _GRAPH_API + "signin-list", "AuditLog.Read.All", "Directory.Read.All"
    ),
    # "List riskDetections": IdentityRiskEvent.Read.All, higher "Not available."
    "risk_detections.list": PagePermissions.both_rows(
        _GRAPH_API + "riskdetection-list", "IdentityRiskEvent.Read.All"
    ),
    # "List healthIssues": SecurityIdentitiesHealth.Read.All, higher
    # SecurityIdentitiesHealth.ReadWrite.All, for both rows
    "health_issues.list": PagePermissions.both_rows(
        _GRAPH_API + "security-identitycontainer-list-healthissues",
        "SecurityIdentitiesHealth.Read.All",
        "SecurityIdentitiesHealth.ReadWrite.All",
    ),
}

_BETA = "?view=graph-rest-beta"

#: the Graph security operations' permissions, read on each operation's own page (v1.0, or beta
#: for the beta-only routes), written here from those pages and not from the client's catalog.
#: Every table below has "Delegated (personal Microsoft account): Not supported." (not served).
GRAPH_SECURITY_PAGES: dict[str, PagePermissions] = {
    # "List incidents": SecurityIncident.Read.All, higher SecurityIncident.ReadWrite.All, both
    # rows. Read in the page's generated table in Microsoft's docs source
    # (microsoftgraph/microsoft-graph-docs-contrib, api-reference/beta/includes/permissions/
    # security-list-incidents-permissions.md); the v1.0 copy was not in the reference corpus.
    "incidents.list": PagePermissions.both_rows(
        _GRAPH_API + "security-list-incidents",
        "SecurityIncident.Read.All",
        "SecurityIncident.ReadWrite.All",
    ),
    # "Get incident": SecurityIncident.Read.All, higher SecurityIncident.ReadWrite.All, both rows
    "incidents.get": PagePermissions.both_rows(
        _GRAPH_API + "security-incident-get",
        "SecurityIncident.Read.All",
        "SecurityIncident.ReadWrite.All",
    ),
    # "Update incident": SecurityIncident.ReadWrite.All, higher "Not available.", both rows
    "incidents.update": PagePermissions.both_rows(
        _GRAPH_API + "security-incident-update", "SecurityIncident.ReadWrite.All"
    ),
    # "Create comment for incident": SecurityIncident.ReadWrite.All, higher "Not available."
    "incidents.comment": PagePermissions.both_rows(
        _GRAPH_API + "security-incident-post-comments", "SecurityIncident.ReadWrite.All"
    ),
    # "List alerts_v2": SecurityAlert.Read.All, higher SecurityAlert.ReadWrite.All, both rows
    "alerts.list": PagePermissions.both_rows(
        _GRAPH_API + "security-list-alerts_v2",
        "SecurityAlert.Read.All",
        "SecurityAlert.ReadWrite.All",
    ),
    # "Get alert" (GET /security/alerts_v2/{alertId}): SecurityAlert.Read.All, higher
    # SecurityAlert.ReadWrite.All, both rows
    "alerts.get": PagePermissions.both_rows(
        _GRAPH_API + "security-alert-get",
        "SecurityAlert.Read.All",
        "SecurityAlert.ReadWrite.All",
    ),
    # "Update alert" (PATCH /security/alerts_v2/{alertId}): SecurityAlert.ReadWrite.All, higher
    # "Not available.", both rows
    "alerts.update": PagePermissions.both_rows(
        _GRAPH_API + "security-alert-update", "SecurityAlert.ReadWrite.All"
    ),
    # "Create comment for alert": SecurityAlert.ReadWrite.All, higher "Not available."
    "alerts.comment": PagePermissions.both_rows(
        _GRAPH_API + "security-alert-post-comments", "SecurityAlert.ReadWrite.All"
    ),
    # "security: runHuntingQuery": ThreatHunting.Read.All, higher "Not available.", both rows
    "hunting.run": PagePermissions.both_rows(
        _GRAPH_API + "security-security-runhuntingquery", "ThreatHunting.Read.All"
    ),
    # custom detection rules, Graph v1.0 pages (the create page read in its v1.0 view in several
    # languages: Delegated and Application CustomDetection.ReadWrite.All, higher "Not
    # available."; list/get read in the beta view, rows assumed unchanged in v1.0)
    # "List detectionRule objects": CustomDetection.Read.All, higher
    # CustomDetection.ReadWrite.All, both rows
    "detection_rules.list": PagePermissions.both_rows(
        _GRAPH_API + "security-rulesroot-list-detectionrules",
        "CustomDetection.Read.All",
        "CustomDetection.ReadWrite.All",
    ),
    # "Get detectionRule": CustomDetection.Read.All, higher CustomDetection.ReadWrite.All
    "detection_rules.get": PagePermissions.both_rows(
        _GRAPH_API + "security-detectionrule-get",
        "CustomDetection.Read.All",
        "CustomDetection.ReadWrite.All",
    ),
    # "Create detectionRule": CustomDetection.ReadWrite.All, higher "Not available."
    "detection_rules.create": PagePermissions.both_rows(
        _GRAPH_API + "security-rulesroot-post-detectionrules",
        "CustomDetection.ReadWrite.All",
    ),
    # "Update detectionRule": CustomDetection.ReadWrite.All, higher "Not available."
    "detection_rules.update": PagePermissions.both_rows(
        _GRAPH_API + "security-detectionrule-update", "CustomDetection.ReadWrite.All"
    ),
    # "Delete detectionRule": CustomDetection.ReadWrite.All, higher "Not available."
    "detection_rules.delete": PagePermissions.both_rows(
        _GRAPH_API + "security-rulesroot-delete-detectionrules",
        "CustomDetection.ReadWrite.All",
    ),
    # "analyzedEmail: remediate": Delegated (work or school account) "Not supported.";
    # Application SecurityAnalyzedMessage.ReadWrite.All, higher "Not available."
    "emails.remediate": PagePermissions(
        _GRAPH_API + "security-analyzedemail-remediate" + _BETA,
        app=("SecurityAnalyzedMessage.ReadWrite.All",),
        delegated=(),
    ),
}
