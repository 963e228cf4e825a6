"""Which API surface reads incidents and runs hunting queries: Graph unless asked otherwise.

Microsoft retires the Defender XDR and Defender for Endpoint APIs: Message Center MC1220762,
"Retirement notice: MDE and XDR APIs retiring; migrate to Microsoft Graph Security API" (posted
22 January 2026): "after February 1, 2027, the MDE and XDR APIs will no longer function". So
incidents and advanced hunting go to Microsoft Graph by default; XDR (and MDE hunting) only when
a caller asks for them, explicitly (a ``surface`` argument) or through the client's settings (a
block's ``incident_surface``/``hunting_surface``). Each such choice logs one warning line per
process naming the retirement date.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prefect_defender.api.models.hunting import HuntingSurface
from prefect_defender.api.models.incidents import IncidentSurface
from prefect_defender.api.value_checks import check_choice

__all__ = [
    "RETIREMENT",
    "check_hunting_surface",
    "check_incident_surface",
    "retiring_surface_warning",
    "warn_retiring_surface",
]

#: the date and the notice, as every warning names them
RETIREMENT = "1 February 2027 (Microsoft Message Center MC1220762)"

logger = logging.getLogger("prefect_defender.lifecycle")
_warned: set[tuple[str, str]] = set()
_lock = threading.Lock()

_NAMES = {"xdr": "Defender XDR", "mde": "Defender for Endpoint"}


def retiring_surface_warning(surface: str, what: str) -> str:
    """The one line logged when ``what`` (``incidents``, ``hunting``) uses a retiring surface."""
    return (
        f"{what} on the {_NAMES.get(surface, surface)} API (surface={surface!r}, asked for "
        f"explicitly): Microsoft retires that API on {RETIREMENT}; the default, Microsoft Graph, "
        "keeps working"
    )


def warn_retiring_surface(surface: str, what: str) -> bool:
    """Log :func:`retiring_surface_warning` once per process for each (surface, what); True the
    first time (the caller may repeat the line in its own run log)."""
    key = (surface, what)
    with _lock:
        if key in _warned:
            return False
        _warned.add(key)
    logger.warning(retiring_surface_warning(surface, what))
    return True


def check_incident_surface(value: Any, default: Any = IncidentSurface.GRAPH) -> IncidentSurface:
    """``value`` (or ``default`` when ``None``) as an :class:`IncidentSurface`; XDR warns once."""
    chosen = check_choice(default if value is None else value, IncidentSurface, "surface")
    if chosen is not IncidentSurface.GRAPH:
        warn_retiring_surface(chosen.value, "incidents")
    return chosen


def check_hunting_surface(value: Any, default: Any = HuntingSurface.GRAPH) -> HuntingSurface:
    """``value`` (or ``default`` when ``None``) as a :class:`HuntingSurface`; XDR and MDE warn
    once each."""
    chosen = check_choice(default if value is None else value, HuntingSurface, "surface")
    if chosen is not HuntingSurface.GRAPH:
        warn_retiring_surface(chosen.value, "advanced hunting")
    return chosen
