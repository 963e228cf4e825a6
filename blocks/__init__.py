"""Prefect blocks holding Defender credentials for the three auth contexts.

* :class:`DefenderApplicationCredentials`: application (app-only) context.
* :class:`DefenderUserCredentials`: user (delegated) context.
* :class:`DefenderPartnerCredentials`: partner (multi-tenant) context.
* :class:`DefenderManagedIdentityCredentials`: the Azure resource's managed identity.
* :class:`DefenderAgentPolicy`: what AI agents may do through the MCP server.

The application and partner blocks also take workload identity federation (a federated token
file instead of a secret).

Registered through the ``prefect.collections`` entry point, so the Prefect UI's block catalogue
lists them; ``prefect block register -m prefect_defender.blocks`` registers them explicitly.
"""

from prefect_defender.blocks.agent_policy import DefenderAgentPolicy, ToolRule
from prefect_defender.blocks.application import DefenderApplicationCredentials
from prefect_defender.blocks.managed_identity import DefenderManagedIdentityCredentials
from prefect_defender.blocks.partner import DefenderPartnerCredentials, PartnerTenant
from prefect_defender.blocks.user import DefenderUserCredentials

#: every credential block type, the one list blocks, tasks, argument checks, scopes and the CLI use
CREDENTIAL_BLOCKS = (
    DefenderApplicationCredentials,
    DefenderUserCredentials,
    DefenderPartnerCredentials,
    DefenderManagedIdentityCredentials,
)
#: any credential block (the same four types, for annotations)
DefenderCredentials = (
    DefenderApplicationCredentials
    | DefenderUserCredentials
    | DefenderPartnerCredentials
    | DefenderManagedIdentityCredentials
)

__all__ = [
    "CREDENTIAL_BLOCKS",
    "DefenderAgentPolicy",
    "DefenderApplicationCredentials",
    "DefenderCredentials",
    "DefenderManagedIdentityCredentials",
    "DefenderPartnerCredentials",
    "DefenderUserCredentials",
    "PartnerTenant",
    "ToolRule",
]
