"""Prefect blocks holding Defender credentials for the three auth contexts.

* :class:`DefenderApplicationCredentials`: application (app-only) context.
* :class:`DefenderUserCredentials`: user (delegated) context.
* :class:`DefenderPartnerCredentials`: partner (multi-tenant) context.
* :class:`DefenderManagedIdentityCredentials`: the Azure resource's managed identity.
* :class:`DefenderAgentPolicy`: what AI agents may do through the MCP server.

The application and partner blocks also take workload identity federation (a federated token
file instead of a secret).

The package is the public face; its parts (``_application``, ``_user``, ``_partner``,
``_managed_identity``, ``_agent_policy``, the shared ``_connection`` and ``_app_credential``, and
``_ui_text``, docstrings as the Prefect UI shows them) are private.

Registered through the ``prefect.collections`` entry point, so the Prefect UI's block catalogue
lists them; ``prefect block register -m prefect_defender.blocks`` registers them explicitly.
"""

from prefect_defender.blocks._agent_policy import (
    DEFAULT_PROPOSAL_DEPLOYMENTS,
    DefenderAgentPolicy,
    ToolRule,
)
from prefect_defender.blocks._app_credential import (
    AppCredentialFields,
    app_client,
    app_credential,
    certificate_passphrase_field,
    check_one_credential,
    federated_token_file_field,
    workload_identity_field,
)
from prefect_defender.blocks._application import DefenderApplicationCredentials
from prefect_defender.blocks._connection import (
    DOCS_URL,
    LOGO_URL,
    DefenderConnectionMixin,
    check_federation,
    emulator_connection,
    federated_assertion,
    load_emulator_connection,
)
from prefect_defender.blocks._managed_identity import DefenderManagedIdentityCredentials
from prefect_defender.blocks._partner import DefenderPartnerCredentials, PartnerTenant
from prefect_defender.blocks._ui_text import SPHINX_ROLE, ui_text
from prefect_defender.blocks._user import DefenderUserCredentials

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
    "DEFAULT_PROPOSAL_DEPLOYMENTS",
    "DOCS_URL",
    "LOGO_URL",
    "SPHINX_ROLE",
    "AppCredentialFields",
    "DefenderAgentPolicy",
    "DefenderApplicationCredentials",
    "DefenderConnectionMixin",
    "DefenderCredentials",
    "DefenderManagedIdentityCredentials",
    "DefenderPartnerCredentials",
    "DefenderUserCredentials",
    "PartnerTenant",
    "ToolRule",
    "app_client",
    "app_credential",
    "certificate_passphrase_field",
    "check_federation",
    "check_one_credential",
    "emulator_connection",
    "federated_assertion",
    "federated_token_file_field",
    "load_emulator_connection",
    "ui_text",
    "workload_identity_field",
]
