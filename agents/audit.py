"""Audit of every tool call: one Prefect event ``defender.mcp.tool.called`` per call.

The event names the MCP client (name and version, as the client declared them), the tool, its
arguments (secrets scrubbed, long values cut), the tenant, the size of the result and the
outcome (``ok``, ``denied``, ``error`` or ``invalid``), so the Prefect UI's event feed (and any
automation on it) sees what each agent did.
"""

from __future__ import annotations

import re
from typing import Any

from prefect.events import emit_event

__all__ = ["EVENT", "scrub", "tool_called"]

EVENT = "defender.mcp.tool.called"
_SECRET_KEY = re.compile(r"secret|token|password|passwd|credential|api[-_]?key|authorization", re.I)
_MAX_VALUE = 1000
_MAX_ITEMS = 50


def scrub(value: Any, depth: int = 0) -> Any:
    """``value`` safe to record: keys that name a secret are masked, strings are cut to 1,000
    characters, lists to 50 items, nesting to 5 levels.

    Examples:
        >>> scrub({"query": "DeviceInfo", "api_token": "abc"})
        {'query': 'DeviceInfo', 'api_token': '***'}
    """
    if depth > 5:
        return "…"
    if isinstance(value, dict):
        return {
            str(k)[:100]: "***" if _SECRET_KEY.search(str(k)) else scrub(v, depth + 1)
            for k, v in list(value.items())[:_MAX_ITEMS]
        }
    if isinstance(value, list | tuple):
        return [scrub(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
    if isinstance(value, str):
        return value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value), depth + 1)


def tool_called(
    *,
    tool: str,
    client: dict[str, str],
    arguments: dict[str, Any],
    tenant: str | None,
    outcome: str,
    result_bytes: int,
    reason: str | None = None,
    duration_ms: float = 0.0,
    run_id: str | None = None,
) -> None:
    """Emit ``defender.mcp.tool.called`` for one call (``run_id``: a proposal's flow run)."""
    related: list[dict[str, str]] = [
        {
            "prefect.resource.id": f"defender.mcp.client.{client.get('name', 'unknown')}",
            "prefect.resource.role": "mcp-client",
            "prefect.resource.name": client.get("name", "unknown"),
        }
    ]
    if run_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{run_id}",
                "prefect.resource.role": "flow-run",
            }
        )
    emit_event(
        event=EVENT,
        resource={
            "prefect.resource.id": f"defender.mcp.tool.{tool}",
            "prefect.resource.name": tool,
            "defender.mcp.outcome": outcome,
        },
        related=related,
        payload={
            "client": client,
            "tool": tool,
            "arguments": scrub(arguments),
            "tenant": tenant,
            "result_bytes": result_bytes,
            "outcome": outcome,
            "reason": (reason or "")[:_MAX_VALUE] or None,
            "duration_ms": round(duration_ms, 1),
        },
    )
