"""A playbook run proposed by an AI agent (through ``prefect-defender mcp serve``).

The MCP server starts the playbook with a :class:`AgentProposal` parameter: who proposed it
(the agent's MCP client name and version, set by the server, not by the agent) and the agent's
stated reason and evidence. A proposed run is never auto-approved: it pauses for the operator's
decision in the same form a human-started run shows, with the proposal above it; the incident
comment and the report say "proposed by agent X: reason".

The reason and evidence are the agent's words (which may repeat text from Defender): they are
shown as quoted data, never as instructions.
"""

from __future__ import annotations

from prefect.input import RunInput
from pydantic import BaseModel, Field

__all__ = ["AgentProposal", "ProposalDecision", "proposal_line"]


def _quoted(text: str, limit: int) -> str:
    """``text`` on one line, bounded, with markdown's active characters escaped."""
    flat = " ".join(text.split())[:limit]
    for ch in "\\`*_[]<>|#":
        flat = flat.replace(ch, "\\" + ch)
    return flat


class AgentProposal(BaseModel):
    """Who proposed a playbook run, and why (set by the MCP server)."""

    agent: str = Field(description="The agent's MCP client name and version.", max_length=200)
    reason: str = Field(description="The agent's stated reason.", max_length=2000)
    evidence: list[str] = Field(
        default_factory=list, description="What the agent cites.", max_length=20
    )

    def form_text(self) -> str:
        """The approval form's section about the proposal (quoted, escaped, bounded)."""
        lines = [
            "### Proposed by an AI agent",
            "",
            f"- Agent: {_quoted(self.agent, 200)}",
            f"- Reason (the agent's words): {_quoted(self.reason, 1000)}",
        ]
        lines += [f"- Evidence: {_quoted(e, 300)}" for e in self.evidence[:20]]
        return "\n".join(lines) + "\n\nCheck the evidence yourself before approving."


def proposal_line(proposal: AgentProposal | None) -> str | None:
    """``proposed by agent X: reason`` for the incident comment and the report, or ``None``.

    Examples:
        >>> proposal_line(AgentProposal(agent="triage-bot 1.0", reason="C2 beacon"))
        'proposed by agent triage-bot 1.0: C2 beacon'
    """
    if proposal is None:
        return None
    return (
        f"proposed by agent {' '.join(proposal.agent.split())[:200]}: "
        + " ".join(proposal.reason.split())[:500]
    )


class ProposalDecision(RunInput):
    """The operator's answer to an agent's proposal that has no form of its own (indicators).

    Leaving the form untouched means *no*.
    """

    approve: bool = Field(default=False, description="Approve the proposed actions.")
    comment: str = Field(default="", description="Why; recorded in the report.")
    approved_by: str = Field(default="", description="Your name or e-mail.")
