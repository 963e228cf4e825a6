"""Every Defender for Endpoint (MDE) and Defender XDR endpoint of the catalog: its lifecycle and
what Microsoft's pages offer in its place on Microsoft Graph.

All of them are deprecated by MC1220762 (retiring after 1 February 2027; see
:mod:`prefect_defender.api.lifecycle` for the sources). ``startInvestigation`` was retired
earlier, on 1 September 2026 (MC1411577). Graph endpoints are current.

A replacement is named only where a Graph v1.0 page documents the same operation
(https://learn.microsoft.com/graph/api/resources/security-api-overview); otherwise the entry
says "none documented" and why, as of December 2026. Where a read-only alternative exists
(advanced hunting tables through ``runHuntingQuery``, an alert's ``evidence``), the note says so
without calling it a replacement.
"""

from __future__ import annotations

from prefect_defender.api.clouds import Surface
from prefect_defender.api.lifecycle import (
    AIR_RETIREMENT,
    CURRENT,
    MDE_XDR_RETIREMENT,
    Lifecycle,
    Status,
)

__all__ = ["NO_SUCCESSOR", "REPLACEMENTS", "lifecycle_of"]

#: the reasons no Graph successor is documented, shared by groups of endpoints
_DEVICE_ACTIONS = (
    "none documented: Graph v1.0 has no on-demand device action; isolate, scan, restrict, "
    "collect and stop-and-quarantine exist only as automated actions of a custom detection "
    "rule (security-automatedactionset), and the beta incidentTask response action serves "
    "Defender Experts tasks"
)
_LIVE_RESPONSE = "none documented: Graph has no live response or library API"
_INDICATORS = (
    "none documented: Graph v1.0 has no indicator API (beta tiIndicators was itself "
    "deprecated); custom detection rules can allow or block file hashes their query returns "
    "(allowFiles, blockFiles)"
)
_INVENTORY = (
    "none documented: Graph has no Defender device inventory API; read-only, the DeviceInfo, "
    "DeviceNetworkInfo and DeviceLogonEvents hunting tables (graph.hunting.run) hold the data"
)
_TAGS = "none documented: Graph has no API to tag Defender devices"
_ENTITY_STATS = (
    "none documented: Graph has no file, IP or domain prevalence API; read-only, the Device* "
    "and AlertEvidence hunting tables (graph.hunting.run) hold the data"
)
_TVM = (
    "none documented: Defender Vulnerability Management has no Graph API; read-only, the "
    "DeviceTvm* hunting tables (graph.hunting.run) hold the data"
)
_INVESTIGATIONS = (
    "none documented: Graph has no automated investigation resource; standalone AIR "
    "investigations ended on 1 September 2026 (MC1411577)"
)
_EVIDENCE = (
    "the alert's evidence (deviceEvidence, fileEvidence, ipEvidence, urlEvidence, userEvidence)"
)

