"""Application tokens (client credentials): :class:`AppTokenProvider` with a client secret, a
certificate (:class:`CertificateCredential`) or a federated client assertion; one provider per
customer tenant serves the partner context. :func:`admin_consent_url` is the link a tenant's
administrator opens when the app has no consent there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, SecretStr

from prefect_defender.api.auth._msal_http import msal_http_client
from prefect_defender.api.auth._tokens import (
    TokenProvider,
    aadsts_codes,
    call_msal,
    credential_hash,
    first_line,
)
from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.api.errors import AuthenticationError, ConsentRequiredError
from prefect_defender.api.lazy_import import msal
from prefect_defender.api.redact import remember_secret

if TYPE_CHECKING:
    from prefect_defender.api.proxy import ProxyConfig

__all__ = ["AppTokenProvider", "CertificateCredential", "admin_consent_url"]

#: AADSTS codes meaning "this app is not (or no longer) present in that tenant".
_CONSENT_CODES = (700016, 7000229, 65001, 650052, 500011)


class CertificateCredential(BaseModel):
    """A certificate credential: PEM private key plus thumbprint and/or public certificate.

    With ``public_certificate_pem`` msal signs with PS256 and sends ``x5t#S256`` + ``x5c``
    (msal >= 1.35); with only ``thumbprint`` (SHA-1 hex) it signs RS256 with ``x5t``.
    """

    model_config = ConfigDict(frozen=True)

    private_key_pem: SecretStr
    thumbprint: str | None = None
    public_certificate_pem: str | None = None
    passphrase: SecretStr | None = None

    def for_msal(self) -> dict[str, Any]:
        """The ``client_credential`` dict msal takes."""
        cred: dict[str, Any] = {"private_key": self.private_key_pem.get_secret_value()}
        if self.public_certificate_pem:
            cred["public_certificate"] = self.public_certificate_pem
        if self.thumbprint:
            cred["thumbprint"] = self.thumbprint.replace(":", "").upper()
        if self.passphrase is not None:
            cred["passphrase"] = self.passphrase.get_secret_value()
        return cred

    def secrets(self) -> tuple[str, ...]:
        """The private key and its passphrase (for scrubbing texts, never for showing)."""
        phrase = self.passphrase.get_secret_value() if self.passphrase is not None else ""
        return (self.private_key_pem.get_secret_value(), phrase)

    def fingerprint(self) -> str:
        """A hash identifying the key (never the key itself)."""
        return credential_hash(self.private_key_pem.get_secret_value(), self.thumbprint or "")


def admin_consent_url(
    authority_host: str,
    tenant_id: str,
    client_id: str,
    redirect_uri: str = "https://localhost",
    scope: str | None = None,
) -> str:
    """The URL a customer's Global Administrator opens to consent to a multi-tenant app.

    Without ``scope`` it is the v1 ``/adminconsent`` form (all permissions configured on the app
    registration); with ``scope`` the v2 form for that resource's ``.default``.

    Examples:
        >>> admin_consent_url("https://login.microsoftonline.com", "contoso.onmicrosoft.com",
        ...                   "00000000-0000-0000-0000-000000000001")[:59]
        'https://login.microsoftonline.com/contoso.onmicrosoft.com/a'
    """
    params = {"client_id": client_id, "redirect_uri": redirect_uri}
    if scope:
        params["scope"] = scope
        return f"{authority_host}/{tenant_id}/v2.0/adminconsent?{urlencode(params)}"
    return f"{authority_host}/{tenant_id}/adminconsent?{urlencode(params)}"


class AppTokenProvider(TokenProvider):
    """Application (client credentials) tokens with a client secret, a certificate or a
    federated client assertion (workload identity federation: ``client_assertion`` is a
    callable such as :class:`~prefect_defender.api.auth.FederatedTokenFile`)."""

    kind = "application"

    def __init__(
        self,
        endpoints: CloudEndpoints,
        tenant_id: str,
        client_id: str,
        *,
        client_secret: SecretStr | None = None,
        certificate: CertificateCredential | None = None,
        client_assertion: Callable[[], str] | None = None,
        ca_bundle: str | None = None,
        token_cache: msal.TokenCache | None = None,
        http_cache: dict[Any, Any] | None = None,
        consent_hint: Callable[[str], str] | None = None,
        proxy: ProxyConfig | None = None,
    ) -> None:
        super().__init__(endpoints, tenant_id, client_id)
        given = [c for c in (client_secret, certificate, client_assertion) if c is not None]
        if len(given) != 1:
            raise AuthenticationError(
                "give exactly one of client_secret, certificate or client_assertion"
            )
        self._secret = client_secret
        if client_secret is not None:  # a server quoting it back is scrubbed (api.redact)
            remember_secret(client_secret.get_secret_value())
        if certificate is not None:
            remember_secret(*certificate.secrets())
        self._certificate = certificate
        self._assertion = client_assertion
        self._ca_bundle = ca_bundle
        self._proxy = proxy
        self._cache = token_cache if token_cache is not None else msal.TokenCache()
        self._http_cache = http_cache if http_cache is not None else {}
        self._consent_hint = consent_hint
        self._app: msal.ConfidentialClientApplication | None = None

    @property
    def credential(self) -> str:
        """``application: client secret``, ``...: certificate`` or ``...: workload identity
        federation``."""
        how = (
            "client secret"
            if self._secret is not None
            else "workload identity federation"
            if self._assertion is not None
            else "certificate"
        )
        return f"application: {how}"

    def _msal_app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            credential: Any
            if self._secret is not None:
                credential = self._secret.get_secret_value()
            elif self._assertion is not None:
                credential = {"client_assertion": self._assertion}
            else:
                credential = self._certificate.for_msal()  # type: ignore[union-attr]
            self._app = call_msal(
                f"tenant {self.tenant_id}",
                lambda: msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=credential,
                    authority=self.authority,
                    http_client=msal_http_client(self.endpoints, self._ca_bundle, self._proxy),
                    token_cache=self._cache,
                    http_cache=self._http_cache,
                    instance_discovery=False,
                    azure_region=False,
                ),
            )
        return self._app

    def _acquire(self, scope: str) -> dict[str, Any]:
        app = self._msal_app()
        result: dict[str, Any] = call_msal(
            f"tenant {self.tenant_id}", lambda: app.acquire_token_for_client(scopes=[scope])
        )
        return result

    def _forget(self, scope: str) -> None:
        cache = self._cache
        for item in list(
            cache.search(
                msal.TokenCache.CredentialType.ACCESS_TOKEN,
                target=[scope],
                query={"client_id": self.client_id},
            )
        ):
            if str(item.get("realm", "")).lower() == self.tenant_id.lower():
                cache.remove_at(item)

    def _error(self, result: dict[str, Any]) -> AuthenticationError:
        codes = aadsts_codes(result)
        if any(c in _CONSENT_CODES for c in codes):
            desc = first_line(result.get("error_description"))
            hint = self._consent_hint(self.tenant_id) if self._consent_hint else ""
            msg = f"the app {self.client_id} has no consent in tenant {self.tenant_id}: {desc}" + (
                f"; a Global Administrator of that tenant can consent at {hint}" if hint else ""
            )
            return ConsentRequiredError(
                msg, code=str(result.get("error")), target=result.get("correlation_id")
            )
        return super()._error(result)
