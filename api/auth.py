"""Tokens from Entra ID through msal, for the three Defender auth contexts: where each piece lives.

* :class:`AppTokenProvider` (:mod:`~prefect_defender.api.app_tokens`): application context (client
  secret, certificate or workload identity federation), and one per customer tenant for the
  partner context.
* :class:`UserTokenProvider` (:mod:`~prefect_defender.api.user_tokens`): delegated context; a
  device-code sign-in once (``prefect-defender login``), then unattended runs from the serialized
  msal token cache. Legacy username/password (ROPC) is supported but warned about.
* :class:`TokenProvider` and :class:`AccessToken` (:mod:`~prefect_defender.api.tokens`): one token
  per scope, kept until five minutes before it expires, acquired single-flight in a worker thread.
* :data:`REGISTRY` and :func:`app_provider` (:mod:`~prefect_defender.api.provider_registry`):
  providers shared process-wide, keyed by authority, tenant, client and a hash of the credential.
* :class:`HttpxForMsal` (:mod:`~prefect_defender.api.msal_http`): msal's HTTP through ``httpx``
  with an explicit SSL context (:func:`ssl_context`, :mod:`~prefect_defender.api.tls`), so a CA
  bundle given for a proxy or the emulator is honoured even when ``REQUESTS_CA_BUNDLE`` is set.

Every name stays importable from here.
"""

from __future__ import annotations

from prefect_defender.api.app_tokens import (
    AppTokenProvider,
    CertificateCredential,
    admin_consent_url,
)
from prefect_defender.api.msal_http import HttpxForMsal
from prefect_defender.api.provider_registry import REGISTRY, ProviderRegistry, app_provider
from prefect_defender.api.tls import ssl_context
from prefect_defender.api.tokens import REFRESH_MARGIN, AccessToken, TokenProvider, decode_claims
from prefect_defender.api.user_tokens import (
    UserTokenProvider,
    cache_accounts,
    merge_caches,
    read_cache,
)

__all__ = [
    "REFRESH_MARGIN",
    "REGISTRY",
    "AccessToken",
    "AppTokenProvider",
    "CertificateCredential",
    "HttpxForMsal",
    "ProviderRegistry",
    "TokenProvider",
    "UserTokenProvider",
    "admin_consent_url",
    "app_provider",
    "cache_accounts",
    "decode_claims",
    "merge_caches",
    "read_cache",
    "ssl_context",
]
