"""The agent policy at call time: denied tools and hourly caps.

A capped tool's call counts on a Prefect global concurrency limit with slot decay
(``defender-mcp-<policy>-<tool>``, shaped by ``tasks.hourly_limits``), so the cap holds
across every MCP server process using the same Prefect server, and survives a restart of the
MCP server (an agent cannot reset it by reconnecting).
"""

from __future__ import annotations

import asyncio
import re

from prefect.client.orchestration import get_client

from prefect_defender.blocks import DefenderAgentPolicy
from prefect_defender.tasks.hourly_limits import ensure_hourly_limit, take_hourly_slot

__all__ = ["PolicyGate"]


class PolicyGate:
    """Decides whether a tool call may run under a :class:`DefenderAgentPolicy`.

    Example:
        ```python
        gate = PolicyGate(DefenderAgentPolicy(), "default")
        why_not = await gate.refusal("propose_device_containment")   # None: allowed
        ```
    """

    def __init__(self, policy: DefenderAgentPolicy, policy_name: str) -> None:
        self.policy = policy
        self.policy_name = re.sub(r"[^a-z0-9-]+", "-", policy_name.lower())[:60]
        self._ready: set[str] = set()
        self._lock = asyncio.Lock()

    async def refusal(self, tool: str) -> str | None:
        """Why ``tool`` may not run now (a sentence for the agent), or ``None``."""
        rule = self.policy.rule_for(tool)
        if rule.access == "denied":
            return f"denied by the agent policy: rule {rule.tool!r} denies {tool}"
        if rule.calls_per_hour is not None and not await self._take(tool, rule.calls_per_hour):
            return (
                f"denied by the agent policy: {tool} is allowed {rule.calls_per_hour} calls per "
                "hour and that cap is reached; try again later"
            )
        return None

    def limit_name(self, tool: str) -> str:
        """The Prefect global concurrency limit that counts ``tool``'s calls."""
        return f"defender-mcp-{self.policy_name}-{tool.replace('_', '-')}"

    async def _take(self, tool: str, per_hour: int) -> bool:
        """Count one call of the tool's decaying limit now, without waiting."""
        name = self.limit_name(tool)
        async with get_client() as client:
            async with self._lock:
                if name not in self._ready:
                    await ensure_hourly_limit(client, name, per_hour)
                    self._ready.add(name)
            return await take_hourly_slot(client, name, per_hour)
