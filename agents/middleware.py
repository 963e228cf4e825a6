"""Every ``tools/call`` passes here: the policy decides first, the audit event records after.

Running as the SDK's server middleware (outside argument validation) means a call the policy
denies never reaches the tool, and a call with bad arguments is audited too.
"""

from __future__ import annotations

import json
import time
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from prefect_defender.agents.audit import tool_called
from prefect_defender.agents.policy import PolicyGate
from prefect_defender.agents.runtime import AgentRuntime

__all__ = ["PolicyAndAudit", "client_of"]


def client_of(ctx: ServerRequestContext[Any, Any]) -> dict[str, str]:
    """The MCP client's declared name and version (``unknown`` when it declared none)."""
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    name = str(getattr(info, "name", "") or "unknown")[:100]
    version = str(getattr(info, "version", "") or "unknown")[:50]
    return {"name": name, "version": version}


def _wire(result: HandlerResult) -> dict[str, Any]:
    """The result as it goes on the wire (the handler may give a model or its dict)."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return result if isinstance(result, dict) else {}


def _error_text(wire: dict[str, Any]) -> str | None:
    """The text of an error result (why a tool refused), or ``None`` for a success."""
    if wire.get("isError") is not True:
        return None
    texts = [str(c.get("text", "")) for c in wire.get("content") or [] if isinstance(c, dict)]
    return " ".join(texts)[:1000] or "error"


def _run_id(wire: dict[str, Any]) -> str | None:
    structured = wire.get("structuredContent")
    run = structured.get("run_id") if isinstance(structured, dict) else None
    return str(run) if run else None


class PolicyAndAudit:
    """The server middleware: policy gate, then the tool, then one audit event."""

    def __init__(self, runtime: AgentRuntime, tools: set[str]) -> None:
        self.runtime = runtime
        self.tools = tools
        self.gate = PolicyGate(runtime.policy, runtime.policy_name)

    def _tenant(self, arguments: dict[str, Any]) -> str | None:
        tenant = arguments.get("tenant")
        try:
            return self.runtime.resolve(tenant if isinstance(tenant, str) else None)
        except Exception:
            return str(tenant)[:100] if tenant is not None else None

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method != "tools/call" or not isinstance(ctx.params, dict):
            return await call_next(ctx)
        tool = str(ctx.params.get("name", ""))[:100]
        raw = ctx.params.get("arguments")
        arguments: dict[str, Any] = raw if isinstance(raw, dict) else {}
        started = time.perf_counter()
        outcome: str = "invalid"
        reason: str | None = "malformed call"
        result: HandlerResult = None
        try:
            refused = await self.gate.refusal(tool) if tool in self.tools else None
            if refused:
                outcome, reason = "denied", refused
                result = CallToolResult(
                    content=[TextContent(type="text", text=refused)], is_error=True
                )
                return result
            result = await call_next(ctx)
            reason = _error_text(_wire(result))
            outcome = "error" if reason else "ok"
            return result
        finally:
            wire = _wire(result)
            tool_called(
                tool=tool,
                client=client_of(ctx),
                arguments=arguments,
                tenant=self._tenant(arguments),
                outcome=outcome,
                result_bytes=len(json.dumps(wire)) if wire else 0,
                reason=reason,
                duration_ms=(time.perf_counter() - started) * 1000,
                run_id=_run_id(wire),
            )
