"""The HTTP client msal uses: :class:`HttpxForMsal`, an ``httpx.Client`` with an explicit SSL
context, so a CA bundle given for a proxy or the emulator is honoured even when
``REQUESTS_CA_BUNDLE`` is set (msal's own ``verify=`` is silently overridden by that variable).

Every token provider of a process signing in at the same authority host, with the same CA
bundle and proxy, shares one ``httpx.Client`` (httpx: "It can be shared between threads"), with
a small connection pool: a partner app's 1,000 tenants keep a few sockets to the token endpoint
open, not one each.

Every exchange msal makes is bounded like an API call's (:mod:`~prefect_defender.api.body`): a
total time, the bytes-per-second floor and a size bound. A token taken for an API call runs
inside that call's deadline: the transport sets :func:`exchange_bounds` around it, and msal's
worker thread (``asyncio.to_thread`` gives it a copy of the context) reads them.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from prefect_defender.api.body import (
    ACCEPT_ENCODING,
    BodyClock,
    BodyLimits,
    nesting_exceeds,
    receive_sync,
)
from prefect_defender.api.clouds import CloudEndpoints
from prefect_defender.api.errors import ResponseTooDeepError
from prefect_defender.api.lazy_import import requests
from prefect_defender.api.redact import SECRET_FORM_FIELDS, remember_secret, scrub
from prefect_defender.api.tls import ssl_context

if TYPE_CHECKING:
    from prefect_defender.api.proxy import ProxyConfig

__all__ = [
    "DEFAULT_TIMEOUT",
    "ExchangeBounds",
    "HttpxForMsal",
    "close_msal_http_clients",
    "exchange_bounds",
    "msal_http_client",
]

#: the bound of one token-endpoint exchange made outside any API call (a connection check)
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class ExchangeBounds:
    """The bounds of msal's exchanges: a deadline (monotonic; ``None``: each exchange gets
    ``timeout`` in total), the per-operation timeout and the body limits."""

    deadline: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    limits: BodyLimits = field(default_factory=BodyLimits)

    def clock(self) -> BodyClock:
        """The clock of one exchange starting now."""
        end = time.monotonic() + self.timeout
        if self.deadline is not None:
            end = min(end, self.deadline)
        return BodyClock(end, self.timeout, self.limits.min_rate, self.limits.rate_grace)


_BOUNDS: ContextVar[ExchangeBounds | None] = ContextVar("prefect_defender_msal", default=None)


@contextmanager
def exchange_bounds(
    deadline: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    limits: BodyLimits | None = None,
) -> Iterator[ExchangeBounds]:
    """Bound msal's exchanges made in this context (and in worker threads started from it).

    Example:
        >>> with exchange_bounds(timeout=5.0) as bounds:
        ...     bounds.timeout
        5.0
    """
    bounds = ExchangeBounds(deadline, timeout, limits or BodyLimits())
    reset = _BOUNDS.set(bounds)
    try:
        yield bounds
    finally:
        _BOUNDS.reset(reset)


class HttpxForMsal:
    """The ``http_client`` msal expects, on top of ``httpx.Client``.

    msal calls ``get``/``post`` and reads ``status_code``, ``text`` and ``headers``. It passes
    certificate assertions as ``bytes`` in form data and ``None`` values, which httpx would
    encode as ``b'...'`` and ``''``; they are converted here. msal's ROPC pre-flight
    (``/common/userrealm``) drops the authority's port, which is re-added for the authority host.
    Transport failures are raised as ``requests.ConnectionError`` because msal's fallback paths
    catch ``requests`` exceptions; an exchange past its bounds raises
    :class:`~prefect_defender.api.errors.DeadlineExceededError`, an answer over its size
    :class:`~prefect_defender.api.errors.ResponseTooLargeError` (msal lets both through).

    ``client`` is an ``httpx.Client`` or a function returning the one to use now (the shared
    client of :func:`msal_http_client`, replaced when the CA bundle file changes).
    """

    def __init__(
        self, client: httpx.Client | Callable[[], httpx.Client], authority_host: str | None = None
    ) -> None:
        self._client = client
        self._authority = urlsplit(authority_host) if authority_host else None

    @property
    def client(self) -> httpx.Client:
        """The ``httpx.Client`` requests go through."""
        return self._client if isinstance(self._client, httpx.Client) else self._client()

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
            # the credentials of this request (a secret, an assertion, a refresh token, a
            # password): scrubbed from any text made from what the server answers
            remember_secret(*(str(v) for k, v in data.items() if k in SECRET_FORM_FIELDS))
        elif isinstance(data, (str, bytes)):
            kw["content"], data = data, None
        return self._call("POST", url, params=params, data=data, headers=headers, **kw)

    def close(self) -> None:
        """Nothing to do: the underlying client is shared by the process's providers (see
        :func:`close_msal_http_clients`)."""

    def _fix_port(self, url: str) -> str:
        a = self._authority
        if a is None or a.port is None:
            return url
        u = urlsplit(url)
        if u.hostname == a.hostname and u.port is None:
            return urlunsplit((u.scheme, a.netloc, u.path, u.query, u.fragment))
        return url

    def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        redirects = kw.pop("allow_redirects", kw.pop("follow_redirects", None))
        send = {} if redirects is None else {"follow_redirects": redirects}
        kw = {k: v for k, v in kw.items() if v is not None}
        url = self._fix_port(url)
        # the URL tried, without its query (nothing secret is in a token endpoint's path)
        u = urlsplit(url)
        tried = urlunsplit((u.scheme, u.netloc, u.path, "", ""))
        bounds = _BOUNDS.get() or ExchangeBounds()
        clock = bounds.clock()
        client = self.client
        try:
            request = client.build_request(method, url, **kw)
            answer = receive_sync(client, request, clock, bounds.limits.token, **send)
        except httpx.TimeoutException as exc:
            overrun = clock.overrun(tried, method.upper())
            if overrun is not None:
                raise overrun from None
            raise self._unreachable(method, tried, exc) from exc
        except httpx.TransportError as exc:
            raise self._unreachable(method, tried, exc) from exc
        if nesting_exceeds(answer.content, bounds.limits.max_depth):  # msal would recurse
            raise ResponseTooDeepError(
                f"the answer nests deeper than {bounds.limits.max_depth} levels",
                code="ResponseTooDeep",
                method=method.upper(),
                url=tried,
            )
        return _scrubbed(answer)

    @staticmethod
    def _unreachable(method: str, tried: str, exc: Exception) -> Exception:
        return requests.exceptions.ConnectionError(
            f"{method.upper()} {tried}: {type(exc).__name__}: {exc}".rstrip(": ")
        )


def _scrubbed(answer: httpx.Response) -> httpx.Response:
    """An error answer with every credential removed from its body before msal reads it
    (msal puts the server's ``error_description`` into its result and its log)."""
    if answer.status_code < 400 or not answer.content:
        return answer
    text = answer.content.decode("utf-8", "replace")
    clean = scrub(text)
    if clean == text:
        return answer
    return httpx.Response(
        answer.status_code, headers=answer.headers, content=clean.encode(), request=answer.request
    )


#: sockets kept open to one token endpoint, whatever the number of tenants signing in there
TOKEN_POOL_CONNECTIONS = 8
_clients: dict[tuple[str, ...], tuple[ssl.SSLContext, httpx.Client]] = {}
_lock = threading.Lock()


def _shared_client(
    authority_host: str, ca_bundle: str | None, proxy: ProxyConfig | None
) -> httpx.Client:
    ctx = ssl_context(ca_bundle)  # a new one when the CA bundle file was rewritten
    key = (authority_host, ca_bundle or "", proxy.fingerprint() if proxy else "")
    with _lock:
        held = _clients.get(key)
        if held is not None and held[0] is ctx and not held[1].is_closed:
            return held[1]
        # a replaced client is not closed: a request may be using it in another thread; its
        # sockets close when it is collected
        client = httpx.Client(
            verify=ctx,
            timeout=DEFAULT_TIMEOUT,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
            trust_env=False,
            proxy=proxy.httpx_proxy(ca_bundle) if proxy is not None else None,
            limits=httpx.Limits(
                max_connections=TOKEN_POOL_CONNECTIONS,
                max_keepalive_connections=TOKEN_POOL_CONNECTIONS,
            ),
        )
        _clients[key] = (ctx, client)
        return client


def msal_http_client(
    endpoints: CloudEndpoints, ca_bundle: str | None, proxy: ProxyConfig | None = None
) -> HttpxForMsal:
    """The ``http_client`` of an msal application signing in at ``endpoints.authority_host``:
    certificate verification always on, no proxy or CA taken from the environment, and one
    connection pool per authority host, CA bundle and proxy in the process."""
    host = endpoints.authority_host
    return HttpxForMsal(lambda: _shared_client(host, ca_bundle, proxy), host)


def close_msal_http_clients() -> None:
    """Close the shared token-endpoint clients (a process's end; tests)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for _, client in clients:
        client.close()
