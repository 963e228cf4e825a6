"""``DefenderAgentPolicy``: what AI agents may do through the MCP server (``prefect-defender mcp
serve``), editable in the Prefect UI like any block.

The server reads it on start; the enforcement lives in ``prefect_defender.agents``. A policy
can only narrow what the server offers: no field lets an agent approve, raise a playbook's caps,
include protected assets or turn the kill switch off (those stay in the playbooks and their
approval form).
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from prefect.blocks.core import Block
from pydantic import BaseModel, Field, field_validator

from prefect_defender.blocks._connection import DOCS_URL, LOGO_URL

__all__ = ["DEFAULT_PROPOSAL_DEPLOYMENTS", "DefenderAgentPolicy", "ToolRule"]

#: the playbook deployment each proposal tool starts (``<flow name>/<deployment name>``, as in
#: deployments/prefect.yaml)
DEFAULT_PROPOSAL_DEPLOYMENTS = {
    "propose_device_containment": "defender-contain-device/contain-device",
    "propose_account_containment": "defender-contain-identity/contain-identity",
    "propose_incident_containment": "defender-contain-incident/contain-incident",
    "propose_indicator_block": "defender-block-indicators/block-indicators",
}


class ToolRule(BaseModel):
    """One rule: the tools it covers, allowed or denied, and an hourly cap."""

    tool: str = Field(
        description="A tool name, or a shell-style pattern such as 'propose_*'.",
        min_length=1,
        max_length=100,
    )
    access: Literal["allowed", "denied"] = Field(
        default="allowed", description="Whether an agent may call the tools this rule covers."
    )
    calls_per_hour: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="At most this many calls per hour (per tool, all agents); empty: no cap.",
    )

    def covers(self, tool: str) -> bool:
        """True when this rule names ``tool`` (exactly or by pattern)."""
        return fnmatch.fnmatchcase(tool, self.tool)


def _default_rules() -> list[ToolRule]:
    return [ToolRule(tool="propose_*", access="allowed", calls_per_hour=20)]


class DefenderAgentPolicy(Block):
    """What AI agents may do through ``prefect-defender mcp serve``.

    Rules are read top to bottom and the first that covers a tool decides; a tool no rule covers
    gets ``default_access``. Denied calls answer with a tool error that names the rule.

    Example:
        Allow reads, at most 5 proposals an hour, one customer tenant, 500 hunting rows:
        ```python
        from prefect_defender.blocks import DefenderAgentPolicy, ToolRule

        DefenderAgentPolicy(
            rules=[ToolRule(tool="propose_*", calls_per_hour=5)],
            tenants=["Contoso"],
            max_hunting_rows=500,
        ).save("BLOCK_NAME", overwrite=True)
        ```
    """

    _block_type_name = "Defender Agent Policy"
    _block_type_slug = "defender-agent-policy"
    _logo_url = LOGO_URL
    _documentation_url = DOCS_URL

    rules: list[ToolRule] = Field(
        default_factory=_default_rules,
        description="Per tool (or pattern): allowed, denied, or allowed up to N calls per hour.",
    )
    default_access: Literal["allowed", "denied"] = Field(
        default="allowed", description="For a tool no rule covers."
    )
    tenants: list[str] = Field(
        default_factory=list,
        description="Tenants agents may reach (id or display name); empty: every tenant of the "
        "credentials block.",
    )
    max_hunting_rows: int = Field(
        default=200, ge=1, le=10_000, description="Most rows a hunting query returns to an agent."
    )
    hunting_timeout_seconds: float = Field(
        default=60.0, gt=0, le=600, description="A hunting query still running then is abandoned."
    )
    proposal_runs: Literal["deployment", "in_process"] = Field(
        default="deployment",
        description="'deployment': a proposal starts the playbook's deployment (a worker runs "
        "it); 'in_process': the MCP server runs the playbook itself (keep it running until the "
        "operator decides).",
    )
    deployments: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PROPOSAL_DEPLOYMENTS),
        description="The deployment each proposal tool starts ('<flow>/<deployment>').",
    )
    proposal_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="How long a proposal tool waits for the run to pause for approval before "
        "answering with its current state.",
    )

    @field_validator("tenants")
    @classmethod
    def _tenants(cls, value: list[str]) -> list[str]:
        return [t.strip() for t in value if t.strip()]

    def rule_for(self, tool: str) -> ToolRule:
        """The rule that decides ``tool`` (the default access when none covers it)."""
        for rule in self.rules:
            if rule.covers(tool):
                return rule
        return ToolRule(tool=tool, access=self.default_access)
