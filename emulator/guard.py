"""The endpoint registry and the guard every API request passes through.

A route module declares each documented operation with :func:`api`::

    @api("GET", "/api/machines/{id}", surface="mde",
         app=("Machine.Read.All", "Machine.ReadWrite.All"), delegated=("Machine.Read", ...))
    async def get_machine(ctx: Ctx) -> Response: ...

The guard then applies, in order: fault injection, authentication (bearer token issued by this
emulator, not expired or revoked, audience of the surface), authorisation (the token's ``roles``
or ``scp`` must hold one of the allowed permissions), the rate limit of the route's family, and
records the outcome in the counters.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.odata import ODataError
from prefect_defender.emulator.permissions import (
    GRAPH_AUDIENCE,
    MDE_AUDIENCE,
    XDR_AUDIENCE,
    PagePermissions,
)
from prefect_defender.emulator.profiles import FAULT_KINDS
from prefect_defender.emulator.retirement import RETIRED_CODE, retired_message
from prefect_defender.emulator.state import EmulatorState, Tenant
from prefect_defender.emulator.tokens import decode_token

__all__ = ["REGISTRY", "ApiError", "Ctx", "EndpointSpec", "api", "error_response", "routes"]

AUDIENCES = {"mde": MDE_AUDIENCE, "xdr": XDR_AUDIENCE, "graph": GRAPH_AUDIENCE}


class ApiError(Exception):
    """Raised by handlers to answer with Defender's error body."""

    def __init__(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details  # Graph's ``details`` list, when the answer carries one


@dataclass
class Ctx:
    """What a handler gets: the request, the state, the caller's tenant and identity."""

    request: Request
    state: EmulatorState
    tenant: Tenant
    claims: dict[str, Any]
    app_id: str
    spec: EndpointSpec

    @property
    def params(self) -> dict[str, str]:
        """Path parameters."""
        return dict(self.request.path_params)

    @property
    def query(self) -> Any:
        """Query parameters."""
        return self.request.query_params

    @property
    def caller(self) -> str:
        """Who is calling, as Defender records it (UPN for users, app id for apps)."""
        return str(self.claims.get("upn") or self.claims.get("appid") or self.app_id)

    async def body(self) -> dict[str, Any]:
        """The JSON object body; 400 ``InvalidRequestBody`` when it is not one."""
        raw = await self.request.body()
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            raise ApiError(400, "InvalidRequestBody", "Request body is incorrect") from None
        if not isinstance(value, dict):
            raise ApiError(400, "InvalidRequestBody", "Request body is incorrect")
        return value


Handler = Callable[[Ctx], Awaitable[Response]]


@dataclass
class EndpointSpec:
    """A documented operation: method, path, surface, permissions, rate-limit family."""

    method: str
    path: str
    surface: str
    app: tuple[str, ...]
    delegated: tuple[str, ...]
    family: str
    handler: Handler = field(repr=False)


REGISTRY: list[EndpointSpec] = []


def api(
    method: str,
    path: str,
    *,
    surface: str,
    app: tuple[str, ...] | None = None,
    delegated: tuple[str, ...] | None = None,
    family: str | None = None,
    page: PagePermissions | None = None,
) -> Callable[[Handler], Handler]:
    """Register a guarded API route.

    The permissions are ``app`` (and ``delegated``, ``app`` when omitted), or ``page``: the
    operation's page reading, its Application and Delegated rows.
    """
    if surface not in AUDIENCES:
        raise ValueError(surface)
    if page is not None:
        app, delegated = page.app, page.delegated
    if app is None:
        raise ValueError(f"{method} {path}: no permissions given")
    allowed = tuple(app)

    def deco(fn: Handler) -> Handler:
        REGISTRY.append(
            EndpointSpec(
                method,
                path,
                surface,
                allowed,
                allowed if delegated is None else tuple(delegated),
                family
                or (
                    "graph_security"
                    if surface == "graph"
                    else "xdr_incidents"
                    if surface == "xdr"
                    else "mde"
                ),
                fn,
            )
        )
        return fn

    return deco


def error_response(
    status: int,
    code: str,
    message: str,
    surface: str,
    headers: dict[str, str] | None = None,
    details: list[Any] | None = None,
) -> JSONResponse:
    """Defender's error body (Graph adds ``innerError``, and ``details`` when given)."""
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    if surface == "graph":
        rid = str(uuid.uuid4())
        err["innerError"] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": rid,
            "client-request-id": rid,
        }
    else:
        err["target"] = str(uuid.uuid4())
    return JSONResponse({"error": err}, status_code=status, headers=headers)


