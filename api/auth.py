"""Tokens from Entra ID through msal, for the three Defender auth contexts.

* :class:`AppTokenProvider`: application context (client secret or certificate), and one per
  customer tenant for the partner context (see :func:`partner_providers`).
* :class:`UserTokenProvider`: delegated context; a device-code sign-in once (``prefect-defender
  login``), then unattended runs from the serialized msal token cache. Legacy username/password
  (ROPC) is supported but warned about: it cannot satisfy MFA.

A provider hands out one :class:`AccessToken` per scope and keeps it until five minutes before it
expires. Providers are shared process-wide (keyed by authority, tenant, client and a hash of the
credential; a user provider by the signed-in account, whatever copy of its token cache a block
holds), and acquisition is single-flight per scope: N concurrent callers make one token
request. Acquisition runs in a worker thread because msal is synchronous.

msal's HTTP goes through :class:`HttpxForMsal`, an ``httpx.Client`` with an explicit SSL context,
so a CA bundle given for a proxy or the emulator is honoured even when ``REQUESTS_CA_BUNDLE`` is
set (msal's own ``verify=`` is silently overridden by that variable).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import certifi
import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.api.errors import (
    AuthenticationError,
    ConsentRequiredError,
    SignInRequiredError,
    TransportError,
)
from prefect_defender.api.lazy_import import LazyModule

if TYPE_CHECKING:
    import msal
    import requests

    from prefect_defender.api.proxy import ProxyConfig
else:  # loaded at the first token request, not when a task module is imported
    msal = LazyModule("msal")
    requests = LazyModule("requests")

__all__ = [
    "AccessToken",
    "AppTokenProvider",
    "CertificateCredential",
    "HttpxForMsal",
    "TokenProvider",
    "UserTokenProvider",
    "admin_consent_url",
    "ssl_context",
]

logger = logging.getLogger("prefect_defender.auth")

#: Refresh a cached token when less than this many seconds remain (msal uses the same margin).
REFRESH_MARGIN = 300.0

#: AADSTS codes meaning "this app is not (or no longer) present in that tenant".
_CONSENT_CODES = (700016, 7000229, 65001, 650052, 500011)
#: AADSTS codes meaning "the stored delegated sign-in can no longer be used".
_SIGN_IN_CODES = (700082, 50173, 50076, 50079, 70043, 700084, 50078, 54005, 70008)


def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying SSL context trusting certifi's roots plus ``ca_bundle``.

    ``ca_bundle`` is a path to a PEM file or the PEM text itself. Verification cannot be turned
    off here: there is deliberately no switch for it.
    """
    ctx = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        if "-----BEGIN CERTIFICATE-----" in ca_bundle:
            ctx.load_verify_locations(cadata=ca_bundle)
        else:
            ctx.load_verify_locations(cafile=ca_bundle)
    return ctx


@dataclass(frozen=True)
class AccessToken:
    """A bearer token with its expiry and the claims the client reads (roles, scp, tid)."""

    token: str = field(repr=False)
    expires_at: float
    scope: str
    claims: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def permissions(self) -> frozenset[str]:
        """Application ``roles`` and delegated ``scp`` carried by the token."""
        roles = self.claims.get("roles") or []
        scp = str(self.claims.get("scp") or "").split()
        return frozenset([*roles, *scp])

    @property
    def tenant_id(self) -> str | None:
        """The ``tid`` claim."""
        tid = self.claims.get("tid")
        return str(tid) if tid else None

    def fresh(self, now: float | None = None) -> bool:
        """True while more than :data:`REFRESH_MARGIN` seconds remain."""
        return self.expires_at - (time.time() if now is None else now) > REFRESH_MARGIN


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the API verifies it; the client only reads it)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError):
        return {}


