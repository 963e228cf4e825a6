"""What the application and partner blocks share: one app credential (a client secret, a
certificate, or workload identity federation), its fields, the check that exactly one is given,
the arguments it gives :func:`~prefect_defender.api.auth.app_provider`, and the client it makes
in one tenant (:func:`app_client`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import Field, SecretStr

from prefect_defender.api.auth import app_provider
from prefect_defender.api.client import ClientSettings, DefenderClient
from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.blocks._connection import (
    certificate_from_fields,
    check_federation,
    federated_assertion,
)

__all__ = [
    "APP_CREDENTIAL_FIELDS",
    "AppCredentialFields",
    "app_client",
    "app_credential",
    "certificate_passphrase_field",
    "check_one_credential",
    "federated_token_file_field",
    "workload_identity_field",
]


#: the credential fields, in the order the block's form shows them (exactly one credential)
APP_CREDENTIAL_FIELDS = (
    "client_secret",
    "certificate_private_key",
    "certificate_thumbprint",
    "certificate_pem",
    "certificate_passphrase",
    "workload_identity",
    "federated_token_file",
)


class AppCredentialFields(Protocol):
    """The credential fields of an application or partner block (and the connection methods
    :func:`app_client` uses)."""

    client_id: str
    client_secret: SecretStr | None
    certificate_private_key: SecretStr | None
    certificate_thumbprint: str | None
    certificate_pem: str | None
    certificate_passphrase: SecretStr | None
    workload_identity: bool
    federated_token_file: str | None

    def endpoints(self) -> CloudEndpoints: ...

    def client_settings(self) -> ClientSettings: ...


def certificate_passphrase_field() -> Any:
    """The ``certificate_passphrase`` field."""
    return Field(default=None, description="Passphrase of an encrypted private key.")


def workload_identity_field() -> Any:
    """The ``workload_identity`` field."""
    return Field(
        default=False,
        title="Workload identity federation",
        description="Authenticate with a federated token (no secret stored): the token file "
        "below, or $AZURE_FEDERATED_TOKEN_FILE as set by AKS workload identity. The app "
        "registration needs a federated identity credential trusting that token's issuer, "
        "subject and audience (api://AzureADTokenExchange).",
    )


def federated_token_file_field() -> Any:
    """The ``federated_token_file`` field."""
    return Field(
        default=None,
        title="Federated token file",
        description="Path of the federated token (a JWT the platform rotates; it is re-read "
        "when it changes). Setting it turns workload identity federation on. Empty: "
        "$AZURE_FEDERATED_TOKEN_FILE.",
    )


def _certificate(block: AppCredentialFields) -> Any:
    return certificate_from_fields(
        block.certificate_private_key,
        block.certificate_thumbprint,
        block.certificate_pem,
        block.certificate_passphrase,
    )


def check_one_credential(block: AppCredentialFields) -> None:
    """Raise unless exactly one credential is configured (each checked as it is read)."""
    has_secret = block.client_secret is not None and bool(block.client_secret.get_secret_value())
    cert = _certificate(block)
    federated = check_federation(block.workload_identity, block.federated_token_file)
    present = {
        "a client secret": has_secret,
        "a certificate": cert is not None,
        "workload identity federation": federated,
    }
    given = [kind for kind, yes in present.items() if yes]
    if len(given) != 1:
        found = f"{len(given)} are given ({' and '.join(given)})" if given else "none is given"
        raise ValueError(
            "give exactly one credential: client_secret, certificate_private_key with "
            "certificate_thumbprint and/or certificate_pem, or workload identity "
            f"federation (workload_identity / federated_token_file); {found}"
        )


def app_credential(block: AppCredentialFields) -> dict[str, Any]:
    """``client_secret``, ``certificate``, ``client_assertion`` and ``assertion_key`` for
    :func:`~prefect_defender.api.auth.app_provider`, from the block's one credential."""
    federated = check_federation(block.workload_identity, block.federated_token_file)
    cert = _certificate(block) if block.client_secret is None and not federated else None
    assertion, assertion_key = (
        federated_assertion(block.federated_token_file) if federated else (None, "")
    )
    return {
        "client_secret": block.client_secret,
        "certificate": cert,
        "client_assertion": assertion,
        "assertion_key": assertion_key,
    }


def app_client(
    block: AppCredentialFields,
    tenant_id: str,
    *,
    partner: bool = False,
    consent_hint: Callable[[str], str] | None = None,
) -> DefenderClient:
    """A :class:`DefenderClient` of the block's app acting in ``tenant_id``, with the shared
    provider of :func:`~prefect_defender.api.auth.app_provider` (``partner``: one token cache
    for all of a partner app's tenants; ``consent_hint``: the consent link for a tenant)."""
    endpoints = block.endpoints()
    settings = block.client_settings()
    provider = app_provider(
        endpoints,
        tenant_id,
        block.client_id,
        **app_credential(block),
        ca_bundle=settings.ca_bundle,
        partner=partner,
        consent_hint=consent_hint,
        proxy=settings.proxy,
    )
    return DefenderClient(endpoints, provider, settings)
