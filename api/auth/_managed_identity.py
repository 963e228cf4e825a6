"""Managed identity tokens through msal's :class:`msal.ManagedIdentityClient`.

A managed identity is an Entra service principal owned by an Azure resource (VM, App Service,
Container Apps, Functions, an Arc-enabled server). Code running there gets tokens from a
*local* endpoint without any secret. msal picks the endpoint from the environment, exactly as
the platform sets it:

==============================  ==========================================================
environment                     endpoint msal calls
==============================  ==========================================================
``IDENTITY_ENDPOINT`` +         App Service / Container Apps / Functions: ``GET
``IDENTITY_HEADER``             $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=...``
                                with ``X-IDENTITY-HEADER``
``IDENTITY_ENDPOINT`` +         Azure Arc: the same GET, a ``401`` whose ``WWW-Authenticate:
``IMDS_ENDPOINT``               Basic realm=<file>`` names a key file the agent wrote, then the
                                GET again with that key as ``Authorization: Basic``
(none of these)                 Azure VM / VM scale set: IMDS at ``http://169.254.169.254``
==============================  ==========================================================

**Plain http, on purpose and only locally.** Everything else this package sends is https to a
configured Microsoft (or emulator) host. The identity endpoint is the one exception: Azure serves
it as plain http on the machine itself (App Service ``http://localhost:<port>/msi/token``, Arc
``http://localhost:40342``, IMDS ``http://169.254.169.254``), because the request never leaves the
host. :class:`LocalIdentityHttp` therefore allows http only to loopback addresses, ``localhost``
and the IMDS link-local address, refuses every other host (http or https) with
:class:`~prefect_defender.api.errors.UnsafeRequestError` before connecting, never goes through
the configured proxy and never follows redirects. The tokens it returns are then used over https
like any other.

Example:
    ```python
    # needs a real tenant (an Azure host with a managed identity)
    from prefect_defender.api.clouds import cloud_endpoints

    provider = ManagedIdentityTokenProvider(
        cloud_endpoints(), "<tenant id>", user_assigned_client_id="<client id of the identity>"
    )
    ```
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

import httpx

from prefect_defender.api.auth._msal_http import HttpxForMsal
from prefect_defender.api.auth._provider_registry import REGISTRY
from prefect_defender.api.auth._tokens import TokenProvider, call_msal, first_line
from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.api.errors import AuthenticationError, UnsafeRequestError
from prefect_defender.api.lazy_import import msal
from prefect_defender.api.redact import remember_secret
from prefect_defender.api.tls import ssl_context

__all__ = [
    "LocalIdentityHttp",
    "ManagedIdentityTokenProvider",
    "identity_source",
    "is_local_identity_host",
    "managed_identity_provider",
]

#: the Azure Instance Metadata Service address (link-local, on every Azure VM)
IMDS_ADDRESS = "169.254.169.254"


def is_local_identity_host(host: str | None) -> bool:
    """True for ``localhost``, loopback addresses and the IMDS address."""
    if not host:
        return False
    h = host.strip("[]").lower()
    if h == "localhost" or h == IMDS_ADDRESS:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def identity_source(environ: dict[str, str] | None = None) -> str:
    """Which managed-identity endpoint msal will use here, from the environment.

    Examples:
        >>> identity_source({"IDENTITY_ENDPOINT": "http://localhost:8081/msi/token",
        ...                  "IDENTITY_HEADER": "x"})
        'app_service'
        >>> identity_source({})
        'imds'
    """
    env = os.environ if environ is None else environ
    if "IDENTITY_ENDPOINT" in env and "IDENTITY_HEADER" in env:
        return "service_fabric" if "IDENTITY_SERVER_THUMBPRINT" in env else "app_service"
    if "MSI_ENDPOINT" in env and "MSI_SECRET" in env:
        return "machine_learning"
    if "IDENTITY_ENDPOINT" in env and "IMDS_ENDPOINT" in env:
        return "azure_arc"
    return "imds"


class LocalIdentityHttp(HttpxForMsal):
    """msal's ``http_client`` for identity endpoints: local hosts only, no proxy, no redirects."""

    def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not is_local_identity_host(parts.hostname):
            raise UnsafeRequestError(
                f"refusing to ask {parts.scheme}://{parts.hostname} for a managed-identity "
                "token: the identity endpoint must be local to this machine (localhost, a "
                f"loopback address or {IMDS_ADDRESS})",
                code="ForeignIdentityEndpoint",
            )
        kw.pop("allow_redirects", None)
        kw["follow_redirects"] = False
        return super()._call(method, url, **kw)