class HttpxForMsal:
    """The ``http_client`` msal expects, on top of ``httpx.Client``.

    msal calls ``get``/``post`` and reads ``status_code``, ``text`` and ``headers``. It passes
    certificate assertions as ``bytes`` in form data and ``None`` values, which httpx would
    encode as ``b'...'`` and ``''``; they are converted here. msal's ROPC pre-flight
    (``/common/userrealm``) drops the authority's port, which is re-added for the authority host.
    Transport failures are raised as ``requests.ConnectionError`` because msal's fallback paths
    catch ``requests`` exceptions.
    """

    def __init__(self, client: httpx.Client, authority_host: str | None = None) -> None:
        self.client = client
        self._authority = urlsplit(authority_host) if authority_host else None

    def get(self, url: str, params: Any = None, headers: Any = None, **kw: Any) -> httpx.Response:
        """GET ``url`` (msal's contract)."""
        return self._call("GET", url, params=params, headers=headers, **kw)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> httpx.Response:
        """POST form ``data`` to ``url`` (msal's contract)."""
        if isinstance(data, dict):
            data = {
                k: v.decode() if isinstance(v, bytes) else v
                for k, v in data.items()
                if v is not None
            }
        elif isinstance(data, (str, bytes)):
            kw["content"], data = data, None
        return self._call("POST", url, params=params, data=data, headers=headers, **kw)

    def close(self) -> None:
        """Close the underlying client."""
        self.client.close()

    def _fix_port(self, url: str) -> str:
        a = self._authority
        if a is None or a.port is None:
            return url
        u = urlsplit(url)
        if u.hostname == a.hostname and u.port is None:
            return urlunsplit((u.scheme, a.netloc, u.path, u.query, u.fragment))
        return url

    def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        if "allow_redirects" in kw:
            kw["follow_redirects"] = kw.pop("allow_redirects")
        kw = {k: v for k, v in kw.items() if v is not None}
        try:
            return self.client.request(method, self._fix_port(url), **kw)
        except httpx.TransportError as exc:
            raise requests.exceptions.ConnectionError(f"{type(exc).__name__}: {exc}") from exc


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

    def fingerprint(self) -> str:
        """A hash identifying the key (never the key itself)."""
        return _hash(self.private_key_pem.get_secret_value(), self.thumbprint or "")


def _hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _aadsts(result: dict[str, Any]) -> list[int]:
    codes = result.get("error_codes") or []
    return [int(c) for c in codes if isinstance(c, int | str) and str(c).isdigit()]


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text else ""


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


