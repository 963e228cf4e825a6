"""``DefenderPartnerCredentials``: one multi-tenant app acting in many customer tenants (MSSP)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from prefect_defender.api.auth import admin_consent_url
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
    validate_tenant,
)

__all__ = ["DefenderPartnerCredentials", "PartnerTenant"]


class PartnerTenant(BaseModel):
    """A customer tenant the partner app has been consented in."""

    tenant_id: str = Field(..., description="The customer's directory (tenant) ID.")
    display_name: str = Field(default="", description="A name for reports, e.g. 'Contoso'.")

    @field_validator("tenant_id")
    @classmethod
    def _guid(cls, v: str) -> str:
        return validate_tenant(v)


class DefenderPartnerCredentials(DefenderConnectionMixin):
    """Partner context: one multi-tenant app registration, one token per customer tenant.

    Each customer's Global Administrator consents to the app once (see
    :meth:`admin_consent_url`); afterwards the app gets an application token in that tenant.
    A tenant that has not consented fails with ``ConsentRequiredError`` naming the consent URL,
    without affecting the other tenants.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderPartnerCredentials

        @flow
        async def incidents_per_customer():
            partner = await DefenderPartnerCredentials.load("BLOCK_NAME")
            counts = {}
            for tenant in partner.tenants:
                async with partner.get_client(tenant.tenant_id) as client:
                    counts[tenant.display_name] = len(await client.incidents.list(limit=500))
            return counts
        ```
    """

    _block_type_name = "Defender Partner Credentials"
    _block_type_slug = "defender-partner-credentials"
    _form_first = ("client_id", "tenants", *APP_CREDENTIAL_FIELDS)
    _logo_url = LOGO_URL
    _documentation_url = DOCS_URL

    client_id: str = Field(
        ..., title="Client ID", description="Application (client) ID of the multi-tenant app."
    )
    home_tenant_id: str | None = Field(
        default=None,
        title="Home tenant ID",
        description="The partner's own tenant, where the app is registered (optional).",
    )
    tenants: list[PartnerTenant] = Field(
        default_factory=list,
        description="Customer tenants to act in (tenant id and display name).",
    )
    client_secret: SecretStr | None = Field(default=None, description="A client secret of the app.")
    certificate_private_key: SecretStr | None = Field(
        default=None, description="PEM private key of a certificate registered on the app."
    )
    certificate_thumbprint: str | None = Field(
        default=None, description="SHA-1 thumbprint (hex) of that certificate."
    )
    certificate_pem: str | None = Field(default=None, description="The public certificate (PEM).")
    certificate_passphrase: SecretStr | None = certificate_passphrase_field()
    workload_identity: bool = workload_identity_field()
    federated_token_file: str | None = federated_token_file_field()
    consent_redirect_uri: str = Field(
        default="https://localhost",
        description="Redirect URI registered on the app, used in admin-consent links.",
    )

    @field_validator("client_id")
    @classmethod
    def _client_guid(cls, v: str) -> str:
        return validate_tenant(v, "client_id")

    @field_validator("home_tenant_id")
    @classmethod
    def _home_guid(cls, v: str | None) -> str | None:
        return validate_tenant(v, "home_tenant_id") if v else None

    @model_validator(mode="after")
    def _checks(self) -> DefenderPartnerCredentials:
        check_one_credential(self)
        ids = [t.tenant_id for t in self.tenants]
        if len(ids) != len(set(ids)):
            raise ValueError("tenants: a tenant is listed twice")
        return self

    def tenant_ids(self) -> list[str]:
        """The configured customer tenant ids, in order."""
        return [t.tenant_id for t in self.tenants]

    def display_name(self, tenant_id: str) -> str:
        """The display name of a configured tenant (its id when none was given)."""
        for t in self.tenants:
            if t.tenant_id == tenant_id:
                return t.display_name or tenant_id
        return tenant_id

    def admin_consent_url(self, tenant_id: str, scope: str | None = None) -> str:
        """The link a customer's administrator opens to consent to this app.

        Example:
            ```python
            print(partner.admin_consent_url("00000000-0000-0000-0000-00000000c0de"))
            ```
        """
        return admin_consent_url(
            self.endpoints().authority_host,
            validate_tenant(tenant_id),
            self.client_id,
            self.consent_redirect_uri,
            scope,
        )

    def get_client(self, tenant_id: str | None = None) -> DefenderClient:
        """An async :class:`DefenderClient` acting in customer tenant ``tenant_id``.

        Example:
            ```python
            async with partner.get_client(partner.tenant_ids()[0]) as client:
                print(await client.incidents.list(limit=10))
            ```
        """
        if tenant_id is None:
            raise ValueError(
                "a partner block acts in many tenants: pass tenant_id (one of "
                f"{', '.join(self.tenant_ids()) or 'none configured'})"
            )
        tid = validate_tenant(tenant_id)
        if tid not in self.tenant_ids():
            raise ValueError(f"tenant {tid} is not in this block's tenants list")
        return app_client(self, tid, partner=True, consent_hint=self.admin_consent_url)

    @classmethod
    def from_emulator(
        cls,
        connection: str | Any,
        app: str = "partner",
        *,
        tenants: list[str] | None = None,
        federated_token_file: str | None = None,
        time_scale: float = 1.0,
        **fields: Any,
    ) -> DefenderPartnerCredentials:
        """A block for the emulator's multi-tenant app, over the named (or all customer) tenants."""
        conn = emulator_connection(connection)
        spec = conn["apps"][app]
        by_name = {t["name"]: t for t in conn["tenants"]}
        names = tenants or [n for n in by_name if by_name[n]["tenant_id"] != spec["tenant_id"]]
        values: dict[str, Any] = {
            "client_id": spec["client_id"],
            "home_tenant_id": spec["tenant_id"],
            **(
                {"federated_token_file": federated_token_file}
                if federated_token_file is not None
                else {}
                if fields.get("workload_identity")
                else {"client_secret": spec["client_secret"]}
            ),
            "tenants": [
                PartnerTenant(
                    tenant_id=by_name[n]["tenant_id"], display_name=by_name[n]["display_name"]
                )
                for n in names
            ],
        }
        return cls._on_emulator(conn, time_scale, values, fields)