def abort_connection(state: EmulatorState, request: Request) -> None:
    """Drop the TCP connection carrying ``request`` without an answer (a reset)."""
    client = request.scope.get("client")
    server_state = state.server_state
    if server_state is None or client is None:
        return
    for proto in list(getattr(server_state, "connections", ())):
        if tuple(getattr(proto, "client", ()) or ()) == tuple(client):
            transport = getattr(proto, "transport", None)
            if transport is not None:
                transport.abort()


def _fault_applies(state: EmulatorState, spec: EndpointSpec) -> bool:
    routes = state.config["faults"].get("routes")
    if not routes:
        return True
    label = f"{spec.method} {spec.path}"
    return any(fnmatch.fnmatch(label, pat) or fnmatch.fnmatch(spec.path, pat) for pat in routes)


def _authenticate(
    state: EmulatorState, spec: EndpointSpec, request: Request
) -> tuple[dict[str, Any], str] | JSONResponse:
    header = request.headers.get("authorization", "")
    unauthorized_code = "InvalidAuthenticationToken" if spec.surface == "graph" else "Unauthorized"
    if not header.lower().startswith("bearer "):
        return error_response(
            401, unauthorized_code, "Access token is empty or missing.", spec.surface
        )
    claims = decode_token(state, header[7:].strip())
    if claims is None or claims.get("typ") == "refresh":
        return error_response(
            401,
            unauthorized_code,
            "Access token validation failure: invalid or expired token.",
            spec.surface,
        )
    if float(claims.get("iat", 0)) < state.token_cutoff():
        return error_response(
            401,
            unauthorized_code,
            "Lifetime validation failed, the token is expired.",
            spec.surface,
        )
    if claims.get("aud") != AUDIENCES[spec.surface]:
        return error_response(
            401,
            unauthorized_code,
            f"Access token validation failure. Invalid audience '{claims.get('aud')}'.",
            spec.surface,
        )
    return claims, str(claims.get("appid") or claims.get("azp") or "")


def _authorise(spec: EndpointSpec, claims: dict[str, Any]) -> JSONResponse | None:
    delegated = "scp" in claims
    held = (
        set(str(claims.get("scp") or "").split()) if delegated else set(claims.get("roles") or [])
    )
    allowed = spec.delegated if delegated else spec.app
    if held & set(allowed):
        return None
    names = ", ".join(allowed)
    if spec.surface == "graph":
        msg = (
            f"Missing {'scope' if delegated else 'application roles'} permissions on the "
            f"request. API requires one of '{names}'."
        )
    else:
        kind = "delegated" if delegated else "application"
        msg = (
            f"The {'user' if delegated else 'application'} does not have any of the required "
            f"{kind} permissions ({names}) to access the resource."
        )
    return error_response(403, "Forbidden", msg, spec.surface)


#: an injected error answer: its status and Defender's code
_FAULT_ANSWERS = {
    "rate_429": (429, "TooManyRequests"),
    "rate_429_no_retry_after": (429, "TooManyRequests"),
    "rate_500": (500, "InternalServerError"),
    "rate_502": (502, "BadGateway"),
    "rate_503": (503, "ServiceUnavailable"),
}


def _draw_fault(state: EmulatorState, spec: EndpointSpec) -> str | None:
    """One of :data:`FAULT_KINDS` with its configured probability for this route, or ``None``."""
    if not _fault_applies(state, spec):
        return None
    faults = state.config["faults"]
    roll, edge = random.random(), 0.0
    for name in FAULT_KINDS:
        edge += float(faults.get(name) or 0.0)
        if roll < edge:
            return name
    return None


