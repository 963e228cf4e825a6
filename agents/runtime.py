"""What one MCP server acts with: its credentials block, its policy and one client per tenant.

The agent names a tenant by id or display name; :meth:`AgentRuntime.scope` turns it into the
tenant's :class:`~prefect_defender.tasks.scope.TenantScope` (one client, one connection pool and
token cache for the server's life), or refuses with a tool error naming the reachable tenants.
Only the block's tenants that the policy allows are reachable.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from prefect_defender.api.errors import DefenderError
from prefect_defender.blocks import DefenderAgentPolicy, DefenderPartnerCredentials
from prefect_defender.tasks.scope import Credentials, TenantScope, load_credentials

__all__ = ["AgentRuntime", "answers_errors", "runtime_of"]


class AgentRuntime:
    """The server's credentials (``credentials_ref``), policy and tenant scopes.

    Example:
        ```python
        runtime = await AgentRuntime.load("defender-partner-credentials/mssp")  # default policy
        scope = runtime.scope("Contoso Ltd")   # by display name or tenant id
        ```
    """

    def __init__(
        self,
        credentials_ref: str,
        credentials: Credentials,
        policy: DefenderAgentPolicy,
        policy_name: str = "default",
    ) -> None:
        self.credentials_ref = credentials_ref
        self.credentials = credentials
        self.policy = policy
        self.policy_name = policy_name
        self._scopes: dict[str | None, TenantScope] = {}

    @classmethod
    async def load(cls, credentials_ref: str, policy_name: str | None = None) -> AgentRuntime:
        """The runtime of a saved credentials block and a saved policy (default policy when
        ``policy_name`` is ``None``)."""
        creds = await load_credentials(credentials_ref)
        policy: Any = (
            await DefenderAgentPolicy.aload(policy_name) if policy_name else DefenderAgentPolicy()
        )
        return cls(credentials_ref, creds, policy, policy_name or "default")

    @property
    def partner(self) -> bool:
        """True when the block acts in many tenants (every tool then needs a tenant)."""
        return isinstance(self.credentials, DefenderPartnerCredentials)

    def tenants(self) -> list[tuple[str, str | None]]:
        """``(tenant id, display name)`` of every tenant agents may reach."""
        known: list[tuple[str, str | None]]
        if isinstance(self.credentials, DefenderPartnerCredentials):
            known = [(t.tenant_id, t.display_name) for t in self.credentials.tenants]
        else:
            known = [(str(getattr(self.credentials, "tenant_id", "")), None)]
        allowed = {t.lower() for t in self.policy.tenants}
        if not allowed:
            return known
        return [(i, n) for i, n in known if i.lower() in allowed or (n or "").lower() in allowed]

    def resolve(self, tenant: str | None) -> str:
        """The tenant id ``tenant`` (id or display name) names, if reachable; else a tool error.

        ``None`` names the block's own tenant (not allowed for a partner block).
        """
        reachable = self.tenants()
        names = ", ".join(f"{n} ({i})" if n else i for i, n in reachable) or "none"
        if tenant is None or not str(tenant).strip():
            if self.partner or len(reachable) != 1:
                raise ToolError(f"tenant is required; reachable tenants: {names}")
            return reachable[0][0]
        wanted = str(tenant).strip().lower()
        for tid, name in reachable:
            if wanted in (tid.lower(), (name or "").lower()):
                return tid
        raise ToolError(
            f"tenant {str(tenant)[:80]!r} is not reachable through this server; "
            f"reachable tenants: {names}"
        )

    def scope(self, tenant: str | None) -> TenantScope:
        """The scope (one client) of the tenant ``tenant`` names, built once and kept."""
        tid = self.resolve(tenant)
        key = tid if self.partner else None
        if key not in self._scopes:
            self._scopes[key] = TenantScope(self.credentials, tid if self.partner else None)
        return self._scopes[key]

    def client(self, tenant: str | None) -> Any:
        """The tenant's shared client, to pass to a task function.

        The tasks take a credentials block or a client (``tasks.base.defender_client``), though
        their annotations name the blocks only; hence ``Any``.
        """
        return self.scope(tenant).client

    async def aclose(self) -> None:
        """Close every client the runtime built."""
        scopes, self._scopes = list(self._scopes.values()), {}
        for scope in scopes:
            await scope.aclose()


def runtime_of(ctx: Context[Any, Any]) -> AgentRuntime:
    """The runtime of the server answering ``ctx`` (its lifespan value)."""
    runtime = ctx.request_context.lifespan_context
    if not isinstance(runtime, AgentRuntime):
        raise ToolError("the server has no Defender runtime")
    return runtime


P = ParamSpec("P")
R = TypeVar("R")


def answers_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn the project's typed errors into tool errors the agent reads (type and message,
    never a traceback; the errors carry no secret)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except DefenderError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from None

    return wrapper
