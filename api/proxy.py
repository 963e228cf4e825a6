"""An explicit outbound proxy for the API client (httpx) and msal's token requests.

Both HTTP clients of this package ignore the environment (``HTTPS_PROXY``, ``ALL_PROXY``,
``NO_PROXY``, ``SSL_CERT_FILE``...) on purpose: a variable set by someone else must not be able to
redirect a client secret or a bearer token. A proxy is therefore only ever used when it is
configured explicitly, with :class:`ProxyConfig` (the blocks' ``proxy_url``, ``proxy_username``
and ``proxy_password`` fields).

* ``http://`` and ``https://`` proxies are supported. Requests to Microsoft's hosts are always
  https, so they go through the proxy as a ``CONNECT`` tunnel and TLS is negotiated end to end
  with the Microsoft host: the proxy sees host names, never tokens or secrets.
* A TLS-inspecting proxy re-signs the Microsoft certificates with its own CA: give that CA as the
  block's ``ca_bundle``. Verification stays on (there is no switch to turn it off); the same CA
  bundle is also used to verify an ``https://`` proxy's own certificate.
* Credentials are never part of the URL (a URL with ``user:password@`` is refused, so it cannot
  end up in a log line or a repr); the password is a ``SecretStr`` and is only handed to httpx as
  ``Proxy-Authorization`` on the ``CONNECT``. With an ``http://`` proxy that header travels in
  clear text to the proxy: prefer an ``https://`` proxy when credentials are needed.
* Managed-identity endpoints (``IDENTITY_ENDPOINT``, IMDS) are local to the machine and are never
  sent through the proxy (see :mod:`prefect_defender.api.auth`).

Example:
    >>> cfg = ProxyConfig(url="http://proxy.corp.example:3128", username="svc-soar")
    >>> cfg.display()
    'http://proxy.corp.example:3128 (user svc-soar)'
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from prefect_defender.api.tls import ssl_context

__all__ = ["ProxyConfig", "check_proxy_url"]


def check_proxy_url(url: str) -> str:
    """``url`` normalised (no trailing slash), or ``ValueError`` with a clear reason.

    Only ``http://host:port`` and ``https://host:port`` are accepted: no credentials (use the
    username/password fields), no path, query or fragment.

    Examples:
        >>> check_proxy_url("https://proxy.corp.example:8443/")
        'https://proxy.corp.example:8443'
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("proxy_url must be an http:// or https:// URL")
    text = url.strip()
    if any(ord(c) < 32 or c == " " for c in text):
        raise ValueError("proxy_url must not contain spaces or control characters")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"proxy_url must start with http:// or https:// (got scheme {parts.scheme!r}); "
            "SOCKS proxies are not supported"
        )
    if "@" in parts.netloc:
        raise ValueError(
            "proxy_url must not carry credentials; use proxy_username and proxy_password"
        )
    if not parts.hostname:
        raise ValueError("proxy_url needs a host name")
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError("proxy_url has an invalid port") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("proxy_url must be scheme://host[:port] without a path or query")
    return f"{parts.scheme}://{parts.netloc}"


class ProxyConfig(BaseModel):
    """An explicit proxy: URL plus optional Basic credentials (the password is a secret)."""

    model_config = ConfigDict(frozen=True)

    url: str
    username: str | None = None
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_proxy_url(v)

    @field_validator("username")
    @classmethod
    def _user(cls, v: str | None) -> str | None:
        if v is not None and (":" in v or any(ord(c) < 32 for c in v)):
            raise ValueError("proxy_username must not contain ':' or control characters")
        return v or None

    def httpx_proxy(self, ca_bundle: str | None = None) -> httpx.Proxy:
        """The ``httpx.Proxy`` for this configuration (an https proxy is verified too)."""
        auth = None
        if self.username is not None:
            pw = self.password.get_secret_value() if self.password is not None else ""
            auth = (self.username, pw)
        ctx = ssl_context(ca_bundle) if self.url.startswith("https://") else None
        return httpx.Proxy(self.url, auth=auth, ssl_context=ctx)

    def display(self) -> str:
        """URL and user name, for logs and ``whoami`` (never the password)."""
        return f"{self.url} (user {self.username})" if self.username else self.url

    def fingerprint(self) -> str:
        """A hash identifying the proxy and its credentials (for cache keys)."""
        h = hashlib.sha256()
        for part in (
            self.url,
            self.username or "",
            self.password.get_secret_value() if self.password else "",
        ):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()[:24]

    def __repr__(self) -> str:
        return f"ProxyConfig({self.display()!r})"

    def __str__(self) -> str:
        return self.display()
