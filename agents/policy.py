"""The agent policy at call time: denied tools and hourly caps.

A capped tool takes one slot of a Prefect global concurrency limit with slot decay
(``defender-mcp-<policy>-<tool>``: N slots, N/3600 decaying per second), so the cap holds
across every MCP server process using the same Prefect server, and survives a restart of the
MCP server (an agent cannot reset it by reconnecting).
"""

from __future__ import annotations

import asyncio
import contextlib
import re

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectHTTPStatusError

from prefect_defender.blocks import DefenderAgentPolicy

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
        """Take one slot of the tool's decaying limit now, without waiting."""
        name = self.limit_name(tool)
        async with get_client() as client:
            async with self._lock:
                if name not in self._ready:
                    await _ensure_limit(client, name, per_hour)
                    self._ready.add(name)
            try:
                await client.increment_concurrency_slots(names=[name], slots=1, mode="rate_limit")
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code == 423:  # no slot free
                    return False
                raise
        return True


async def _ensure_limit(client: PrefectClient, name: str, per_hour: int) -> None:
    """Create the limit, or set its size when the policy changed it."""
    decay = per_hour / 3600.0
    try:
        existing = await client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        with contextlib.suppress(ObjectAlreadyExists):  # made by another server meanwhile
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=per_hour, slot_decay_per_second=decay)
            )
        return
    if existing.limit != per_hour:
        await client.update_global_concurrency_limit(
            name, GlobalConcurrencyLimitUpdate(limit=per_hour, slot_decay_per_second=decay)
        )
