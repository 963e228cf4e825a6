"""The emulator's ASGI application: Entra ID, the API route modules, the admin API."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator import guard
from prefect_defender.emulator.customer_seed import seed_tenant_data
from prefect_defender.emulator.pki import signing_key
from prefect_defender.emulator.routes import (
    admin,
    entra,
    federation,
    machine_actions,
    managed_identity,
)
from prefect_defender.emulator.seed import is_customer, seed_identities
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["ROUTE_MODULES", "build_app", "build_state"]

#: The API area modules, each registering its routes with ``guard.api``. One line per module.
ROUTE_MODULES = [
    "prefect_defender.emulator.routes.incidents",
    "prefect_defender.emulator.routes.machines",
    "prefect_defender.emulator.routes.graph_incidents",
    "prefect_defender.emulator.routes.identities",
    "prefect_defender.emulator.routes.identity_protection",
    "prefect_defender.emulator.routes.machine_actions",
    "prefect_defender.emulator.routes.machine_extras",
    "prefect_defender.emulator.routes.alerts",
    "prefect_defender.emulator.routes.alert_entities",
    "prefect_defender.emulator.routes.graph_alerts",
    "prefect_defender.emulator.routes.incident_updates",
    "prefect_defender.emulator.routes.indicators",
    "prefect_defender.emulator.routes.hunting",
    "prefect_defender.emulator.routes.enrichment",
    "prefect_defender.emulator.routes.investigations",
    "prefect_defender.emulator.routes.vulnerabilities",
    "prefect_defender.emulator.routes.live_response",
    "prefect_defender.emulator.routes.graph_security",
]

#: Seed hooks of area modules: ``def seed(state, tenant) -> None`` functions, run per customer.
SEED_HOOKS: list[Any] = []


def build_state(data_dir: Path, config: dict[str, Any] | None = None) -> EmulatorState:
    """A seeded state: identities and keys now, each customer tenant's data on its first use."""
    state = EmulatorState(config)
    state.signing_key = signing_key(data_dir)
    seed_identities(state, data_dir)
    hooks = []
    for mod in ROUTE_MODULES:
        hook = getattr(importlib.import_module(mod), "seed", None)
        if hook is not None:
            hooks.append(hook)

    def materialise(tenant: Tenant) -> None:
        seed_tenant_data(state, tenant)
        for hook in hooks:
            hook(state, tenant)

    for tenant in state.tenants.values():
        if is_customer(tenant.name):
            tenant.loader = materialise
            tenant.load_lock = state.lock  # one lock: no order to get wrong between the two
    return state


def _counted(state: EmulatorState, surface: str, routes: list[Route]) -> list[Route]:
    """``routes`` with each request counted for ``surface`` in ``/_emulator/stats``."""

    def wrap(endpoint: Callable[[Request], Awaitable[Response]]) -> Any:
        async def counted(request: Request) -> Response:
            state.count_surface(surface)
            return await endpoint(request)

        return counted

    return [Route(r.path, wrap(r.endpoint), methods=r.methods, name=r.name) for r in routes]


def build_app(state: EmulatorState) -> Starlette:
    """The Starlette app serving ``state``."""
    for mod in ROUTE_MODULES:
        importlib.import_module(mod)

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {
                "error": {
                    "code": "NotFound",
                    "message": f"No route for {request.url.path}",
                    "target": "",
                }
            },
            status_code=404,
        )

    return Starlette(
        routes=[
            *federation.routes(state),
            *managed_identity.routes(state),
            *_counted(state, "entra", entra.routes(state)),
            *admin.routes(state),
            *machine_actions.download_routes(state),
            *guard.routes(state),
        ],
        exception_handlers={404: not_found},
    )