class ManagedIdentityTokenProvider(TokenProvider):
    """Tokens of a system- or user-assigned managed identity (single tenant).

    Give at most one of ``user_assigned_client_id``, ``user_assigned_object_id`` or
    ``user_assigned_resource_id``; none means the system-assigned identity. The token's ``tid``
    must be ``tenant_id``: a managed identity lives in exactly one tenant.
    """

    kind = "managed_identity"

    def __init__(
        self,
        endpoints: CloudEndpoints,
        tenant_id: str,
        *,
        user_assigned_client_id: str | None = None,
        user_assigned_object_id: str | None = None,
        user_assigned_resource_id: str | None = None,
        ca_bundle: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        ids = {
            k: v
            for k, v in {
                "client_id": user_assigned_client_id,
                "object_id": user_assigned_object_id,
                "resource_id": user_assigned_resource_id,
            }.items()
            if v
        }
        if len(ids) > 1:
            raise AuthenticationError(
                "give one of the user-assigned identity's client id, object id or resource id"
            )
        identity: msal.SystemAssignedManagedIdentity | msal.UserAssignedManagedIdentity = (
            msal.UserAssignedManagedIdentity(**ids) if ids else msal.SystemAssignedManagedIdentity()
        )
        label = next(iter(ids.values()), "system-assigned")
        super().__init__(endpoints, tenant_id, label)
        self.user_assigned = bool(ids)
        self._identity = identity
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        self._cache = msal.TokenCache()
        self._client: msal.ManagedIdentityClient | None = None
        # the secret header msal sends to App Service / Machine Learning identity endpoints
        remember_secret(os.environ.get("IDENTITY_HEADER"), os.environ.get("MSI_SECRET"))

    @property
    def credential(self) -> str:
        """``managed identity: system-assigned`` or ``managed identity: user-assigned``."""
        return f"managed identity: {'user' if self.user_assigned else 'system'}-assigned"

    def _mi_client(self) -> msal.ManagedIdentityClient:
        if self._client is None:
            http = httpx.Client(
                verify=ssl_context(self._ca_bundle),
                timeout=self._timeout,
                trust_env=False,  # never a proxy, never the environment's CA settings
            )
            self._client = msal.ManagedIdentityClient(
                self._identity,
                http_client=LocalIdentityHttp(http),
                token_cache=self._cache,
            )
        return self._client

    def _acquire(self, scope: str) -> dict[str, Any]:
        resource = scope.removesuffix("/.default")
        client = self._mi_client()
        try:
            result: dict[str, Any] = call_msal(
                "managed identity", lambda: client.acquire_token_for_client(resource=resource)
            )
        except msal.ManagedIdentityError as exc:
            raise AuthenticationError(f"managed identity: {first_line(str(exc))}") from None
        return result

    def _to_token(self, result: dict[str, Any], scope: str) -> Any:
        tok = super()._to_token(result, scope)
        tid = tok.tenant_id
        if tid is not None and tid.lower() != self.tenant_id.lower():
            raise AuthenticationError(
                f"the managed identity belongs to tenant {tid}, but the block is configured "
                f"for tenant {self.tenant_id}"
            )
        return tok

    def _error(self, result: dict[str, Any]) -> AuthenticationError:
        code = str(result.get("error") or "managed_identity_failed")
        desc = first_line(str(result.get("error_description") or "")) or code
        return AuthenticationError(
            f"managed identity ({identity_source()}) gave no token for tenant "
            f"{self.tenant_id}: {desc[:300]}",
            code=code,
        )

    def _forget(self, scope: str) -> None:
        resource = scope.removesuffix("/.default")
        for item in list(
            self._cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[resource])
        ):
            self._cache.remove_at(item)


def managed_identity_provider(
    endpoints: CloudEndpoints,
    tenant_id: str,
    *,
    user_assigned_client_id: str | None = None,
    user_assigned_object_id: str | None = None,
    user_assigned_resource_id: str | None = None,
    ca_bundle: str | None = None,
) -> ManagedIdentityTokenProvider:
    """The shared :class:`ManagedIdentityTokenProvider` for this identity (process-wide)."""
    key = (
        "mi",
        tenant_id.lower(),
        endpoints.authority_host,
        user_assigned_client_id or "",
        user_assigned_object_id or "",
        user_assigned_resource_id or "",
        ca_bundle or "",
    )
    return REGISTRY.shared(
        key,
        ManagedIdentityTokenProvider,
        endpoints,
        tenant_id,
        user_assigned_client_id=user_assigned_client_id,
        user_assigned_object_id=user_assigned_object_id,
        user_assigned_resource_id=user_assigned_resource_id,
        ca_bundle=ca_bundle,
    )
