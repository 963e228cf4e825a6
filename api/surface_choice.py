"""Which API surface reads incidents and runs hunting queries: Graph unless asked otherwise.

Microsoft retires the Defender XDR and Defender for Endpoint APIs: Message Center MC1220762,
"Retirement notice: MDE and XDR APIs retiring; migrate to Microsoft Graph Security API" (posted
22 January 2026): "after February 1, 2027, the MDE and XDR APIs will no longer function". So
incidents and advanced hunting go to Microsoft Graph by default; XDR (and MDE hunting) only when
a caller asks for them, explicitly (a ``surface`` argument) or through the client's settings (a
block's ``incident_surface``/``hunting_surface``). Their endpoints are deprecated in the catalog,
so the first call of each logs one warning per process naming the date and the replacement
(:func:`prefect_defender.api.lifecycle.check_call`).
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.models.hunting import HuntingSurface
from prefect_defender.api.models.incidents import IncidentSurface
from prefect_defender.api.validation import check_choice

__all__ = ["check_hunting_surface", "check_incident_surface"]


def check_incident_surface(value: Any, default: Any = IncidentSurface.GRAPH) -> IncidentSurface:
    """``value`` (or ``default`` when ``None``) as an :class:`IncidentSurface`."""
    return check_choice(default if value is None else value, IncidentSurface, "surface")


def check_hunting_surface(value: Any, default: Any = HuntingSurface.GRAPH) -> HuntingSurface:
    """``value`` (or ``default`` when ``None``) as a :class:`HuntingSurface`."""
    return check_choice(default if value is None else value, HuntingSurface, "surface")
