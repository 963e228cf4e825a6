"""``DefenderManagedIdentityCredentials``: the Azure resource's own identity, no secret at all."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from prefect_defender.api.auth import managed_identity_provider
from prefect_defender.api.client import DefenderClient
from prefect_defender.blocks._connection import (
    DOCS_URL,
    LOGO_URL,
    DefenderConnectionMixin,
    emulator_connection,
    tenant_name_field,
    validate_tenant,
)

__all__ = ["DefenderManagedIdentityCredentials"]

_RESOURCE_ID_PREFIX = "/subscriptions/"


class DefenderManagedIdentityCredentials(DefenderConnectionMixin):
    """Managed identity context: the worker's Azure resource (VM, App Service, Container Apps,
    Functions, an Arc-enabled server) acts as its own service principal, in one tenant.

    Leave the user-assigned fields empty for the resource's system-assigned identity, or give
    one of the user-assigned identity's client id, object (principal) id or resource id. The
    token endpoint is the one Azure provides on the machine (``IDENTITY_ENDPOINT`` +
    ``IDENTITY_HEADER`` on App Service and Container Apps, ``IDENTITY_ENDPOINT`` +
    ``IMDS_ENDPOINT`` on Azure Arc, IMDS on VMs), picked by msal from the environment. Grant the
    identity's service principal the Defender *application* permissions (app role assignments
    on WindowsDefenderATP, Microsoft Threat Protection and/or Microsoft Graph; see the docs).

    Proxy settings of this block apply to the Defender API calls; the identity endpoint is
    local to the machine and is always called directly.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderManagedIdentityCredentials

        @flow
        async def active_incidents():
            creds = await DefenderManagedIdentityCredentials.load("BLOCK_NAME")
            async with creds.get_client() as client:
                return [i.incident_id async for i in client.incidents.iterate(status="Active")]
        ```
    """

    _block_type_name = "Defender Managed Identity Credentials"
    _block_type_slug = "defender-managed-identity-credentials"
    _form_first = (
        "tenant_id",
        "user_assigned_client_id",
        "user_assigned_object_id",
        "user_assigned_resource_id",
    )
    _logo_url = LOGO_URL
    _documentation_url = DOCS_URL

    tenant_id: str = Field(
        ...,
        title="Tenant ID",
        description="Directory (tenant) ID the managed identity belongs to (a GUID); tokens "
        "from another tenant are refused.",
    )
    tenant_name: str = tenant_name_field()
    user_assigned_client_id: str | None = Field(
        default=None,
        title="User-assigned identity: client ID",
        description="Client ID of a user-assigned managed identity (empty: system-assigned).",
    )
    user_assigned_object_id: str | None = Field(
        default=None,
        title="User-assigned identity: object ID",
        description="Object (principal) ID of a user-assigned managed identity.",
    )
    user_assigned_resource_id: str | None = Field(
        default=None,
        title="User-assigned identity: resource ID",
        description="Azure resource ID of a user-assigned managed identity "
        "(/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/...).",
    )

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return validate_tenant(v)

    @field_validator("user_assigned_client_id", "user_assigned_object_id")
    @classmethod
    def _guid(cls, v: str | None, info: Any) -> str | None:
        return validate_tenant(v, info.field_name) if v else None

    @field_validator("user_assigned_resource_id")
    @classmethod
    def _resource_id(cls, v: str | None) -> str | None:
        if not v:
            return None
        text = v.strip()
        if (
            not text.lower().startswith(_RESOURCE_ID_PREFIX)
            or "/providers/" not in text.lower()
            or any(ord(c) < 33 or c in "?#&%" for c in text)
        ):
            raise ValueError(
                "user_assigned_resource_id must be an Azure resource ID such as "
                "/subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/<name>"
            )
        return text

    @model_validator(mode="after")
    def _one_identity(self) -> DefenderManagedIdentityCredentials:
        given = [
            f
            for f in (
                self.user_assigned_client_id,
                self.user_assigned_object_id,
                self.user_assigned_resource_id,
            )
            if f
        ]
        if len(given) > 1:
            raise ValueError(
                "give at most one of user_assigned_client_id, user_assigned_object_id or "
                "user_assigned_resource_id (none: the system-assigned identity)"
            )
        return self

    @property
    def user_assigned(self) -> bool:
        """True for a user-assigned identity."""
        return bool(
            self.user_assigned_client_id
            or self.user_assigned_object_id
            or self.user_assigned_resource_id
        )

    def get_client(self, tenant_id: str | None = None) -> DefenderClient:
        """An async :class:`DefenderClient` acting as the managed identity.

        Example:
            ```python
            async with creds.get_client() as client:
                print(await client.machines.list(limit=5))
            ```
        """
        if tenant_id is not None and validate_tenant(tenant_id) != self.tenant_id:
            raise ValueError(
                f"a managed identity acts in its own tenant only ({self.tenant_id}); use "
                "DefenderPartnerCredentials to act in other tenants"
            )
        endpoints = self.endpoints()
        settings = self.client_settings()
        provider = managed_identity_provider(
            endpoints,
            self.tenant_id,
            user_assigned_client_id=self.user_assigned_client_id,
            user_assigned_object_id=self.user_assigned_object_id,
            user_assigned_resource_id=self.user_assigned_resource_id,
            ca_bundle=settings.ca_bundle,
        )
        return DefenderClient(endpoints, provider, settings)

    @classmethod
    def from_emulator(
        cls,
        connection: str | Any,
        identity: str = "system",
        *,
        by: str = "client_id",
        time_scale: float = 1.0,
        **fields: Any,
    ) -> DefenderManagedIdentityCredentials:
        """A block for one of the emulator's managed identities (``system`` or ``soc-worker``).

        ``by`` chooses how a user-assigned identity is named: ``client_id``, ``object_id`` or
        ``resource_id``. The process still needs the environment the platform would set
        (``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` from ``connection.json``).

        Example:
            ```python
            creds = DefenderManagedIdentityCredentials.from_emulator(".demo/emulator")
            ```
        """
        conn = emulator_connection(connection)
        spec = conn["managed_identity"]["identities"][identity]
        values = {"tenant_id": spec["tenant_id"]}
        if identity != "system":
            values[f"user_assigned_{by}"] = spec[by]
        return cls._on_emulator(conn, time_scale, values, fields)
