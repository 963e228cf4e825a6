"""Microsoft clouds, API surfaces and the hosts a client may talk to.

Hosts and scopes come from Microsoft's documentation (see ``docs/reference.md``):

* Defender for Endpoint (MDE): ``https://api.security.microsoft.com``; token audience
  ``https://api.securitycenter.microsoft.com`` (Entra API name *WindowsDefenderATP*).
* Defender XDR: ``https://api.security.microsoft.com``; audience
  ``https://api.security.microsoft.com`` (*Microsoft Threat Protection*).
* Graph security: ``https://graph.microsoft.com/v1.0``; audience ``https://graph.microsoft.com``.

Sovereign clouds (GCC, GCC High, DoD): sign-in and Defender for Endpoint hosts from *Microsoft
Defender for Endpoint for US Government customers* (its API table: ``login.microsoftonline.com`` /
``api-gcc.securitycenter.microsoft.us`` for GCC, ``login.microsoftonline.us`` /
``api-gov.securitycenter.microsoft.us`` for GCC High and DoD); Defender XDR hosts
(``api-gcc.security.microsoft.us``, ``api-gov.security.microsoft.us``) from *Microsoft Defender XDR
for US Government customers*; Graph hosts (``graph.microsoft.us``, ``dod-graph.microsoft.us``;
GCC uses the global ``graph.microsoft.com``) from Graph's *National cloud deployments*.
``tests/security/test_clouds_routing.py`` checks per cloud that each host gets only its own
audience's token.

The sovereign-cloud MDE scope is not documented consistently (community scripts use both
``https://api-gcc.securitycenter.microsoft.us/.default`` and ``...securitycenter.microsoft.us``),
so every scope can be overridden.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

__all__ = ["Cloud", "CloudEndpoints", "Surface", "check_link", "cloud_endpoints", "require_https"]


class Cloud(StrEnum):
    """A Microsoft cloud with its own login, API and portal hosts."""

    COMMERCIAL = "commercial"
    GCC = "gcc"
    GCC_HIGH = "gcc-high"
    DOD = "dod"


class Surface(StrEnum):
    """One of the three Defender API surfaces; each needs a token for its own audience."""

    XDR = "xdr"
    MDE = "mde"
    GRAPH = "graph"


@dataclass(frozen=True)
class CloudEndpoints:
    """Resolved hosts and scopes of one cloud (after overrides)."""

    authority_host: str
    xdr_base_url: str
    mde_base_url: str
    graph_base_url: str
    xdr_scope: str
    mde_scope: str
    graph_scope: str
    portal_url: str

    def base_url(self, surface: Surface) -> str:
        """The base URL of ``surface`` (no trailing slash)."""
        return {
            Surface.XDR: self.xdr_base_url,
            Surface.MDE: self.mde_base_url,
            Surface.GRAPH: self.graph_base_url,
        }[surface]

    def scope(self, surface: Surface) -> str:
        """The ``.default`` scope whose token ``surface`` accepts."""
        return {
            Surface.XDR: self.xdr_scope,
            Surface.MDE: self.mde_scope,
            Surface.GRAPH: self.graph_scope,
        }[surface]

    def api_hosts(self) -> frozenset[str]:
        """``scheme://host:port`` origins that may receive a bearer token."""
        return frozenset(
            origin(u) for u in (self.xdr_base_url, self.mde_base_url, self.graph_base_url)
        )


