"""The catalog of Defender endpoints this package calls: method, path, surface, permissions, limits.

One entry per documented operation. The client uses an entry to pick the token audience and the
rate-limit family, and to name the missing permission when the API answers 403. The
"capability -> task -> permission" tables of docs/permissions.md are generated from this catalog
(and a test keeps them in step), so they cannot drift.

Permissions are as documented on each Microsoft Learn page (application / delegated). Where a page
lists more than one, any of them allows the call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from prefect_defender.api.clouds import Surface
from prefect_defender.api.lifecycle import CURRENT, Lifecycle, Status
from prefect_defender.api.lifecycle_table import lifecycle_of

__all__ = ["API_NAMES", "CATALOG", "READING_POSTS", "Endpoint", "endpoint", "writing_endpoints"]

#: the POST endpoints that only read: advanced hunting sends its query in the body
READING_POSTS = frozenset({"xdr.hunting.run", "mde.hunting.run", "graph.hunting.run"})

#: Entra "API" (resource) that owns each surface's permissions, as shown in the app registration.
API_NAMES: dict[Surface, str] = {
    Surface.MDE: "WindowsDefenderATP",
    Surface.XDR: "Microsoft Threat Protection",
    Surface.GRAPH: "Microsoft Graph",
}


@dataclass(frozen=True)
class Endpoint:
    """A documented Defender operation."""

    name: str
    method: str
    path: str
    surface: Surface
    application: tuple[str, ...]
    delegated: tuple[str, ...]
    family: str = "mde"
    doc: str = ""
    beta: bool = False
    #: current, deprecated or retired, and the replacement (``api.lifecycle_table``)
    lifecycle: Lifecycle = CURRENT

    @property
    def api_name(self) -> str:
        """The Entra API whose permission this endpoint needs."""
        return API_NAMES[self.surface]

    @property
    def writes(self) -> bool:
        """True when a call changes something in the tenant (every method but GET, except the
        hunting queries, which POST a query and only read); every such call passes the safety
        rails' write gate (``api.write_gate``) before it is sent."""
        return self.method != "GET" and self.name not in READING_POSTS

    @property
    def status(self) -> Status:
        """``current``, ``deprecated`` or ``retired``."""
        return self.lifecycle.status

    @property
    def replacement(self) -> tuple[str, ...]:
        """The catalog names that replace this endpoint (empty: none documented, or current)."""
        return self.lifecycle.replacements


_MDE_DOC = "https://learn.microsoft.com/defender-endpoint/api/"
_XDR_DOC = "https://learn.microsoft.com/defender-xdr/"
_GRAPH_DOC = "https://learn.microsoft.com/graph/api/"

_M_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
_M_READ_D = ("Machine.Read", "Machine.ReadWrite")
_A_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
_A_READ_D = ("Alert.Read", "Alert.ReadWrite")
_A_WRITE = ("Alert.ReadWrite.All",)
_A_WRITE_D = ("Alert.ReadWrite",)
_TI = ("Ti.ReadWrite", "Ti.ReadWrite.All")
_TI_D = ("Ti.ReadWrite",)
#: cancelling a machine action: the permission of any action that can be cancelled (the same
#: list for application and delegated callers)
_ANY_ACTION = (
    "Machine.Isolate",
    "Machine.RestrictExecution",
    "Machine.Scan",
    "Machine.CollectForensics",
    "Machine.StopAndQuarantine",
    "Machine.Offboard",
    "Machine.LiveResponse",
)


@dataclass(frozen=True)
class _DefenderEntries:
    """Writes the catalog entries of one Defender surface (MDE or XDR): its docs root and its
    default rate-limit family, so each entry states only what is its own."""

    surface: Surface
    doc_root: str
    default_family: str

    def __call__(
        self,
        name: str,
        method: str,
        path: str,
        app: tuple[str, ...],
        dele: tuple[str, ...],
        doc: str,
        family: str | None = None,
    ) -> Endpoint:
        return Endpoint(
            name,
            method,
            path,
            self.surface,
            app,
            dele,
            family or self.default_family,
            self.doc_root + doc,
        )


