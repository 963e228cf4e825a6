"""Run names that say what a paused run is about.

Prefect names a run like ``orchid-chinchilla``; the resume dialog says "Provide input to resume
orchid-chinchilla" and the runs list is a column of such names. The playbooks that ask for
approval name their runs from their parameters instead: ``contain-device incident 1041``,
``release incident 1044``, ``hunt-and-respond ip 203.0.113.66``.

Example:
    ```python
    import asyncio

    from prefect import flow
    from prefect.runtime import flow_run


    @flow(name="scan-incident", flow_run_name=run_name("scan"))
    async def scan(incident_id: int) -> str:
        return str(flow_run.name)


    assert asyncio.run(scan(incident_id=1001)) == "scan incident 1001"
    ```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.context import FlowRunContext

__all__ = ["run_name"]

#: Prefect shows names in full; keep them short
MAX_NAME = 80


def _named(params: dict[str, Any]) -> str:
    """What the run is about, from its parameters."""
    if params.get("incident_id") not in (None, "", 0):
        return f"incident {params['incident_id']}"
    values = params.get("ioc_values") or []
    if values:
        more = f" and {len(values) - 1} more" if len(values) > 1 else ""
        return f"{params.get('ioc_kind') or 'ioc'} {values[0]}{more}"
    for key, noun in (("alert_id", "alert"), ("machine_ids", "device"), ("users", "account")):
        value = params.get(key)
        if isinstance(value, list) and value:
            return f"{len(value)} {noun}{'s' if len(value) != 1 else ''}"
        if value and not isinstance(value, list):
            return f"{noun} {value}"
    return ""


def run_name(playbook: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``<playbook> <what the parameters name>`` (printable
    characters only, at most :data:`MAX_NAME`); never raises."""

    def name() -> str:
        ctx = FlowRunContext.get()
        try:
            about = _named(dict(ctx.parameters or {})) if ctx else ""
        except Exception:  # a name never fails a run
            about = ""
        text = " ".join(f"{playbook} {about}".split())
        return "".join(c for c in text if c.isprintable())[:MAX_NAME]

    return name