#: MDE/XDR endpoint -> (Graph replacements, note); an empty tuple: no successor documented
REPLACEMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    # Defender XDR
    "xdr.incidents.list": (("graph.incidents.list",), ""),
    "xdr.incidents.get": (("graph.incidents.get",), ""),
    "xdr.incidents.update": (
        ("graph.incidents.update", "graph.incidents.comment"),
        "tags become customTags; a comment is its own POST",
    ),
    "xdr.hunting.run": (("graph.hunting.run",), ""),
    # MDE alerts
    "mde.alerts.list": (("graph.alerts.list",), ""),
    "mde.alerts.get": (("graph.alerts.get",), ""),
    "mde.alerts.update": (
        ("graph.alerts.update", "graph.alerts.comment"),
        "a comment is its own POST",
    ),
    "mde.alerts.batch_update": (("graph.alerts.update",), "one request per alert; no batch"),
    "mde.alerts.create_by_reference": (
        (),
        "none documented: Graph alerts cannot be created; a custom detection rule "
        "(graph.detection_rules.create) raises alerts from a hunting query instead",
    ),
    "mde.alerts.domains": (("graph.alerts.get",), _EVIDENCE),
    "mde.alerts.files": (("graph.alerts.get",), _EVIDENCE),
    "mde.alerts.ips": (("graph.alerts.get",), _EVIDENCE),
    "mde.alerts.machine": (("graph.alerts.get",), _EVIDENCE),
    "mde.alerts.user": (("graph.alerts.get",), _EVIDENCE),
    # MDE machines
    "mde.machines.list": ((), _INVENTORY),
    "mde.machines.get": ((), _INVENTORY),
    "mde.machines.find_by_tag": ((), _INVENTORY),
    "mde.machines.find_by_ip": ((), _INVENTORY),
    "mde.machines.tag": ((), _TAGS),
    "mde.machines.tag_many": ((), _TAGS),
    "mde.machines.logon_users": ((), _INVENTORY),
    "mde.machines.alerts": (
        (),
        "none documented: Graph alerts cannot be filtered by device; read-only, the "
        "AlertEvidence hunting table (graph.hunting.run) links alerts to devices",
    ),
    "mde.machines.vulnerabilities": ((), _TVM),
    # MDE machine actions
    "mde.actions.isolate": ((), _DEVICE_ACTIONS),
    "mde.actions.unisolate": ((), _DEVICE_ACTIONS),
    "mde.actions.restrict": ((), _DEVICE_ACTIONS),
    "mde.actions.unrestrict": ((), _DEVICE_ACTIONS),
    "mde.actions.av_scan": ((), _DEVICE_ACTIONS),
    "mde.actions.collect_package": ((), _DEVICE_ACTIONS),
    "mde.actions.package_uri": ((), _DEVICE_ACTIONS),
    "mde.actions.stop_and_quarantine": ((), _DEVICE_ACTIONS),
    "mde.actions.offboard": ((), _DEVICE_ACTIONS),
    "mde.actions.cancel": ((), _DEVICE_ACTIONS),
    "mde.actions.get": ((), _DEVICE_ACTIONS),
    "mde.actions.list": ((), _DEVICE_ACTIONS),
    # MDE live response and library
    "mde.live_response.run": ((), _LIVE_RESPONSE),
    "mde.live_response.result_link": ((), _LIVE_RESPONSE),
    "mde.library.list": ((), _LIVE_RESPONSE),
    "mde.library.upload": ((), _LIVE_RESPONSE),
    "mde.library.delete": ((), _LIVE_RESPONSE),
    # MDE indicators
    "mde.indicators.list": ((), _INDICATORS),
    "mde.indicators.submit": ((), _INDICATORS),
    "mde.indicators.import": ((), _INDICATORS),
    "mde.indicators.delete": ((), _INDICATORS),
    "mde.indicators.batch_delete": ((), _INDICATORS),
    # MDE entities
    "mde.files.get": ((), _ENTITY_STATS),
    "mde.files.stats": ((), _ENTITY_STATS),
    "mde.files.alerts": ((), _ENTITY_STATS),
    "mde.files.machines": ((), _ENTITY_STATS),
    "mde.ips.stats": ((), _ENTITY_STATS),
    "mde.ips.alerts": ((), _ENTITY_STATS),
    "mde.domains.stats": ((), _ENTITY_STATS),
    "mde.domains.alerts": ((), _ENTITY_STATS),
    "mde.domains.machines": ((), _ENTITY_STATS),
    "mde.users.alerts": ((), _ENTITY_STATS),
    "mde.users.machines": ((), _ENTITY_STATS),
    # MDE automated investigations
    "mde.investigations.list": ((), _INVESTIGATIONS),
    "mde.investigations.get": ((), _INVESTIGATIONS),
    # MDE vulnerability management
    "mde.tvm.software": ((), _TVM),
    "mde.tvm.software_vulnerabilities": ((), _TVM),
    "mde.tvm.vulnerabilities": ((), _TVM),
    "mde.tvm.vulnerability_machines": ((), _TVM),
    "mde.tvm.recommendations": ((), _TVM),
    "mde.tvm.exposure_score": ((), _TVM),
    # MDE advanced hunting
    "mde.hunting.run": (("graph.hunting.run",), ""),
}

#: Retired before the MDE API as a whole: "AIR will no longer support manual triggering";
#: "For on-demand investigations, administrators can use full antivirus scans" (MC1411577).
_RETIRED: dict[str, Lifecycle] = {
    "mde.investigations.start": Lifecycle(
        Status.RETIRED,
        AIR_RETIREMENT,
        "MC1411577",
        ("mde.actions.av_scan",),
        "a Full antivirus scan (ScanType Full) is Microsoft's on-demand replacement",
    ),
}

#: catalog names whose entry says "none documented" (device actions, indicators, ...)
NO_SUCCESSOR = frozenset(name for name, (repl, _) in REPLACEMENTS.items() if not repl)


def lifecycle_of(name: str, surface: Surface) -> Lifecycle:
    """The lifecycle of the catalog entry ``name`` on ``surface``.

    Raises ``KeyError`` for an MDE or XDR endpoint missing from :data:`REPLACEMENTS`: every one
    of them must say what replaces it.
    """
    if name in _RETIRED:
        return _RETIRED[name]
    if surface is Surface.GRAPH:
        return CURRENT
    if name not in REPLACEMENTS:
        raise KeyError(f"{name}: an MDE/XDR endpoint needs an entry in api.lifecycle_table")
    replacements, note = REPLACEMENTS[name]
    return Lifecycle(Status.DEPRECATED, MDE_XDR_RETIREMENT, "MC1220762", replacements, note)
