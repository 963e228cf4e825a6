"""``DefenderUserCredentials``: delegated access for a signed-in user (device-code sign-in)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from prefect_defender.api.auth import REGISTRY, UserTokenProvider, cache_accounts, credential_hash
from prefect_defender.api.client import DefenderClient
from prefect_defender.blocks._connection import (
    DOCS_URL,
    LOGO_URL,
    DefenderConnectionMixin,
    emulator_connection,
    tenant_name_field,
    validate_tenant,
)

__all__ = ["DefenderUserCredentials"]


class DefenderUserCredentials(DefenderConnectionMixin):
    """User context: a public-client app acting for a signed-in analyst (delegated permissions).

    Sign in once with ``prefect-defender login --block NAME`` (device code: open the printed
    URL, enter the code, complete MFA); the refresh token is stored in ``token_cache`` and later
    runs are unattended. When the refresh token is gone (revoked, or 90 days unused), calls fail
    with a message telling the operator to run the login command again.

    ``username``/``password`` enable the legacy resource-owner password flow (ROPC). It cannot
    satisfy MFA or Conditional Access and Microsoft discourages it; a warning is logged when used.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderUserCredentials

        @flow
        async def my_machines():
            creds = await DefenderUserCredentials.load("BLOCK_NAME")
            async with creds.get_client() as client:
                return len(await client.machines.list(limit=100))
        ```
    """

    _block_type_name = "Defender User Credentials"
    _block_type_slug = "defender-user-credentials"
    _form_first = ("tenant_id", "client_id", "token_cache")
    _logo_url = LOGO_URL
    _documentation_url = DOCS_URL

    tenant_id: str = Field(..., title="Tenant ID", description="Directory (tenant) ID (a GUID).")
    tenant_name: str = tenant_name_field()
    client_id: str = Field(
        ...,
        title="Client ID",
        description="Application ID of a public-client (native) app registration with "
        "delegated permissions.",
    )
    token_cache: SecretStr | None = Field(
        default=None,
        title="Token cache",
        description="Serialized msal token cache, written by `prefect-defender login`. Holds a "
        "refresh token: treat it as a secret.",
    )
    username: str | None = Field(
        default=None,
        description="Account to use from the token cache (and for the legacy password flow).",
    )
    password: SecretStr | None = Field(
        default=None,
        description="Legacy username/password (ROPC) sign-in. Cannot pass MFA; discouraged.",
    )
    persist_refreshed_cache: bool = Field(
        default=True,
        description="Save the block again when msal rotates the refresh token, so the stored "
        "sign-in stays valid.",
    )

    _save_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("tenant_id", "client_id")
    @classmethod
    def _guid(cls, v: str, info: Any) -> str:
        return validate_tenant(v, info.field_name)

    def login_command(self) -> str:
        """The command that signs in again for this block."""
        name = getattr(self, "_block_document_name", None)
        return f"prefect-defender login --block {name}" if name else "prefect-defender login"

    def _store_cache(self, serialized: str) -> None:
        with self._save_lock:
            self.token_cache = SecretStr(serialized)
            name = getattr(self, "_block_document_name", None)
            if self.persist_refreshed_cache and name:
                self.save(name, overwrite=True, _sync=True)  # type: ignore[call-arg]

    def _connection_key(self) -> tuple[str, str, str]:
        """Where sign-ins go: authority host, CA bundle and proxy (one msal HTTP cache each)."""
        proxy = self.proxy()
        return (
            self.endpoints().authority_host,
            self.ca_bundle or "",
            proxy.fingerprint() if proxy is not None else "",
        )

    def _provider_key(self, cache: str) -> tuple[str, ...]:
        """Who the provider signs in as, not the cache's content: a rotated cache (stored
        again after a refresh) or a new sign-in of the same account keeps the same provider."""
        host, ca, proxy = self._connection_key()
        who = (self.username or "").lower() or ",".join(cache_accounts(cache))
        pw = self.password.get_secret_value() if self.password else ""
        return (
            "user",
            host,
            self.tenant_id,
            self.client_id,
            who,
            credential_hash(pw) if pw else "",
            ca,
            proxy,
        )

    def token_provider(self) -> UserTokenProvider:
        """The shared delegated token provider for this block's account.

        One provider per (authority, tenant, app, account, CA, proxy) in the process, however
        many block objects are loaded: it holds one token per audience for the token's lifetime
        and takes in a newer sign-in the block carries (see :meth:`UserTokenProvider.absorb`).
        """
        cache = self.token_cache.get_secret_value() if self.token_cache else ""
        # not inside make(): the registry's lock is held there
        http_cache = REGISTRY.http_cache(self._connection_key())

        def make() -> UserTokenProvider:
            return UserTokenProvider(
                self.endpoints(),
                self.tenant_id,
                self.client_id,
                token_cache=cache or None,
                username=self.username,
                password=self.password,
                ca_bundle=self.ca_bundle,
                login_hint=self.login_command(),
                on_cache_change=self._store_cache,
                proxy=self.proxy(),
                http_cache=http_cache,
            )

        prov = REGISTRY.get(self._provider_key(cache), make)
        assert isinstance(prov, UserTokenProvider)
        prov.absorb(cache, self._store_cache, self.login_command())
        return prov

    def sign_in_with_device_code(
        self, show: Callable[[str], None] = print, scope: str | None = None
    ) -> str:
        """Run the device-code sign-in and keep the resulting cache in ``token_cache``.

        ``show`` receives Microsoft's instruction ("To sign in, use a web browser to open ...").
        Returns the signed-in account's username. Save the block afterwards (the
        ``prefect-defender login`` command does).

        Example:
            ```python
            # needs a person to sign in (the device code)
            creds = DefenderUserCredentials(tenant_id="<tenant id>", client_id="<app id>")
            creds.sign_in_with_device_code()
            creds.save("soc-analyst")
            ```
        """
        endpoints = self.endpoints()
        provider = UserTokenProvider(
            endpoints,
            self.tenant_id,
            self.client_id,
            ca_bundle=self.ca_bundle,
            login_hint=self.login_command(),
            proxy=self.proxy(),
            http_cache=REGISTRY.http_cache(self._connection_key()),
        )
        flow = provider.initiate_device_flow([scope or endpoints.mde_scope])
        show(str(flow.get("message", "")))
        token = provider.complete_device_flow(flow)
        cache = provider.serialize()
        self.token_cache = SecretStr(cache)
        user = token.claims.get("upn") or token.claims.get("preferred_username") or ""
        if user and not self.username:
            self.username = str(user)
        # later clients in this process use the signed-in provider (its token, its metadata)
        shared = REGISTRY.adopt(self._provider_key(cache), provider)
        assert isinstance(shared, UserTokenProvider)
        shared.absorb(cache, self._store_cache, self.login_command())
        return str(user)

    def get_client(self, tenant_id: str | None = None) -> DefenderClient:
        """An async :class:`DefenderClient` acting as the signed-in user.

        Example:
            ```python
            async with creds.get_client() as client:
                incident = await client.incidents.get(1001)
            ```
        """
        if tenant_id is not None and validate_tenant(tenant_id) != self.tenant_id:
            raise ValueError(f"this block is for tenant {self.tenant_id}")
        return DefenderClient(self.endpoints(), self.token_provider(), self.client_settings())

    @classmethod
    def from_emulator(
        cls, connection: str | Any, app: str = "cli", *, time_scale: float = 1.0, **fields: Any
    ) -> DefenderUserCredentials:
        """A block for the emulator's public client (sign in with ``login`` afterwards)."""
        conn = emulator_connection(connection)
        spec = conn["apps"][app]
        values = {"tenant_id": spec["tenant_id"], "client_id": spec["client_id"]}
        return cls._on_emulator(conn, time_scale, values, fields)
