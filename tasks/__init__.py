"""Prefect tasks wrapping the Defender APIs, one module per area.

=========================  =====================================================================
module                     area
=========================  =====================================================================
``incidents``              Defender XDR and Graph incidents
``alerts``                 Defender for Endpoint alerts (and re-exports ``graph_alerts``)
``graph_alerts``           Graph security alerts (``alerts_v2``)
``hunting``                advanced hunting (Graph, XDR, MDE), IOC hunts, exports
``machines``               machines: list, find by IP/tag, tags, related data
``machine_actions``        isolate, release, restrict, scan, collect, quarantine ... on one
                           machine; read, wait for and cancel actions (and re-exports the next two)
``bulk_actions``           the same actions on many machines, one outcome per machine
``investigation_packages`` investigation package links and downloads
``action_fan_out``         the one fan-out every machine action goes through
``action_plans``           machine actions as playbooks take them: plan, guard, request, wait
``action_history``         each machine's isolations and restrictions: what a release undoes
``live_response``          live response sessions and library
``indicators``             custom indicators
``enrichment``             files, IPs, domains, users (and re-exports ``batch_enrichment``)
``batch_enrichment``       many entities enriched in one task
``investigations``         automated investigations
``vulnerabilities``        threat and vulnerability management
``sigma``                  Sigma rules converted to KQL and hunted as one batch
``identities``             identity accounts, Entra ID users, risky users, sign-ins: the reads;
                           identity actions on every account of a user (Entra ID fallback);
                           Entra ID users disabled/enabled/signed out, risk confirmed/dismissed;
                           each account as a responder sees it before acting
``graph_security``         Graph beta: custom detection rules, email remediation
``generic``                any catalog endpoint by name (validated, paced, typed errors)
``connectivity``           a tenant's connectivity check (incidents and machines listed)
``incident_polling``       incidents changed since a tie-safe checkpoint (the poller's read)
``mssp``                   one customer tenant's sweep: a hunting query and an indicator baseline
=========================  =====================================================================

:data:`AREAS` names the modules whose tasks make up the catalogue; a module that re-exports
another's tasks (``machine_actions``, ``alerts``, ``enrichment``) stands for it,
so each task is listed once, under the area its users import it from.

``tasks.capabilities`` renders the permission tables of ``docs/permissions.md`` from the tasks'
declared endpoints and the endpoint catalog, so they cannot drift.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AREAS", "all_tasks"]

AREAS = (
    "incidents",
    "alerts",
    "hunting",
    "machines",
    "machine_actions",
    "action_plans",
    "action_history",
    "live_response",
    "indicators",
    "enrichment",
    "investigations",
    "vulnerabilities",
    "sigma",
    "identities",
    "graph_security",
    "generic",
    "connectivity",
    "incident_polling",
    "mssp",
)


def all_tasks() -> list[tuple[str, Any]]:
    """``(area, task)`` for every Defender task, in module order."""
    from prefect_defender.tasks.base import DefenderTask

    out: list[tuple[str, Any]] = []
    for area in AREAS:
        mod = importlib.import_module(f"prefect_defender.tasks.{area}")
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if isinstance(obj, DefenderTask):
                out.append((area, obj))
    return out
