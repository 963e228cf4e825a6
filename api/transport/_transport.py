"""The :class:`Transport` itself: every call bounded, paced and retried (see the package)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from prefect_defender.api.auth import AccessToken, TokenProvider, exchange_bounds
from prefect_defender.api.body import ACCEPT_ENCODING, BodyClock, BodyLimits, loads, receive
from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.clouds import CloudEndpoints, check_link, origin, require_https
from prefect_defender.api.errors import (
    AuthenticationError,
    DeadlineExceededError,
    DefenderError,
    InvalidResponseError,
    ServerError,
    UnsafeRequestError,
    ValidationError,
    error_from_response,
)
from prefect_defender.api.lifecycle import check_call, retired_answer, retired_error
from prefect_defender.api.page_guard import PagingLimits
from prefect_defender.api.proxy import ProxyConfig
from prefect_defender.api.ratelimit import (
    DEFAULT_LIMITS,
    Limit,
    SlidingWindowLimiter,
    limiter_for,
)
from prefect_defender.api.redact import install_log_redaction, redact_url, remember_secret
from prefect_defender.api.tls import ssl_context
from prefect_defender.api.transport._downloads import json_or_none, save_link
from prefect_defender.api.transport._permission_hint import permission_error
from prefect_defender.api.transport._retry import (
    CallState,
    RetryPolicy,
    refresh_budget,
    retry_after_seconds,
    safe_to_repeat,
)
from prefect_defender.api.transport._send_gate import DeadlineWait, Requeue, SendGate
from prefect_defender.api.write_gate import check_write

__all__ = ["Transport", "TransportStats"]

logger = logging.getLogger("prefect_defender.http")
install_log_redaction()  # httpx logs request URLs: a signed link's signature must not be one


@dataclass(frozen=True)
class Outgoing:
    """What a request sends besides its method and URL."""

    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Any = None
    data: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None


@dataclass
class TransportStats:
    """Counters of what this transport did (the emulator counts independently)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class Transport:
    """Sends catalog :class:`Endpoint` calls for one tenant with one token provider."""

    def __init__(
        self,
        *,
        endpoints: CloudEndpoints,
        provider: TokenProvider,
        ca_bundle: str | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: Mapping[str, tuple[Limit, ...]] | None = None,
        rate_limits_enabled: bool = True,
        max_concurrency: int = 10,
        http2: bool = False,
        user_agent: str = "prefect-defender",
        proxy: ProxyConfig | None = None,
        body_limits: BodyLimits | None = None,
        paging_limits: PagingLimits | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.provider = provider
        self.tenant_id = provider.tenant_id
        self.retry = retry or RetryPolicy()
        self._limits = {**DEFAULT_LIMITS, **(rate_limits or {})}
        self._limits_enabled = rate_limits_enabled
        self._allowed = endpoints.api_hosts()
        self._ca_bundle = ca_bundle
        self._proxy = proxy  # explicit only: trust_env=False below ignores HTTPS_PROXY & co.
        self._http2 = http2
        self._user_agent = user_agent
        self._max_concurrency = max_concurrency
        self._client: httpx.AsyncClient | None = None
        self._download_client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._via: httpx.AsyncBaseTransport | None = None
        self.body_limits = body_limits or BodyLimits()
        self.paging_limits = paging_limits or PagingLimits()
        self.stats = TransportStats()

    # -- lifecycle ----------------------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self._max_concurrency,
                max_keepalive_connections=self._max_concurrency,
            )
            self._client = httpx.AsyncClient(
                verify=ssl_context(self._ca_bundle, http2=self._http2),
                timeout=self.retry.timeout,
                http2=self._http2,
                limits=limits,
                headers={
                    "User-Agent": self._user_agent,
                    "Accept": "application/json",
                    "Accept-Encoding": ACCEPT_ENCODING,
                },
                follow_redirects=False,
                trust_env=False,
                proxy=self._proxy_for_httpx(),
                transport=self._via,
            )
            self._sem = asyncio.Semaphore(self._max_concurrency)
        return self._client

    def _proxy_for_httpx(self) -> httpx.Proxy | None:
        if self._proxy is None or self._via is not None:  # a given transport has no proxy
            return None
        return self._proxy.httpx_proxy(self._ca_bundle)

    def use_http_transport(self, transport: httpx.AsyncBaseTransport) -> None:
        """Send every request (API calls and downloads) through ``transport`` instead of the
        network, e.g. an ``httpx.MockTransport`` in unit tests; the bounds, checks and errors
        stay the same. Call it before the first request."""
        self._via = transport

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        for c in (self._client, self._download_client):
            if c is not None:
                await c.aclose()
        self._client = self._download_client = None

    # -- URLs ----------------------------------------------------------------------------------
    def url_for(self, ep: Endpoint, path_params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL of ``ep`` with its path parameters percent-encoded."""
        path = ep.path
        for k, v in (path_params or {}).items():
            path = path.replace("{" + k + "}", quote(str(v), safe=""))
        if "{" in path:
            raise ValueError(f"missing path parameter in {ep.path!r}")
        base = self.endpoints.base_url(ep.surface)
        if ep.beta and base.endswith("/v1.0"):
            base = base[: -len("/v1.0")] + "/beta"
        return base + path

    def check_host(self, url: str) -> str:
        """Return ``url`` if a token may be sent there, else raise :class:`UnsafeRequestError`."""
        if origin(url) not in self._allowed:
            raise UnsafeRequestError(
                f"refusing to send a token to {origin(url)!r}: not one of the configured API hosts "
                f"({', '.join(sorted(self._allowed))})",
                code="ForeignHost",
            )
        return check_link(url, "link")  # an allowed host, but userinfo, spaces, bad port...

    # -- the call ------------------------------------------------------------------------------
    async def request(
        self,
        ep: Endpoint,
        *,
        path_params: Mapping[str, Any] | None = None,
        url: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        data: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        stream_to: Path | None = None,
        deadline: float | None = None,
    ) -> httpx.Response:
        """Send ``ep`` and return the successful response (its body read), or raise a typed
        error.

        ``url`` replaces the catalog URL (used for ``@odata.nextLink``); it must be on an allowed
        host. ``idempotent`` defaults to True for every method except POST. ``deadline`` (a
        ``time.monotonic()`` value) ends the call earlier than the retry policy's deadline (a
        listing's remaining budget).
        """
        check_call(ep)  # a retired endpoint raises here; a deprecated one warns once
        target = self.check_host(url) if url else self.url_for(ep, path_params)
        call = CallState(
            ep=ep,
            target=target,
            safe_to_repeat=safe_to_repeat(ep.method, idempotent),
            scope=self.endpoints.scope(ep.surface),
            limiter=self._limiter(ep) if self._limits_enabled else None,
            policy=self.retry,
            start=time.monotonic(),
            until=deadline,
        )
        bound = asyncio.timeout(max(call.deadline - call.start, 0.0))
        try:
            async with bound:
                await check_write(ep, self.tenant_id)  # the safety rails, once per call
                return await self._attempts(
                    call, Outgoing(params, json, files, data, headers), stream_to
                )
        except TimeoutError:
            if not bound.expired():
                raise
            raise call.timeout_error() from None

    async def _attempts(
        self, call: CallState, out: Outgoing, stream_to: Path | None
    ) -> httpx.Response:
        """Attempt the call until it succeeds or a typed error ends it."""
        while True:
            call.attempt += 1
            await call.wait_for_limiter()
            with exchange_bounds(call.deadline, self.retry.timeout, self.body_limits):
                token = await self.provider.get_token(call.scope)
            gate = SendGate(call.limiter, call.deadline) if call.limiter is not None else None
            try:
                resp = await self._send(call, token, out, gate, stream_to)
            except Requeue:
                call.attempt -= 1
                continue
            except DeadlineWait:
                raise call.last or call.deadline_error() from None
            except httpx.TransportError as exc:
                await self._pause_before_retry(call, call.after_transport_error(exc))
                continue
            if resp.status_code < 300:
                return resp
            wait = await self._after_error_answer(call, resp, token)
            if wait is not None:  # None: a new token, tried again at once
                await self._pause_before_retry(call, wait)

    async def _after_error_answer(
        self, call: CallState, resp: httpx.Response, token: AccessToken
    ) -> float | None:
        """Raise the typed error of a 3xx/4xx/5xx answer, or return how long to wait before
        repeating it (``None``: at once, with a refreshed token)."""
        ep, status = call.ep, resp.status_code
        if status < 400:
            # redirects are never followed (a token must not travel to where a proxy or portal
            # points); a write answered this way may have been applied
            raise InvalidResponseError(
                f"the API answered with a redirect ({status}) for {ep.name}; redirects are not "
                "followed (a proxy or captive portal in the way?)",
                status=status,
                code="UnexpectedRedirect",
                applied_unknown=not call.safe_to_repeat,
                method=ep.method,
                url=call.target,
            )
        retry_after = retry_after_seconds(resp)
        remember_secret(token.token)  # the answer may quote the request's Authorization header
        err = error_from_response(
            status,
            json_or_none(resp, self.body_limits.max_depth),
            method=ep.method,
            url=call.target,
            text=resp.text,
            retry_after=retry_after,
        )
        if retired_answer(ep, err):  # 410, or 404 in a retired API's shape (api.lifecycle)
            raise retired_error(ep, err) from None
        if status == 401:
            self._after_unauthorized(call, resp, err, token)
            return None
        if status == 403:
            raise permission_error(ep, err, token, self.provider.client_id) from None
        call.last = err
        if status == 429:
            self.stats.throttled += 1
            wait = retry_after if retry_after is not None else call.policy.backoff(call.attempt)
            if call.limiter is not None:
                # one absurd header must not stall every other call of the process: the shared
                # pause is bounded; this call still honours the full wait (or fails with
                # RateLimitedError when it exceeds the deadline)
                call.limiter.penalize(min(wait, call.limiter.max_penalty()))
            return wait + random.uniform(0, 0.05 * max(wait, 1.0))
        if status == 503 or (status >= 500 and call.safe_to_repeat):
            return retry_after if retry_after is not None else call.policy.backoff(call.attempt)
        if status >= 500:  # the POST may have been applied: let the caller reconcile
            raise ServerError(
                err.message,
                status=status,
                code=err.code,
                target=err.target,
                method=ep.method,
                url=call.target,
            ) from None
        raise err from None

    def _after_unauthorized(
        self, call: CallState, resp: httpx.Response, err: DefenderError, token: AccessToken
    ) -> None:
        """An expired or revoked token: nothing was applied; forget it so the next attempt gets
        a new one. More than once, because a request may wait in the rate limiter past the next
        token's expiry (seen with short-lived tokens), but never endlessly."""
        if call.refreshes >= refresh_budget(resp, err):
            raise AuthenticationError(
                f"{err.message} (the API rejected {call.refreshes} newly issued token(s) for "
                f"{call.ep.api_name}; check the app registration and tenant)",
                status=401,
                code=err.code,
                target=err.target,
                method=call.ep.method,
                url=call.target,
            ) from None
        call.refreshes += 1
        self.stats.token_refreshes += 1
        self.provider.invalidate(call.scope, token.token)
        call.last = err

    async def _pause_before_retry(self, call: CallState, wait: float) -> None:
        """Sleep ``wait`` before the next attempt, or raise the last error when the attempts
        or the deadline are used up."""
        assert call.last is not None
        if call.attempt >= call.policy.max_attempts:
            raise call.last from None
        if time.monotonic() + wait > call.deadline:
            raise call.last from None
        self.stats.retries += 1
        logger.debug("retry %s %s in %.2fs after %s", call.ep.method, call.ep.name, wait, call.last)
        await asyncio.sleep(wait)

    async def request_json(self, ep: Endpoint, **kw: Any) -> Any:
        """:meth:`request` and decode the JSON body (``None`` for an empty body) within the
        nesting bound."""
        resp = await self.request(ep, **kw)
        if not resp.content:
            return None
        try:
            return loads(resp.content, self.body_limits.max_depth)
        except InvalidResponseError as exc:  # too deep: say where
            raise exc.at(
                method=ep.method, url=redact_url(str(resp.url)), status=resp.status_code
            ) from None
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            method = ep.method
            safe = safe_to_repeat(method, kw.get("idempotent"))
            kind = resp.headers.get("Content-Type", "no content type").split(";")[0]
            raise InvalidResponseError(
                f"the API answered {resp.status_code} for {ep.name} with a body that is not "
                f"JSON ({kind}, {len(resp.content)} bytes): a proxy, portal or gateway page?",
                status=resp.status_code,
                code="InvalidResponseBody",
                applied_unknown=not safe,
                method=method,
                url=str(resp.request.url),
            ) from None

    async def _send(
        self,
        call: CallState,
        token: AccessToken,
        out: Outgoing,
        gate: SendGate | None = None,
        stream_to: Path | None = None,
    ) -> httpx.Response:
        client = self._http()
        assert self._sem is not None
        method, url = call.ep.method, call.target
        hdrs = {"Authorization": f"Bearer {token.token}", **(out.headers or {})}
        extensions = {"trace": gate.trace} if gate is not None else None
        limits = self.body_limits
        clock = BodyClock(call.deadline, self.retry.timeout, limits.min_rate, limits.rate_grace)
        async with self._sem:
            self.stats.requests += 1
            req = client.build_request(
                method,
                url,
                params=out.params,
                json=out.json,
                files=out.files,
                data=out.data,
                headers=hdrs,
                extensions=extensions,
            )
            call.sent = True
            try:
                resp = await receive(
                    client, req, clock, limits.for_endpoint(call.ep), limits.error, stream_to
                )
            except httpx.TimeoutException:
                overrun = clock.overrun(url, method, applied_unknown=not call.safe_to_repeat)
                if overrun is not None:
                    raise overrun from None
                raise
            except InvalidResponseError as exc:  # too large, unexpected encoding: say where
                exc.applied_unknown = not call.safe_to_repeat
                raise exc.at(method=method, url=redact_url(url)) from None
        self.stats.by_status[resp.status_code] = self.stats.by_status.get(resp.status_code, 0) + 1
        logger.debug("%s %s -> %s", method, url.split("?")[0], resp.status_code)
        return resp

    def _limiter(self, ep: Endpoint) -> SlidingWindowLimiter:
        return limiter_for(ep, self._limits, self.provider.client_id, self.tenant_id)

    # -- downloads without the token -----------------------------------------------------------
    async def download(self, url: str, dest: Path) -> int:
        """Stream a short-lived download link (SAS URL) to ``dest`` without the bearer token,
        within the download size bound and the call's deadline.

        Returns the number of bytes written. The link must be https.
        """
        try:
            require_https(url.split("?")[0], "download link")
        except ValueError as exc:
            raise ValidationError(str(exc).replace(url, url.split("?")[0]), field="url") from None
        check_link(url, "download link")
        if self._download_client is None:
            self._download_client = httpx.AsyncClient(
                verify=ssl_context(self._ca_bundle),
                timeout=self.retry.timeout,
                headers={"Accept-Encoding": ACCEPT_ENCODING},
                trust_env=False,
                proxy=self._proxy_for_httpx(),
                transport=self._via,
            )
        deadline = time.monotonic() + self.retry.deadline
        bound = asyncio.timeout(self.retry.deadline)
        try:
            async with bound:
                return await save_link(
                    self._download_client,
                    url,
                    dest,
                    limits=self.body_limits,
                    timeout=self.retry.timeout,
                    deadline=deadline,
                )
        except TimeoutError:
            if not bound.expired():
                raise
            raise DeadlineExceededError(
                f"the download did not finish within its deadline of {self.retry.deadline:g} s",
                method="GET",
                url=redact_url(url.split("?")[0]),
            ) from None
