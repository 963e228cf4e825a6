"""The client's catalog against the emulator's own reading of the identity permission pages.

Both sides were written from Microsoft's pages separately (api/catalog.py for the 403 hints and
the permission tables; emulator/permissions.py for what the emulator accepts). Every permission
the client names must be one the page lists, and the page's least privileged one must be named,
so an operator told "grant X" by a 403 is told something that works.
"""

from __future__ import annotations

from typing import Any

import pytest

from prefect_defender.api.catalog import CATALOG, endpoint
from prefect_defender.emulator.permissions import IDENTITY_PAGES

# catalog entry -> the emulator's page reading
PAIRS = {
    "graph.identity_accounts.list": "identity_accounts.read",
    "graph.identity_accounts.get": "identity_accounts.read",
    "graph.identity_accounts.invoke_action": "identity_accounts.invoke_action",
    "graph.users.get": "users.get",
    "graph.users.member_of": "users.member_of",
    "graph.users.set_enabled": "users.account_enabled",
    "graph.users.revoke_sessions": "users.revoke_sessions",
    "graph.risky_users.list": "risky_users.read",
    "graph.risky_users.get": "risky_users.read",
    "graph.risky_users.confirm_compromised": "risky_users.write",
    "graph.risky_users.dismiss": "risky_users.write",
    "graph.sign_ins.list": "sign_ins.list",
    "graph.risk_detections.list": "risk_detections.list",
    "graph.health_issues.list": "health_issues.list",
}


@pytest.mark.parametrize(("name", "page"), sorted(PAIRS.items()))
def test_the_catalog_names_only_what_the_page_lists(name: str, page: str) -> None:
    ep, read = endpoint(name), IDENTITY_PAGES[page]
    assert set(ep.application) <= set(read.app), (name, read.page)
    assert set(ep.delegated) <= set(read.delegated), (name, read.page)
    assert read.app[0] in ep.application, f"{name}: least privileged {read.app[0]} not named"
    # the delegated least privileged may be one the client leaves out on purpose
    # (User.ReadBasic.All answers without accountEnabled)
    assert set(read.delegated[:2]) & set(ep.delegated), f"{name}: {read.page}"


def _emulator_routes() -> dict[tuple[str, str], Any]:
    import importlib

    from prefect_defender.emulator import guard
    from prefect_defender.emulator.app import ROUTE_MODULES

    for mod in ROUTE_MODULES:
        importlib.import_module(mod)
    return {(s.method, s.path): s for s in guard.REGISTRY}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_permission_the_catalog_names_is_one_the_emulator_accepts(name: str) -> None:
    """The 403 hint names the catalog's permissions: each must be one the emulator's own reading
    of that endpoint's page accepts (Application and Delegated rows alike)."""
    ep = CATALOG[name]
    version = "/beta" if ep.beta else "/v1.0"
    path = (version + ep.path) if ep.surface.value == "graph" else ep.path
    route = _emulator_routes()[(ep.method, path)]
    assert set(ep.application) <= set(route.app), (name, set(ep.application) - set(route.app))
    assert set(ep.delegated) <= set(route.delegated), (
        name,
        set(ep.delegated) - set(route.delegated),
    )