_PRESETS: dict[Cloud, CloudEndpoints] = {
    Cloud.COMMERCIAL: CloudEndpoints(
        authority_host="https://login.microsoftonline.com",
        xdr_base_url="https://api.security.microsoft.com",
        mde_base_url="https://api.security.microsoft.com",
        graph_base_url="https://graph.microsoft.com/v1.0",
        xdr_scope="https://api.security.microsoft.com/.default",
        mde_scope="https://api.securitycenter.microsoft.com/.default",
        graph_scope="https://graph.microsoft.com/.default",
        portal_url="https://security.microsoft.com",
    ),
    Cloud.GCC: CloudEndpoints(
        authority_host="https://login.microsoftonline.com",
        xdr_base_url="https://api-gcc.security.microsoft.us",
        mde_base_url="https://api-gcc.securitycenter.microsoft.us",
        graph_base_url="https://graph.microsoft.com/v1.0",
        xdr_scope="https://api-gcc.security.microsoft.us/.default",
        mde_scope="https://api-gcc.securitycenter.microsoft.us/.default",
        graph_scope="https://graph.microsoft.com/.default",
        portal_url="https://security.microsoft.com",
    ),
    Cloud.GCC_HIGH: CloudEndpoints(
        authority_host="https://login.microsoftonline.us",
        xdr_base_url="https://api-gov.security.microsoft.us",
        mde_base_url="https://api-gov.securitycenter.microsoft.us",
        graph_base_url="https://graph.microsoft.us/v1.0",
        xdr_scope="https://api-gov.security.microsoft.us/.default",
        mde_scope="https://api-gov.securitycenter.microsoft.us/.default",
        graph_scope="https://graph.microsoft.us/.default",
        portal_url="https://security.microsoft.us",
    ),
    Cloud.DOD: CloudEndpoints(
        authority_host="https://login.microsoftonline.us",
        xdr_base_url="https://api-gov.security.microsoft.us",
        mde_base_url="https://api-gov.securitycenter.microsoft.us",
        graph_base_url="https://dod-graph.microsoft.us/v1.0",
        xdr_scope="https://api-gov.security.microsoft.us/.default",
        mde_scope="https://api-gov.securitycenter.microsoft.us/.default",
        graph_scope="https://dod-graph.microsoft.us/.default",
        portal_url="https://security.apps.mil",
    ),
}


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased, with default ports dropped."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # not a number or out of range: an origin no configured host has
        return f"{parts.scheme}://{parts.netloc.lower()}"
    if port is None or (parts.scheme == "https" and port == 443):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def check_link(url: object, what: str) -> str:
    """Return ``url`` if it is a well-formed absolute https link, else raise
    :class:`~prefect_defender.api.errors.UnsafeRequestError` (code ``MalformedLink``).

    Used for links the API hands back (``@odata.nextLink``, download links) before anything is
    sent: refused are non-strings, whitespace or control characters, relative links, other
    schemes, userinfo (``user@host``), IP-literal hosts in brackets, and bad or empty ports. The
    query (a signature, for download links) is never quoted in the message.

    Examples:
        >>> check_link("https://graph.microsoft.com/v1.0/x?$skip=2", "nextLink")[:26]
        'https://graph.microsoft.c'
    """
    from prefect_defender.api.errors import UnsafeRequestError

    def refuse(why: str) -> UnsafeRequestError:
        shown = str(url).split("?")[0][:200] if isinstance(url, str) else type(url).__name__
        return UnsafeRequestError(f"refusing the {what} {shown!r}: {why}", code="MalformedLink")

    if not isinstance(url, str) or not url:
        raise refuse("not a non-empty string")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise refuse("it contains whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise refuse("not an absolute https:// link")
    if "@" in parts.netloc:
        raise refuse("it carries userinfo (user@host)")
    if "[" in parts.netloc:
        raise refuse("IP-literal hosts are not accepted")
    if parts.netloc.endswith(":"):
        raise refuse("empty port")
    try:
        port = parts.port
    except ValueError:
        raise refuse("invalid port") from None
    if port == 0:
        raise refuse("invalid port")
    if not _DNS_NAME.match(parts.hostname or ""):
        raise refuse("the host is not a DNS name")
    return url


def require_https(url: str, what: str) -> str:
    """Return ``url`` without a trailing slash, or raise ``ValueError`` unless it is https."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{what} must be an https:// URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not carry a query or fragment, got {url!r}")
    return url.rstrip("/")


def cloud_endpoints(
    cloud: Cloud | str = Cloud.COMMERCIAL,
    *,
    authority_host: str | None = None,
    xdr_base_url: str | None = None,
    mde_base_url: str | None = None,
    graph_base_url: str | None = None,
    xdr_scope: str | None = None,
    mde_scope: str | None = None,
    graph_scope: str | None = None,
    portal_url: str | None = None,
) -> CloudEndpoints:
    """Endpoints of ``cloud`` with the given overrides applied and validated (https only).

    Examples:
        >>> cloud_endpoints("gcc-high").mde_base_url
        'https://api-gov.securitycenter.microsoft.us'
    """
    try:
        preset = _PRESETS[Cloud(cloud)]
    except ValueError:
        names = ", ".join(c.value for c in Cloud)
        raise ValueError(f"unknown cloud {cloud!r}; expected one of: {names}") from None
    return CloudEndpoints(
        authority_host=require_https(authority_host or preset.authority_host, "authority_host"),
        xdr_base_url=require_https(xdr_base_url or preset.xdr_base_url, "xdr_base_url"),
        mde_base_url=require_https(mde_base_url or preset.mde_base_url, "mde_base_url"),
        graph_base_url=require_https(graph_base_url or preset.graph_base_url, "graph_base_url"),
        xdr_scope=_scope(xdr_scope, preset.xdr_scope, "xdr_scope"),
        mde_scope=_scope(mde_scope, preset.mde_scope, "mde_scope"),
        graph_scope=_scope(graph_scope, preset.graph_scope, "graph_scope"),
        portal_url=require_https(portal_url or preset.portal_url, "portal_url"),
    )


def _scope(value: str | None, default: str, what: str) -> str:
    scope = value or default
    if not scope.startswith("https://") or not scope.endswith("/.default"):
        raise ValueError(f"{what} must look like 'https://<resource>/.default', got {scope!r}")
    return scope