class TokenProvider:
    """Base class: per-scope token cache with single-flight acquisition in a worker thread."""

    kind = "base"

    def __init__(self, endpoints: CloudEndpoints, tenant_id: str, client_id: str) -> None:
        self.endpoints = endpoints
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.token_requests = 0  # msal acquisitions that went to the network (or msal's cache)

    @property
    def authority(self) -> str:
        """``{authority_host}/{tenant_id}``."""
        return f"{self.endpoints.authority_host}/{self.tenant_id}"

    @property
    def credential(self) -> str:
        """Which kind of credential this provider signs in with (no secret in it)."""
        return self.kind

    def _lock(self, scope: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(scope, threading.Lock())

    async def get_token(self, scope: str) -> AccessToken:
        """A fresh token for ``scope``; at most one acquisition runs per scope at a time."""
        tok = self._tokens.get(scope)
        if tok is not None and tok.fresh():
            return tok
        return await asyncio.to_thread(self.get_token_sync, scope)

    def get_token_sync(self, scope: str) -> AccessToken:
        """Blocking form of :meth:`get_token`."""
        with self._lock(scope):
            tok = self._tokens.get(scope)
            if tok is not None and tok.fresh():
                return tok
            result = self._acquire(scope)
            tok = self._to_token(result, scope)
            self._tokens[scope] = tok
            return tok

    def invalidate(self, scope: str, token: str) -> None:
        """Drop ``token`` after the API rejected it (401), unless a newer one replaced it."""
        with self._lock(scope):
            cur = self._tokens.get(scope)
            if cur is not None and cur.token == token:
                del self._tokens[scope]
                self._forget(scope)

    def _forget(self, scope: str) -> None:
        """Remove the access token from msal's cache so the next acquisition is a new one."""

    def _acquire(self, scope: str) -> dict[str, Any]:
        raise NotImplementedError

    def _to_token(self, result: dict[str, Any], scope: str) -> AccessToken:
        if "access_token" not in result:
            raise self._error(result)
        self.token_requests += 1 if result.get("token_source") != "cache" else 0
        token = str(result["access_token"])
        claims = decode_claims(token)
        exp = claims.get("exp")
        expires_at = (
            float(exp)
            if isinstance(exp, int | float)
            else time.time() + float(result.get("expires_in", 3599))
        )
        return AccessToken(token=token, expires_at=expires_at, scope=scope, claims=claims)

    def _error(self, result: dict[str, Any]) -> AuthenticationError:
        code = str(result.get("error") or "authentication_failed")
        desc = _first_line(result.get("error_description")) or code
        return AuthenticationError(
            f"token request for tenant {self.tenant_id} failed: {desc}",
            code=code,
            target=result.get("correlation_id"),
        )

    @staticmethod
    def _http(
        endpoints: CloudEndpoints, ca_bundle: str | None, proxy: ProxyConfig | None = None
    ) -> HttpxForMsal:
        client = httpx.Client(
            verify=ssl_context(ca_bundle),
            timeout=30.0,
            trust_env=False,
            proxy=proxy.httpx_proxy(ca_bundle) if proxy is not None else None,
        )
        return HttpxForMsal(client, endpoints.authority_host)


def _call_msal(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except requests.exceptions.RequestException as exc:
        raise TransportError(f"{what}: cannot reach the token endpoint ({exc})") from None
    except ValueError as exc:  # msal: tenant discovery failed, bad authority, bad credential
        raise AuthenticationError(f"{what}: {_first_line(str(exc))}") from None


class AppTokenProvider(TokenProvider):
    """Application (client credentials) tokens with a client secret, a certificate or a
    federated client assertion (workload identity federation: ``client_assertion`` is a
    callable such as :class:`~prefect_defender.api.federation.FederatedTokenFile`)."""

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
            self._app = _call_msal(
                f"tenant {self.tenant_id}",
                lambda: msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=credential,
                    authority=self.authority,
                    http_client=self._http(self.endpoints, self._ca_bundle, self._proxy),
                    token_cache=self._cache,
                    http_cache=self._http_cache,
                    instance_discovery=False,
                    azure_region=False,
                ),
            )
        return self._app

    def _acquire(self, scope: str) -> dict[str, Any]:
        app = self._msal_app()
        result: dict[str, Any] = _call_msal(
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
        codes = _aadsts(result)
        if any(c in _CONSENT_CODES for c in codes):
            desc = _first_line(result.get("error_description"))
            hint = self._consent_hint(self.tenant_id) if self._consent_hint else ""
            msg = f"the app {self.client_id} has no consent in tenant {self.tenant_id}: {desc}" + (
                f"; a Global Administrator of that tenant can consent at {hint}" if hint else ""
            )
            return ConsentRequiredError(
                msg, code=str(result.get("error")), target=result.get("correlation_id")
            )
        return super()._error(result)


class UserTokenProvider(TokenProvider):
    """Delegated tokens for a signed-in user, from a serialized msal token cache.

    ``on_cache_change`` receives the re-serialized cache whenever msal rotated the refresh token,
    so the caller (the user block) can store it again.
    """

    kind = "user"

    def __init__(
        self,
        endpoints: CloudEndpoints,
        tenant_id: str,
        client_id: str,
        *,
        token_cache: str | None = None,
        username: str | None = None,
        password: SecretStr | None = None,
        ca_bundle: str | None = None,
        login_hint: str = "prefect-defender login",
        on_cache_change: Callable[[str], None] | None = None,
        proxy: ProxyConfig | None = None,
        http_cache: dict[Any, Any] | None = None,
    ) -> None:
        super().__init__(endpoints, tenant_id, client_id)
        self._cache = msal.SerializableTokenCache()
        #: Hashes of every serialized cache this provider was given or produced: a block holding
        #: one of them (the stored copy before or after a rotation) adds nothing new.
        self._seen: set[str] = set()
        self._cache_lock = threading.RLock()  # msal's writes vs. taking in another cache
        if token_cache:
            self._cache.deserialize(read_cache(token_cache, login_hint))
            self._seen.add(_hash(token_cache))
        self._http_cache = http_cache if http_cache is not None else {}
        self._username = username
        self._password = password
        self._ca_bundle = ca_bundle
        self._login_hint = login_hint
        self._on_cache_change = on_cache_change
        self._proxy = proxy
        self._app: msal.PublicClientApplication | None = None

    @property
    def credential(self) -> str:
        """``user: token cache`` (device-code sign-in) or ``user: username/password (ROPC)``."""
        return (
            "user: username/password (ROPC)" if self._password is not None else "user: token cache"
        )

    def _msal_app(self) -> msal.PublicClientApplication:
        if self._app is None:
            self._app = _call_msal(
                f"tenant {self.tenant_id}",
                lambda: msal.PublicClientApplication(
                    self.client_id,
                    authority=self.authority,
                    http_client=self._http(self.endpoints, self._ca_bundle, self._proxy),
                    token_cache=self._cache,
                    http_cache=self._http_cache,
                    instance_discovery=False,
                ),
            )
        return self._app

    def serialize(self) -> str:
        """The msal cache as a string (store it in the user block's ``token_cache``)."""
        text = str(self._cache.serialize())
        self._seen.add(_hash(text))
        return text

    def absorb(
        self,
        token_cache: str | None,
        on_cache_change: Callable[[str], None] | None,
        login_hint: str | None = None,
    ) -> None:
        """Take in what a block (loaded in another task) holds that this provider has not seen.

        A block's ``token_cache`` is usually a copy this provider was given or wrote itself
        (nothing to do). Otherwise it comes from a new ``prefect-defender login`` or another
        worker: its refresh tokens and accounts replace this provider's, and each access token
        is kept from whichever side expires later, so no token is asked for again.
        ``on_cache_change`` and ``login_hint`` come from the latest block object: it stores
        later rotations, and its name is the one an error tells the operator to sign in with.
        """
        if on_cache_change is not None:
            self._on_cache_change = on_cache_change
        if login_hint:
            self._login_hint = login_hint
        if not token_cache:
            return
        digest = _hash(token_cache)
        if digest in self._seen:
            return
        incoming = json.loads(read_cache(token_cache, self._login_hint))
        with self._cache_lock:
            current = json.loads(self._cache.serialize())
            self._cache.deserialize(json.dumps(merge_caches(current, incoming)))
            self._seen.add(digest)

    def initiate_device_flow(self, scopes: Iterable[str]) -> dict[str, Any]:
        """Start a device-code sign-in; show ``flow["message"]`` to the user."""
        app = self._msal_app()
        flow: dict[str, Any] = _call_msal(
            "device code", lambda: app.initiate_device_flow(scopes=list(scopes))
        )
        if "user_code" not in flow:
            raise self._error(flow)
        return flow

    def complete_device_flow(self, flow: dict[str, Any]) -> AccessToken:
        """Wait for the user to finish the device-code sign-in; cache the result."""
        app = self._msal_app()
        result: dict[str, Any] = _call_msal(
            "device code", lambda: app.acquire_token_by_device_flow(flow)
        )
        scopes = flow.get("scope")
        scope = str(scopes[0]) if isinstance(scopes, list) and scopes else ""
        token = self._to_token(result, scope)
        if scope:
            self._tokens[scope] = token
        self._changed()
        return token

    def _account(self) -> dict[str, Any] | None:
        accounts: list[dict[str, Any]] = self._msal_app().get_accounts(username=self._username)
        return accounts[0] if accounts else None

    def _acquire(self, scope: str) -> dict[str, Any]:
        with self._cache_lock:
            return self._acquire_locked(scope)

    def _acquire_locked(self, scope: str) -> dict[str, Any]:
        app = self._msal_app()
        account = self._account()
        result: dict[str, Any] | None = None
        if account is not None:
            result = _call_msal(
                "silent sign-in", lambda: app.acquire_token_silent_with_error([scope], account)
            )
        if result is None and self._username and self._password is not None:
            warnings.warn(
                "username/password (ROPC) sign-in cannot satisfy MFA or Conditional Access and "
                "is discouraged by Microsoft; prefer `prefect-defender login` (device code)",
                UserWarning,
                stacklevel=2,
            )
            password = self._password.get_secret_value()
            result = _call_msal(
                "password sign-in",
                lambda: app.acquire_token_by_username_password(
                    self._username, password, scopes=[scope]
                ),
            )
        if result is None:
            raise SignInRequiredError(
                f"no signed-in account in the stored token cache for tenant {self.tenant_id}; "
                f"run `{self._login_hint}` to sign in again"
            )
        if "access_token" in result:
            self._changed()
        return result

    def _forget(self, scope: str) -> None:
        for item in list(
            self._cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[scope])
        ):
            self._cache.remove_at(item)

    def _changed(self) -> None:
        if self._on_cache_change is not None and self._cache.has_state_changed:
            try:
                self._on_cache_change(self.serialize())
            except Exception as exc:  # persisting is best effort; the token is still valid
                logger.warning("could not store the refreshed token cache: %s", type(exc).__name__)
            self._cache.has_state_changed = False

    def _error(self, result: dict[str, Any]) -> AuthenticationError:
        codes = _aadsts(result)
        desc = _first_line(result.get("error_description")) or str(result.get("error"))
        if result.get("error") in ("invalid_grant", "interaction_required") or any(
            c in _SIGN_IN_CODES for c in codes
        ):
            return SignInRequiredError(
                f"the stored sign-in for tenant {self.tenant_id} can no longer be used ({desc}); "
                f"run `{self._login_hint}` to sign in again",
                code=str(result.get("error")),
                target=result.get("correlation_id"),
            )
        return super()._error(result)


def read_cache(token_cache: str, login_hint: str) -> str:
    """``token_cache`` if it is an msal cache (a JSON object), else a sign-in-again error."""
    try:
        parsed = json.loads(token_cache)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise SignInRequiredError(
            f"the stored token cache cannot be read; run `{login_hint}` again"
        ) from None
    return token_cache


def cache_accounts(token_cache: str | None) -> tuple[str, ...]:
    """The ``home_account_id`` of every account in a serialized msal cache (sorted)."""
    if not token_cache:
        return ()
    try:
        accounts = json.loads(token_cache).get("Account") or {}
        return tuple(sorted({str(a.get("home_account_id", "")) for a in accounts.values()}))
    except (ValueError, AttributeError):
        return ()


def _expires_on(entry: Any) -> float:
    try:
        return float(entry.get("expires_on", 0))
    except (TypeError, ValueError, AttributeError):
        return 0.0


def merge_caches(current: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """Two serialized msal caches as one: ``incoming`` wins for refresh tokens, accounts and
    id tokens (it is the newer sign-in); of two access tokens under one key, the later expiry
    is kept.
    """
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in current.items()}
    for section, entries in incoming.items():
        if not isinstance(entries, dict):
            continue
        target = merged.setdefault(section, {})
        for key, entry in entries.items():
            if (
                section == "AccessToken"
                and key in target
                and _expires_on(entry) <= _expires_on(target[key])
            ):
                continue
            target[key] = entry
    return merged


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
        secret_fp = _hash(client_secret.get_secret_value())
    elif client_assertion is not None:
        secret_fp = _hash("federated", assertion_key or repr(client_assertion))
    else:
        secret_fp = certificate.fingerprint()  # type: ignore[union-attr]
    proxy_fp = proxy.fingerprint() if proxy is not None else ""
    app_key = (endpoints.authority_host, client_id, secret_fp, ca_bundle or "", proxy_fp)
    key = ("app", tenant_id.lower(), *app_key)
    cache, http_cache = REGISTRY.shared_cache(app_key) if partner else (None, None)

    def make() -> TokenProvider:
        return AppTokenProvider(
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

    prov = REGISTRY.get(key, make)
    assert isinstance(prov, AppTokenProvider)
    return prov