_mde = _DefenderEntries(Surface.MDE, _MDE_DOC, "mde")
_xdr = _DefenderEntries(Surface.XDR, _XDR_DOC, "xdr_incidents")


def _graph(
    name: str,
    method: str,
    path: str,
    perms: tuple[str, ...],
    doc: str,
    family: str = "graph_security",
    delegated: tuple[str, ...] | None = None,
    beta: bool = False,
) -> Endpoint:
    return Endpoint(
        name,
        method,
        path,
        Surface.GRAPH,
        perms,
        perms if delegated is None else delegated,
        family,
        _GRAPH_DOC + doc,
        beta,
    )


_ENTRIES: tuple[Endpoint, ...] = (
    # --- Defender XDR incidents and hunting -------------------------------------------------
    _xdr(
        "xdr.incidents.list",
        "GET",
        "/api/incidents",
        ("Incident.Read.All", "Incident.ReadWrite.All"),
        ("Incident.Read", "Incident.ReadWrite"),
        "api-list-incidents",
    ),
    _xdr(
        "xdr.incidents.get",
        "GET",
        "/api/incidents/{id}",
        ("Incident.Read.All", "Incident.ReadWrite.All"),
        ("Incident.Read", "Incident.ReadWrite"),
        "api-get-incident",
    ),
    _xdr(
        "xdr.incidents.update",
        "PATCH",
        "/api/incidents/{id}",
        ("Incident.ReadWrite.All",),
        ("Incident.ReadWrite",),
        "api-update-incidents",
    ),
    _xdr(
        "xdr.hunting.run",
        "POST",
        "/api/advancedhunting/run",
        ("AdvancedHunting.Read.All",),
        ("AdvancedHunting.Read",),
        "api-advanced-hunting",
        family="hunting",
    ),
    # --- MDE alerts --------------------------------------------------------------------------
    _mde("mde.alerts.list", "GET", "/api/alerts", _A_READ, _A_READ_D, "get-alerts"),
    _mde("mde.alerts.get", "GET", "/api/alerts/{id}", _A_READ, _A_READ_D, "get-alert-info-by-id"),
    _mde("mde.alerts.update", "PATCH", "/api/alerts/{id}", _A_WRITE, _A_WRITE_D, "update-alert"),
    _mde(
        "mde.alerts.batch_update",
        "POST",
        "/api/alerts/batchUpdate",
        _A_WRITE,
        _A_WRITE_D,
        "batch-update-alerts",
        family="alerts_batch",
    ),
    _mde(
        "mde.alerts.create_by_reference",
        "POST",
        "/api/alerts/CreateAlertByReference",
        _A_WRITE,
        _A_WRITE_D,
        "create-alert-by-reference",
        family="create_alert",
    ),
    _mde(
        "mde.alerts.domains",
        "GET",
        "/api/alerts/{id}/domains",
        ("URL.Read.All",),
        ("URL.Read.All",),
        "get-alert-related-domain-info",
    ),
    _mde(
        "mde.alerts.files",
        "GET",
        "/api/alerts/{id}/files",
        ("File.Read.All",),
        ("File.Read.All",),
        "get-alert-related-files-info",
    ),
    _mde(
        "mde.alerts.ips",
        "GET",
        "/api/alerts/{id}/ips",
        ("Ip.Read.All",),
        ("Ip.Read.All",),
        "get-alert-related-ip-info",
    ),
    _mde(
        "mde.alerts.machine",
        "GET",
        "/api/alerts/{id}/machine",
        _M_READ,
        _M_READ_D,
        "get-alert-related-machine-info",
    ),
    _mde(
        "mde.alerts.user",
        "GET",
        "/api/alerts/{id}/user",
        ("User.Read.All",),
        ("User.Read.All",),
        "get-alert-related-user-info",
    ),
    # --- MDE machines ------------------------------------------------------------------------
    _mde("mde.machines.list", "GET", "/api/machines", _M_READ, _M_READ_D, "get-machines"),
    _mde("mde.machines.get", "GET", "/api/machines/{id}", _M_READ, _M_READ_D, "get-machine-by-id"),
    _mde(
        "mde.machines.find_by_tag",
        "GET",
        "/api/machines/findbytag",
        _M_READ,
        _M_READ_D,
        "find-machines-by-tag",
    ),
    _mde(
        "mde.machines.find_by_ip",
        "GET",
        "/api/machines/findbyip(ip='{ip}',timestamp={ts})",
        _M_READ,
        _M_READ_D,
        "find-machines-by-ip",
    ),
    _mde(
        "mde.machines.tag",
        "POST",
        "/api/machines/{id}/tags",
        ("Machine.ReadWrite.All",),
        ("Machine.ReadWrite",),
        "add-or-remove-machine-tags",
    ),
    _mde(
        "mde.machines.tag_many",
        "POST",
        "/api/machines/AddOrRemoveTagForMultipleMachines",
        ("Machine.ReadWrite.All",),
        ("Machine.ReadWrite",),
        "add-or-remove-multiple-machine-tags",
    ),
    _mde(
        "mde.machines.logon_users",
        "GET",
        "/api/machines/{id}/logonusers",
        ("User.Read.All",),
        ("User.Read.All",),
        "get-machine-log-on-users",
    ),
    _mde(
        "mde.machines.alerts",
        "GET",
        "/api/machines/{id}/alerts",
        _A_READ,
        _A_READ_D,
        "get-machine-related-alerts",
    ),
    _mde(
        "mde.machines.vulnerabilities",
        "GET",
        "/api/machines/{id}/vulnerabilities",
        ("Vulnerability.Read.All",),
        ("Vulnerability.Read",),
        "get-discovered-vulnerabilities",
        family="machine_vulnerabilities",
    ),
    # --- MDE machine actions -----------------------------------------------------------------
    _mde(
        "mde.actions.isolate",
        "POST",
        "/api/machines/{id}/isolate",
        ("Machine.Isolate",),
        ("Machine.Isolate",),
        "isolate-machine",
    ),
    _mde(
        "mde.actions.unisolate",
        "POST",
        "/api/machines/{id}/unisolate",
        ("Machine.Isolate",),
        ("Machine.Isolate",),
        "unisolate-machine",
    ),
    _mde(
        "mde.actions.restrict",
        "POST",
        "/api/machines/{id}/restrictCodeExecution",
        ("Machine.RestrictExecution",),
        ("Machine.RestrictExecution",),
        "restrict-code-execution",
    ),
    _mde(
        "mde.actions.unrestrict",
        "POST",
        "/api/machines/{id}/unrestrictCodeExecution",
        ("Machine.RestrictExecution",),
        ("Machine.RestrictExecution",),
        "unrestrict-code-execution",
    ),
    _mde(
        "mde.actions.av_scan",
        "POST",
        "/api/machines/{id}/runAntiVirusScan",
        ("Machine.Scan",),
        ("Machine.Scan",),
        "run-av-scan",
    ),
    _mde(
        "mde.actions.collect_package",
        "POST",
        "/api/machines/{id}/collectInvestigationPackage",
        ("Machine.CollectForensics",),
        ("Machine.CollectForensics",),
        "collect-investigation-package",
    ),
    _mde(
        "mde.actions.package_uri",
        "GET",
        "/api/machineactions/{id}/getPackageUri",
        (*_M_READ, "Machine.CollectForensics"),
        ("Machine.CollectForensics",),
        "get-package-sas-uri",
        family="package_uri",
    ),
    _mde(
        "mde.actions.stop_and_quarantine",
        "POST",
        "/api/machines/{id}/StopAndQuarantineFile",
        ("Machine.StopAndQuarantine",),
        ("Machine.StopAndQuarantine",),
        "stop-and-quarantine-file",
    ),
    _mde(
        "mde.actions.offboard",
        "POST",
        "/api/machines/{id}/offboard",
        ("Machine.Offboard",),
        ("Machine.Offboard",),
        "offboard-machine-api",
    ),
    _mde(
        "mde.actions.cancel",
        "POST",
        "/api/machineactions/{id}/cancel",
        _ANY_ACTION,
        _ANY_ACTION,
        "cancel-machine-action",
    ),
    _mde(
        "mde.actions.get",
        "GET",
        "/api/machineactions/{id}",
        _M_READ,
        _M_READ_D,
        "get-machineaction-object",
    ),
    _mde(
        "mde.actions.list",
        "GET",
        "/api/machineactions",
        _M_READ,
        _M_READ_D,
        "get-machineactions-collection",
    ),
    _mde(
        "mde.investigations.start",
        "POST",
        "/api/machines/{id}/startInvestigation",
        _A_WRITE,
        _A_WRITE_D,
        "initiate-autoir-investigation",
        family="investigation_start",
    ),
    # --- MDE live response and library -------------------------------------------------------
    _mde(
        "mde.live_response.run",
        "POST",
        "/api/machines/{id}/runliveresponse",
        ("Machine.LiveResponse",),
        ("Machine.LiveResponse",),
        "run-live-response",
        family="live_response",
    ),
    _mde(
        "mde.live_response.result_link",
        "GET",
        "/api/machineactions/{id}/GetLiveResponseResultDownloadLink(index={index})",
        (*_M_READ, "Machine.LiveResponse"),
        ("Machine.LiveResponse",),
        "get-live-response-result",
    ),
    _mde(
        "mde.library.list",
        "GET",
        "/api/libraryfiles",
        ("Library.Manage",),
        ("Library.Manage",),
        "list-library-files",
    ),
    _mde(
        "mde.library.upload",
        "POST",
        "/api/libraryfiles",
        ("Library.Manage",),
        ("Library.Manage",),
        "upload-library",
    ),
    _mde(
        "mde.library.delete",
        "DELETE",
        "/api/libraryfiles/{name}",
        ("Library.Manage",),
        ("Library.Manage",),
        "delete-library",
    ),
    # --- MDE indicators ----------------------------------------------------------------------
    _mde(
        "mde.indicators.list", "GET", "/api/indicators", _TI, _TI_D, "get-ti-indicators-collection"
    ),
    _mde("mde.indicators.submit", "POST", "/api/indicators", _TI, _TI_D, "post-ti-indicator"),
    _mde(
        "mde.indicators.import",
        "POST",
        "/api/indicators/import",
        _TI,
        _TI_D,
        "import-ti-indicators",
        family="indicators_import",
    ),
    _mde(
        "mde.indicators.delete",
        "DELETE",
        "/api/indicators/{id}",
        ("Ti.ReadWrite.All",),
        ("Ti.ReadWrite",),
        "delete-ti-indicator-by-id",
    ),
    _mde(
        "mde.indicators.batch_delete",
        "POST",
        "/api/indicators/BatchDelete",
        ("Ti.ReadWrite.All",),
        ("Ti.ReadWrite",),
        "batch-delete-ti-indicators",
        family="indicators_batch_delete",
    ),
    # --- MDE entities ------------------------------------------------------------------------
    _mde(
        "mde.files.get",
        "GET",
        "/api/files/{id}",
        ("File.Read.All",),
        ("File.Read.All",),
        "get-file-information",
    ),
    _mde(
        "mde.files.stats",
        "GET",
        "/api/files/{id}/stats",
        ("File.Read.All",),
        ("File.Read.All",),
        "get-file-statistics",
    ),
    _mde(
        "mde.files.alerts",
        "GET",
        "/api/files/{id}/alerts",
        _A_READ,
        _A_READ_D,
        "get-file-related-alerts",
    ),
    _mde(
        "mde.files.machines",
        "GET",
        "/api/files/{id}/machines",
        _M_READ,
        _M_READ_D,
        "get-file-related-machines",
    ),
    _mde(
        "mde.ips.stats",
        "GET",
        "/api/ips/{ip}/stats",
        ("Ip.Read.All",),
        ("Ip.Read.All",),
        "get-ip-statistics",
    ),
    _mde(
        "mde.ips.alerts", "GET", "/api/ips/{ip}/alerts", _A_READ, _A_READ_D, "get-ip-related-alerts"
    ),
    _mde(
        "mde.domains.stats",
        "GET",
        "/api/domains/{domain}/stats",
        ("URL.Read.All",),
        ("URL.Read.All",),
        "get-domain-statistics",
    ),
    _mde(
        "mde.domains.alerts",
        "GET",
        "/api/domains/{domain}/alerts",
        _A_WRITE,  # the page lists the write permission only
        _A_WRITE_D,
        "get-domain-related-alerts",
    ),
    _mde(
        "mde.domains.machines",
        "GET",
        "/api/domains/{domain}/machines",
        _M_READ,
        _M_READ_D,
        "get-domain-related-machines",
    ),
    _mde(
        "mde.users.alerts",
        "GET",
        "/api/users/{user}/alerts",
        _A_READ,
        _A_READ_D,
        "get-user-related-alerts",
    ),
    _mde(
        "mde.users.machines",
        "GET",
        "/api/users/{user}/machines",
        ("Machine.ReadWrite.All",),  # as the page lists
        ("Machine.ReadWrite",),
        "get-user-related-machines",
    ),
    # --- MDE automated investigations -------------------------------------------------------
    _mde(
        "mde.investigations.list",
        "GET",
        "/api/investigations",
        _A_READ,
        _A_READ_D,
        "get-investigation-collection",
    ),
    _mde(
        "mde.investigations.get",
        "GET",
        "/api/investigations/{id}",
        _A_READ,
        _A_READ_D,
        "get-investigation-object",
    ),
    # --- MDE vulnerability management -------------------------------------------------------
    _mde(
        "mde.tvm.software",
        "GET",
        "/api/Software",
        ("Software.Read.All",),
        ("Software.Read",),
        "get-software",
    ),
    _mde(
        "mde.tvm.software_vulnerabilities",
        "GET",
        "/api/Software/{id}/vulnerabilities",
        ("Vulnerability.Read.All",),
        ("Vulnerability.Read",),
        "get-vuln-by-software",
    ),
    _mde(
        "mde.tvm.vulnerabilities",
        "GET",
        "/api/vulnerabilities",
        ("Vulnerability.Read.All",),
        ("Vulnerability.Read",),
        "get-all-vulnerabilities",
    ),
    _mde(
        "mde.tvm.vulnerability_machines",
        "GET",
        "/api/vulnerabilities/{id}/machineReferences",
        ("Vulnerability.Read.All",),
        ("Vulnerability.Read",),
        "get-machines-by-vulnerability",
    ),
    _mde(
        "mde.tvm.recommendations",
        "GET",
        "/api/recommendations",
        ("SecurityRecommendation.Read.All",),
        ("SecurityRecommendation.Read",),
        "get-all-recommendations",
    ),
    _mde(
        "mde.tvm.exposure_score",
        "GET",
        "/api/exposureScore",
        ("Score.Read.All",),
        ("Score.Read",),
        "get-exposure-score",
    ),
    _mde(
        "mde.hunting.run",
        "POST",
        "/api/advancedqueries/run",
        ("AdvancedQuery.Read.All",),
        ("AdvancedQuery.Read",),
        "run-advanced-query-api",
        family="hunting",
    ),
    # --- Graph security ----------------------------------------------------------------------
    _graph(
        "graph.incidents.list",
        "GET",
        "/security/incidents",
        ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"),
        "security-list-incidents",
    ),
    _graph(
        "graph.incidents.get",
        "GET",
        "/security/incidents/{id}",
        ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All"),
        "security-incident-get",
    ),
    _graph(
        "graph.incidents.update",
        "PATCH",
        "/security/incidents/{id}",
        ("SecurityIncident.ReadWrite.All",),
        "security-incident-update",
    ),
    _graph(
        "graph.incidents.comment",
        "POST",
        "/security/incidents/{id}/comments",
        ("SecurityIncident.ReadWrite.All",),
        "security-incident-post-comments",
    ),
    _graph(
        "graph.alerts.list",
        "GET",
        "/security/alerts_v2",
        ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"),
        "security-list-alerts_v2",
    ),
    _graph(
        "graph.alerts.get",
        "GET",
        "/security/alerts_v2/{id}",
        ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"),
        "security-alert-get",
    ),
    _graph(
        "graph.alerts.update",
        "PATCH",
        "/security/alerts_v2/{id}",
        ("SecurityAlert.ReadWrite.All",),
        "security-alert-update",
    ),
    _graph(
        "graph.alerts.comment",
        "POST",
        "/security/alerts_v2/{id}/comments",
        ("SecurityAlert.ReadWrite.All",),
        "security-alert-post-comments",
    ),
    _graph(
        "graph.hunting.run",
        "POST",
        "/security/runHuntingQuery",
        ("ThreatHunting.Read.All",),
        "security-security-runhuntingquery",
        family="hunting",
    ),
    # custom detection rules: Graph v1.0 (rulesroot-post-detectionrules?view=graph-rest-1.0)
    _graph(
        "graph.detection_rules.list",
        "GET",
        "/security/rules/detectionRules",
        ("CustomDetection.Read.All", "CustomDetection.ReadWrite.All"),
        "security-rulesroot-list-detectionrules",
    ),
    _graph(
        "graph.detection_rules.get",
        "GET",
        "/security/rules/detectionRules/{id}",
        ("CustomDetection.Read.All", "CustomDetection.ReadWrite.All"),
        "security-detectionrule-get",
    ),
    _graph(
        "graph.detection_rules.create",
        "POST",
        "/security/rules/detectionRules",
        ("CustomDetection.ReadWrite.All",),
        "security-rulesroot-post-detectionrules",
    ),
    _graph(
        "graph.detection_rules.update",
        "PATCH",
        "/security/rules/detectionRules/{id}",
        ("CustomDetection.ReadWrite.All",),
        "security-detectionrule-update",
    ),
    _graph(
        "graph.detection_rules.delete",
        "DELETE",
        "/security/rules/detectionRules/{id}",
        ("CustomDetection.ReadWrite.All",),
        "security-rulesroot-delete-detectionrules",
    ),
    # --- identities: Defender XDR identity accounts, Entra ID users, Identity Protection ------
    _graph(
        "graph.identity_accounts.list",
        "GET",
        "/security/identities/identityAccounts",
        ("SecurityIdentitiesAccount.Read.All",),
        "security-identitycontainer-list-identityaccounts",
    ),
    _graph(
        "graph.identity_accounts.get",
        "GET",
        "/security/identities/identityAccounts/{id}",
        ("SecurityIdentitiesAccount.Read.All",),
        "security-identityaccounts-get",
    ),
    _graph(
        "graph.identity_accounts.invoke_action",
        "POST",
        "/security/identities/identityAccounts/{id}/invokeAction",
        ("SecurityIdentitiesActions.ReadWrite.All",),
        "security-identityaccounts-invokeaction",
    ),
    _graph(
        "graph.users.get",
        "GET",
        "/users/{id}",
        # "Get a user": User.Read.All, then User.ReadWrite.All, Directory.Read.All,
        # Directory.ReadWrite.All. The delegated row also names User.Read (the signed-in user
        # only) and User.ReadBasic.All, which answers without accountEnabled: not listed here.
        ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
        "user-get",
    ),
    _graph(
        "graph.users.member_of",
        "GET",
        "/users/{id}/memberOf",
        # "List a user's direct memberships", another user's: Application Directory.Read.All,
        # then Directory.ReadWrite.All (GroupMember.Read.All is on the delegated row only)
        ("Directory.Read.All", "Directory.ReadWrite.All"),
        "user-list-memberof",
        delegated=(
            "User.Read.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "GroupMember.Read.All",
        ),
    ),
    _graph(
        "graph.users.set_enabled",
        "PATCH",
        "/users/{id}",
        ("User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All"),
        "user-update",
    ),
    _graph(
        "graph.users.revoke_sessions",
        "POST",
        "/users/{id}/revokeSignInSessions",
        # Application: User.RevokeSessions.All, higher "Not available."; the delegated row adds
        # Directory.ReadWrite.All and User.ReadWrite.All
        ("User.RevokeSessions.All",),
        "user-revokesigninsessions",
        delegated=("User.RevokeSessions.All", "Directory.ReadWrite.All", "User.ReadWrite.All"),
    ),
    _graph(
        "graph.risky_users.list",
        "GET",
        "/identityProtection/riskyUsers",
        ("IdentityRiskyUser.Read.All",),  # the page: higher privileged "Not available."
        "riskyuser-list",
    ),
    _graph(
        "graph.risky_users.get",
        "GET",
        "/identityProtection/riskyUsers/{id}",
        ("IdentityRiskyUser.Read.All",),  # the page: higher privileged "Not available."
        "riskyuser-get",
    ),
    _graph(
        "graph.risky_users.confirm_compromised",
        "POST",
        "/identityProtection/riskyUsers/confirmCompromised",
        ("IdentityRiskyUser.ReadWrite.All",),
        "riskyuser-confirmcompromised",
    ),
    _graph(
        "graph.risky_users.dismiss",
        "POST",
        "/identityProtection/riskyUsers/dismiss",
        ("IdentityRiskyUser.ReadWrite.All",),
        "riskyuser-dismiss",
    ),
    _graph(
        "graph.sign_ins.list",
        "GET",
        "/auditLogs/signIns",
        ("AuditLog.Read.All", "Directory.Read.All"),
        "signin-list",
    ),
    _graph(
        "graph.risk_detections.list",
        "GET",
        "/identityProtection/riskDetections",
        ("IdentityRiskEvent.Read.All",),
        "riskdetection-list",
    ),
    _graph(
        "graph.health_issues.list",
        "GET",
        "/security/identities/healthIssues",
        ("SecurityIdentitiesHealth.Read.All", "SecurityIdentitiesHealth.ReadWrite.All"),
        "security-identitycontainer-list-healthissues",
    ),
    _graph(
        "graph.emails.remediate",
        "POST",
        "/security/collaboration/analyzedEmails/remediate",
        ("SecurityAnalyzedMessage.ReadWrite.All",),
        "security-analyzedemail-remediate",
        delegated=(),
        beta=True,
    ),
)

CATALOG: dict[str, Endpoint] = {
    e.name: replace(e, lifecycle=lifecycle_of(e.name, e.surface)) for e in _ENTRIES
}


def writing_endpoints() -> list[Endpoint]:
    """Every catalog entry that changes something in a tenant (:attr:`Endpoint.writes`).

    Example:
        >>> "mde.indicators.import" in [e.name for e in writing_endpoints()]
        True
    """
    return [e for e in CATALOG.values() if e.writes]


def endpoint(name: str) -> Endpoint:
    """The catalog entry called ``name`` (``KeyError`` with the known names otherwise)."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown endpoint {name!r}") from None
