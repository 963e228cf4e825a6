"""Routes served outside the guarded API (Entra ID, the admin API, managed identity): handlers
that take the emulator's state with the request, bound to one state by a route table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prefect_defender.emulator.state import EmulatorState

__all__ = ["StateHandler", "bound_routes"]

#: a handler of the emulator's own endpoints: ``(state, request) -> response``
StateHandler = Callable[[EmulatorState, Request], Awaitable[Response]]


def bound_routes(
    state: EmulatorState, table: Sequence[tuple[str, StateHandler, list[str] | None]]
) -> list[Route]:
    """Starlette routes for ``(path, handler, methods)`` rows, each handler bound to ``state``
    (``methods`` ``None``: GET and HEAD)."""
    return [Route(path, _bind(state, handler), methods=methods) for path, handler, methods in table]


def _bind(state: EmulatorState, handler: StateHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(state, request)

    endpoint.__name__ = handler.__name__
    return endpoint
