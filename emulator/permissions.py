"""Who may call what in the emulator: the audiences (resources) tokens are issued for, and the
application roles and delegated scopes granted to the seeded apps and users per audience."""

from __future__ import annotations

__all__ = [
    "APP_ROLES",
    "DELEGATED_SCOPES",
    "GRAPH_AUDIENCE",
    "MACHINE_ACTION_PERMISSIONS",
    "MDE_AUDIENCE",
    "READONLY_ROLES",
    "RESOURCES",
    "XDR_AUDIENCE",
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
    GRAPH_AUDIENCE: [*_GRAPH_PERMISSIONS, "SecurityAnalyzedMessage.ReadWrite.All"],
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
