"""Tokens from Entra ID through msal, for the three Defender auth contexts.

* :class:`AppTokenProvider`: application context (client secret, certificate or workload
  identity federation, :class:`FederatedTokenFile`), and one per customer tenant for the partner
  context; :class:`ManagedIdentityTokenProvider` for an Azure managed identity.
* :class:`UserTokenProvider`: delegated context; a device-code sign-in once
  (``prefect-defender login``), then unattended runs from the serialized msal token cache.
  Legacy username/password (ROPC) is supported but warned about.
* :class:`TokenProvider` and :class:`AccessToken`: one token per scope, kept until five minutes
  before it expires, acquired single-flight in a worker thread.
* :data:`REGISTRY` and :func:`app_provider`: providers shared process-wide, keyed by authority,
  tenant, client and a hash of the credential.
* :class:`HttpxForMsal`: msal's HTTP through ``httpx`` with an explicit SSL context
  (:func:`~prefect_defender.api.tls.ssl_context`), so a CA bundle given for a proxy or the
  emulator is honoured even when ``REQUESTS_CA_BUNDLE`` is set.

This package is the one public face: its parts (``_tokens``, ``_app_tokens``, ``_user_tokens``,
``_managed_identity``, ``_federation``, ``_provider_registry``, ``_msal_http``) are private.
"""

from __future__ import annotations

from prefect_defender.api.auth._app_tokens import (
    AppTokenProvider,
    CertificateCredential,
    admin_consent_url,
)
from prefect_defender.api.auth._federation import (
    AKS_TOKEN_FILE_VARIABLE,
    FederatedTokenFile,
    resolve_token_file,
)
from prefect_defender.api.auth._managed_identity import (
    LocalIdentityHttp,
    ManagedIdentityTokenProvider,
    identity_source,
    is_local_identity_host,
    managed_identity_provider,
)
from prefect_defender.api.auth._msal_http import (
    DEFAULT_TIMEOUT,
    ExchangeBounds,
    HttpxForMsal,
    close_msal_http_clients,
    exchange_bounds,
    msal_http_client,
)
from prefect_defender.api.auth._provider_registry import (
    REGISTRY,
    ProviderRegistry,
    app_provider,
)
from prefect_defender.api.auth._tokens import (
    REFRESH_MARGIN,
    AccessToken,
    TokenProvider,
    aadsts_codes,
    call_msal,
    credential_hash,
    decode_claims,
    first_line,
)
from prefect_defender.api.auth._user_tokens import (
    UserTokenProvider,
    cache_accounts,
    merge_caches,
    read_cache,
)

__all__ = [
    "AKS_TOKEN_FILE_VARIABLE",
    "DEFAULT_TIMEOUT",
    "REFRESH_MARGIN",
    "REGISTRY",
    "AccessToken",
    "AppTokenProvider",
    "CertificateCredential",
    "ExchangeBounds",
    "FederatedTokenFile",
    "HttpxForMsal",
    "LocalIdentityHttp",
    "ManagedIdentityTokenProvider",
    "ProviderRegistry",
    "TokenProvider",
    "UserTokenProvider",
    "aadsts_codes",
    "admin_consent_url",
    "app_provider",
    "cache_accounts",
    "call_msal",
    "close_msal_http_clients",
    "credential_hash",
    "decode_claims",
    "exchange_bounds",
    "first_line",
    "identity_source",
    "is_local_identity_host",
    "managed_identity_provider",
    "merge_caches",
    "msal_http_client",
    "read_cache",
    "resolve_token_file",
]