async def _fault_answer(
    state: EmulatorState, spec: EndpointSpec, request: Request, fault: str | None
) -> Response | None:
    """The answer a fault gives before the handler runs (``None``: the request goes on, after a
    pause for ``slow``)."""
    if fault == "slow":
        await asyncio.sleep(float(state.config["faults"].get("slow_seconds") or 30.0))
    elif fault == "reset_before":
        state.count_request(spec.method, spec.path, 0, "", "", spec.family, spec.surface)
        abort_connection(state, request)
        return Response(status_code=500)
    elif fault in _FAULT_ANSWERS:
        status, code = _FAULT_ANSWERS[fault]
        headers = {"Retry-After": "1"} if fault == "rate_429" else None
        state.count_request(spec.method, spec.path, status, "", "", spec.family, spec.surface)
        return error_response(status, code, "Injected fault.", spec.surface, headers)
    return None


async def _answer(
    state: EmulatorState, spec: EndpointSpec, request: Request, claims: dict[str, Any], app_id: str
) -> Response:
    """For an authenticated caller: authorise, admit under the rate limits, run the handler."""
    tenant = state.tenant(str(claims.get("tid", "")))
    denied = _authorise(spec, claims)
    if tenant is None:
        return error_response(401, "Unauthorized", "Unknown tenant.", spec.surface)
    if denied is not None:
        return denied
    refused = state.admit(spec.family, app_id, tenant.tenant_id, f"{spec.method} {spec.path}")
    if refused is not None:
        retry, message = refused
        headers = {"Retry-After": str(retry)}
        return error_response(429, "TooManyRequests", message, spec.surface, headers)
    try:
        return await spec.handler(Ctx(request, state, tenant, claims, app_id, spec))
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, spec.surface, None, exc.details)
    except ODataError as exc:
        return error_response(400, "ODataError", str(exc), spec.surface)


def _wrap(state: EmulatorState, spec: EndpointSpec) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if state.is_retired(spec.surface):  # emulator.retirement: the route itself is gone
            state.count_request(spec.method, spec.path, 404, "", "", spec.family, spec.surface)
            return error_response(404, RETIRED_CODE, retired_message(spec.surface), spec.surface)
        fault = _draw_fault(state, spec)
        early = await _fault_answer(state, spec, request, fault)
        if early is not None:
            return early
        auth = _authenticate(state, spec, request)
        response: Response
        if isinstance(auth, JSONResponse):
            response, tenant_label, app_label = auth, "", ""
        else:
            claims, app_label = auth
            tenant_label = str(claims.get("tid", ""))
            response = await _answer(state, spec, request, claims, app_label)
        state.count_request(
            spec.method,
            spec.path,
            response.status_code,
            tenant_label,
            app_label,
            spec.family,
            spec.surface,
        )
        if fault == "reset_after":
            abort_connection(state, request)
        return response

    return endpoint


def _specificity(path: str) -> tuple[int, ...]:
    """Sort key: per segment, literal < partly templated < a bare ``{param}``."""
    ranks = []
    for seg in path.strip("/").split("/"):
        if "{" not in seg:
            ranks.append(0)
        elif seg.startswith("{") and seg.endswith("}") and seg.count("{") == 1:
            ranks.append(2)
        else:
            ranks.append(1)
    return tuple(ranks)


def routes(state: EmulatorState) -> list[Route]:
    """Starlette routes for every registered endpoint (literal paths before templated ones)."""
    grouped: dict[str, dict[str, EndpointSpec]] = {}
    for spec in REGISTRY:
        grouped.setdefault(spec.path, {})[spec.method] = spec
    ordered = sorted(grouped, key=_specificity)
    out = []
    for path in ordered:
        methods = grouped[path]
        handlers = {m: _wrap(state, s) for m, s in methods.items()}

        async def dispatch(request: Request, _h: dict[str, Any] = handlers) -> Response:
            handler: Callable[[Request], Awaitable[Response]] = _h[request.method]
            return await handler(request)

        out.append(Route(path, dispatch, methods=list(methods)))
    return out
