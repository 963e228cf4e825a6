"""What every token provider shares: the :class:`AccessToken`, the per-scope cache with
single-flight acquisition (:class:`TokenProvider`), and the small helpers around msal's results.

A provider hands out one :class:`AccessToken` per scope and keeps it until five minutes before it
expires; acquisition is single-flight per scope (N concurrent callers make one token request) and
runs in a worker thread because msal is synchronous.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.api.errors import AuthenticationError, InvalidResponseError, TransportError
from prefect_defender.api.lazy_import import requests
from prefect_defender.api.redact import remember_secret
from prefect_defender.api.validation import ascii_digits

__all__ = [
    "REFRESH_MARGIN",
    "AccessToken",
    "TokenProvider",
    "aadsts_codes",
    "call_msal",
    "credential_hash",
    "decode_claims",
    "first_line",
]

#: Refresh a cached token when less than this many seconds remain (msal uses the same margin).
REFRESH_MARGIN = 300.0


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


def credential_hash(*parts: str) -> str:
    """A short SHA-256 of ``parts``: names a credential in a cache key, never reveals it."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def aadsts_codes(result: dict[str, Any]) -> list[int]:
    """The numeric AADSTS codes of an msal error result."""
    codes = result.get("error_codes") or []
    if not isinstance(codes, list):
        return []
    return [int(c) for c in codes if isinstance(c, int | str) and ascii_digits(str(c))]


def first_line(text: str | None) -> str:
    """The first line of an error text (msal's descriptions carry trace and correlation ids
    on the next lines)."""
    if not isinstance(text, str) or not text.strip():
        return ""
    return text.strip().splitlines()[0]


def call_msal(what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, with msal's network failures as :class:`TransportError` and its refusals of a
    configuration as :class:`AuthenticationError` (first line only)."""
    try:
        return fn()
    except requests.exceptions.RequestException as exc:
        raise TransportError(f"{what}: cannot reach the token endpoint ({exc})") from None
    except ValueError as exc:  # msal: tenant discovery failed, bad authority, bad credential
        raise AuthenticationError(f"{what}: {first_line(str(exc))}") from None
    except (TypeError, KeyError, AttributeError, IndexError, RecursionError, OverflowError) as exc:
        # msal read an answer of the token endpoint that is not what Entra ID documents
        raise InvalidResponseError(
            f"{what}: the token endpoint's answer is not what Entra ID documents "
            f"({type(exc).__name__} in msal)",
            code="UnexpectedTokenAnswer",
        ) from None


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
        remember_secret(token, result.get("refresh_token"), result.get("id_token"))
        claims = decode_claims(token)
        exp = claims.get("exp")
        lifetime = result.get("expires_in", 3599)
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
            lifetime = int(lifetime) if isinstance(lifetime, str) and ascii_digits(lifetime) else 0
        expires_at = float(exp) if isinstance(exp, int | float) else time.time() + lifetime
        return AccessToken(token=token, expires_at=expires_at, scope=scope, claims=claims)

    def _error(self, result: dict[str, Any]) -> AuthenticationError:
        code = str(result.get("error") or "authentication_failed")
        desc = first_line(result.get("error_description")) or code
        target = result.get("correlation_id")
        return AuthenticationError(
            f"token request for tenant {self.tenant_id} failed: {desc}",
            code=code,
            target=target if isinstance(target, str) else None,
        )
