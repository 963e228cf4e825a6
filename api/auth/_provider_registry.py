"""Process-wide token providers (:data:`REGISTRY`), so blocks loaded in different tasks share
one token per scope. A provider is keyed by authority, tenant, client and a hash of the credential
(a user provider by the signed-in account, whatever copy of its token cache a block holds).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from prefect_defender.api.auth._app_tokens import AppTokenProvider, CertificateCredential
from prefect_defender.api.auth._tokens import TokenProvider, credential_hash
from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.api.lazy_import import msal

if TYPE_CHECKING:
    from prefect_defender.api.proxy import ProxyConfig

__all__ = ["REGISTRY", "ProviderRegistry", "app_provider"]

P = TypeVar("P", bound=TokenProvider)


class ProviderRegistry:
    """Process-wide providers, so blocks loaded in different tasks share one token per scope."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._providers: dict[tuple[str, ...], TokenProvider] = {}
        self.partner_caches: dict[tuple[str, ...], tuple[msal.TokenCache, dict[Any, Any]]] = {}
        self.http_caches: dict[tuple[str, ...], dict[Any, Any]] = {}

    def get(self, key: tuple[str, ...], factory: Callable[[], TokenProvider]) -> TokenProvider:
        """The provider for ``key``, created by ``factory`` on first use."""
        with self._lock:
            prov = self._providers.get(key)
            if prov is None:
                prov = self._providers[key] = factory()
            return prov

    def shared(self, key: tuple[str, ...], kind: type[P], *args: Any, **kwargs: Any) -> P:
        """The provider for ``key``, built as ``kind(*args, **kwargs)`` on first use."""
        prov = self.get(key, lambda: kind(*args, **kwargs))
        if not isinstance(prov, kind):  # one key prefix per provider class keeps this unreachable
            raise TypeError(f"{key[0]} provider registered as {type(prov).__name__}")
        return prov

    def adopt(self, key: tuple[str, ...], provider: TokenProvider) -> TokenProvider:
        """Register ``provider`` under ``key`` unless one is there already (which is kept)."""
        with self._lock:
            return self._providers.setdefault(key, provider)

    def http_cache(self, key: tuple[str, ...]) -> dict[Any, Any]:
        """One msal http cache (OpenID metadata, user realm) per authority, CA and proxy, so a
        new provider does not download the metadata again."""
        with self._lock:
            return self.http_caches.setdefault(key, {})

    def shared_cache(self, key: tuple[str, ...]) -> tuple[msal.TokenCache, dict[Any, Any]]:
        """One msal token cache and http cache shared by a partner app's per-tenant providers."""
        with self._lock:
            if key not in self.partner_caches:
                self.partner_caches[key] = (msal.TokenCache(), {})
            return self.partner_caches[key]

    def clear(self) -> None:
        """Forget every provider (tests)."""
        with self._lock:
            self._providers.clear()
            self.partner_caches.clear()
            self.http_caches.clear()


REGISTRY = ProviderRegistry()


def app_provider(
    endpoints: CloudEndpoints,
    tenant_id: str,
    client_id: str,
    *,
    client_secret: SecretStr | None = None,
    certificate: CertificateCredential | None = None,
    client_assertion: Callable[[], str] | None = None,
    assertion_key: str = "",
    ca_bundle: str | None = None,
    partner: bool = False,
    consent_hint: Callable[[str], str] | None = None,
    proxy: ProxyConfig | None = None,
) -> AppTokenProvider:
    """The shared :class:`AppTokenProvider` for this app and tenant.

    ``assertion_key`` identifies a ``client_assertion`` source (e.g. the token file's path) in
    the process-wide registry.
    """
    if client_secret is not None:
        secret_fp = credential_hash(client_secret.get_secret_value())
    elif client_assertion is not None:
        secret_fp = credential_hash("federated", assertion_key or repr(client_assertion))
    else:
        secret_fp = certificate.fingerprint()  # type: ignore[union-attr]
    proxy_fp = proxy.fingerprint() if proxy is not None else ""
    app_key = (endpoints.authority_host, client_id, secret_fp, ca_bundle or "", proxy_fp)
    key = ("app", tenant_id.lower(), *app_key)
    cache, http_cache = REGISTRY.shared_cache(app_key) if partner else (None, None)

    return REGISTRY.shared(
        key,
        AppTokenProvider,
        endpoints,
        tenant_id,
        client_id,
        client_secret=client_secret,
        certificate=certificate,
        client_assertion=client_assertion,
        ca_bundle=ca_bundle,
        token_cache=cache,
        http_cache=http_cache,
        consent_hint=consent_hint,
        proxy=proxy,
    )
