"""Checks of the emulator's permission guard shared by the page-reading tests."""

from __future__ import annotations

import json

from prefect_defender.emulator.guard import REGISTRY, EndpointSpec, _authorise


def spec_of(method: str, path: str) -> EndpointSpec:
    """The one registered route of ``method`` and ``path`` (as served, version prefix included)."""
    [spec] = [s for s in REGISTRY if s.method == method and s.path == path]
    return spec


def denied(spec: EndpointSpec, claims: dict[str, object]) -> dict[str, object] | None:
    """The guard's refusal of a token with ``claims`` (status and error body), or None."""
    answer = _authorise(spec, claims)
    return None if answer is None else {"status": answer.status_code, **json.loads(answer.body)}


def assert_refused_naming_its_lists(spec: EndpointSpec) -> None:
    """A token with none of the route's permissions gets 403 Forbidden naming every one."""
    for claims, listed in (
        ({"roles": ["Machine.Read.All"]}, spec.app),
        ({"scp": "openid User.Read"}, spec.delegated),
    ):
        answer = denied(spec, claims)
        assert answer is not None and answer["status"] == 403
        message = str(answer["error"]["message"])  # type: ignore[index]
        assert answer["error"]["code"] == "Forbidden"  # type: ignore[index]
        assert all(p in message for p in listed), message
