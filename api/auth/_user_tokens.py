"""Delegated tokens: :class:`UserTokenProvider` signs in once by device code (``prefect-defender
login``), then runs unattended from the serialized msal token cache; legacy username/password
(ROPC) is supported but warned about: it cannot satisfy MFA. The cache helpers read, list and merge
serialized caches (a block's copy against the provider's own).
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from prefect_defender.api.auth._msal_http import msal_http_client
from prefect_defender.api.auth._tokens import (
    AccessToken,
    TokenProvider,
    aadsts_codes,
    call_msal,
    credential_hash,
    first_line,
)
from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.api.errors import AuthenticationError, SignInRequiredError
from prefect_defender.api.lazy_import import msal
from prefect_defender.api.redact import remember_secret

if TYPE_CHECKING:
    from prefect_defender.api.proxy import ProxyConfig

__all__ = ["UserTokenProvider", "cache_accounts", "merge_caches", "read_cache"]

logger = logging.getLogger("prefect_defender.auth")

#: AADSTS codes meaning "the stored delegated sign-in can no longer be used".
_SIGN_IN_CODES = (700082, 50173, 50076, 50079, 70043, 700084, 50078, 54005, 70008)


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
            self._seen.add(credential_hash(token_cache))
        self._http_cache = http_cache if http_cache is not None else {}
        self._username = username
        self._password = password
        if password is not None:  # a server quoting it back is scrubbed (api.redact)
            remember_secret(password.get_secret_value())
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
            self._app = call_msal(
                f"tenant {self.tenant_id}",
                lambda: msal.PublicClientApplication(
                    self.client_id,
                    authority=self.authority,
                    http_client=msal_http_client(self.endpoints, self._ca_bundle, self._proxy),
                    token_cache=self._cache,
                    http_cache=self._http_cache,
                    instance_discovery=False,
                ),
            )
        return self._app

    def serialize(self) -> str:
        """The msal cache as a string (store it in the user block's ``token_cache``)."""
        text = str(self._cache.serialize())
        self._seen.add(credential_hash(text))
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
        digest = credential_hash(token_cache)
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
        flow: dict[str, Any] = call_msal(
            "device code", lambda: app.initiate_device_flow(scopes=list(scopes))
        )
        if "user_code" not in flow:
            raise self._error(flow)
        return flow

    def complete_device_flow(self, flow: dict[str, Any]) -> AccessToken:
        """Wait for the user to finish the device-code sign-in; cache the result."""
        app = self._msal_app()
        result: dict[str, Any] = call_msal(
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
            result = call_msal(
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
            result = call_msal(
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
        codes = aadsts_codes(result)
        desc = first_line(result.get("error_description")) or str(result.get("error"))
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
