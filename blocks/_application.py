"""``DefenderApplicationCredentials``: app-only access with a client secret or a certificate."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from prefect_defender.api.client import DefenderClient
from prefect_defender.blocks._app_credential import (
    APP_CREDENTIAL_FIELDS,
    app_client,
    certificate_passphrase_field,
    check_one_credential,
    federated_token_file_field,
    workload_identity_field,
)
from prefect_defender.blocks._connection import (
    DOCS_URL,
    LOGO_URL,
    DefenderConnectionMixin,
    emulator_connection,
    tenant_name_field,
    validate_tenant,
)

__all__ = ["DefenderApplicationCredentials"]


class DefenderApplicationCredentials(DefenderConnectionMixin):
    """Application context: an Entra app registration acting as itself (no user).

    Give either a client secret or a certificate (PEM private key with its SHA-1 thumbprint
    and/or its PEM certificate). Grant the app *application* permissions on
    "WindowsDefenderATP" (Defender for Endpoint), "Microsoft Threat Protection" (Defender XDR)
    and/or "Microsoft Graph", then grant admin consent.

    Example:
        Load a saved block and list active incidents:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials

        @flow
        async def active_incidents():
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            async with creds.get_client() as client:
                return [i.incident_id async for i in client.incidents.iterate(status="Active")]
        ```
    """

    _block_type_name = "Defender Application Credentials"
    _block_type_slug = "defender-application-credentials"
    _form_first = ("tenant_id", "client_id", *APP_CREDENTIAL_FIELDS)
    _logo_url = LOGO_URL
    _documentation_url = DOCS_URL

    tenant_id: str = Field(
        ..., title="Tenant ID", description="Directory (tenant) ID of the Entra tenant (a GUID)."
    )
    tenant_name: str = tenant_name_field()
    client_id: str = Field(
        ..., title="Client ID", description="Application (client) ID of the app registration."
    )
    client_secret: SecretStr | None = Field(
        default=None, title="Client secret", description="A client secret of the app."
    )
    certificate_private_key: SecretStr | None = Field(
        default=None,
        title="Certificate private key",
        description="PEM private key of a certificate registered on the app (instead of a secret).",
    )
    certificate_thumbprint: str | None = Field(
        default=None,
        title="Certificate thumbprint",
        description="SHA-1 thumbprint (hex) of that certificate, as shown in Entra ID.",
    )
    certificate_pem: str | None = Field(
        default=None,
        title="Certificate (PEM)",
        description="The public certificate in PEM form; with it msal sends x5t#S256 and x5c.",
    )
    certificate_passphrase: SecretStr | None = certificate_passphrase_field()
    workload_identity: bool = workload_identity_field()
    federated_token_file: str | None = federated_token_file_field()

    @field_validator("tenant_id", "client_id")
    @classmethod
    def _guid(cls, v: str, info: Any) -> str:
        return validate_tenant(v, info.field_name)

    @model_validator(mode="after")
    def _one_credential(self) -> DefenderApplicationCredentials:
        check_one_credential(self)
        return self

    def get_client(self, tenant_id: str | None = None) -> DefenderClient:
        """An async :class:`DefenderClient` for this app's tenant.

        Example:
            ```python
            async with creds.get_client() as client:
                machines = await client.machines.list(limit=5)
            ```
        """
        if tenant_id is not None and validate_tenant(tenant_id) != validate_tenant(self.tenant_id):
            raise ValueError(
                f"this block is for tenant {self.tenant_id}; use DefenderPartnerCredentials to "
                "act in other tenants"
            )
        return app_client(self, self.tenant_id)

    @classmethod
    def from_emulator(
        cls,
        connection: str | Any,
        app: str = "soc",
        *,
        use_certificate: bool = False,
        federated_token_file: str | None = None,
        time_scale: float = 1.0,
        **fields: Any,
    ) -> DefenderApplicationCredentials:
        """A block for an app of the local emulator (``connection.json`` path or dict).

        Example:
            ```python
            creds = DefenderApplicationCredentials.from_emulator(".demo/emulator")
            ```

        ``federated_token_file`` gives a workload-identity block (no secret) instead; write a
        token of the emulator's issuer there first (``POST /_emulator/oidc/aks/token``).
        """
        conn = emulator_connection(connection)
        spec = conn["apps"][app]
        values: dict[str, Any] = {"tenant_id": spec["tenant_id"], "client_id": spec["client_id"]}
        if federated_token_file is not None or fields.get("workload_identity"):
            if federated_token_file is not None:
                values["federated_token_file"] = federated_token_file
        elif use_certificate:
            cert = spec["certificate"]
            with open(cert["private_key_pem"]) as fh:
                values["certificate_private_key"] = fh.read()
            with open(cert["certificate_pem"]) as fh:
                values["certificate_pem"] = fh.read()
            values["certificate_thumbprint"] = cert["thumbprint"]
        else:
            values["client_secret"] = spec["client_secret"]
        return cls._on_emulator(conn, time_scale, values, fields)
