"""Clouds resolve to documented hosts; overrides are https only; errors map by status."""

from __future__ import annotations

import pytest

from prefect_defender.api.clouds import Surface, cloud_endpoints
from prefect_defender.api.errors import (
    ActionAlreadyInProgressError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    error_from_response,
)


@pytest.mark.parametrize(
    "cloud,mde,graph",
    [
        ("commercial", "https://api.security.microsoft.com", "https://graph.microsoft.com/v1.0"),
        ("gcc", "https://api-gcc.securitycenter.microsoft.us", "https://graph.microsoft.com/v1.0"),
        (
            "gcc-high",
            "https://api-gov.securitycenter.microsoft.us",
            "https://graph.microsoft.us/v1.0",
        ),
        (
            "dod",
            "https://api-gov.securitycenter.microsoft.us",
            "https://dod-graph.microsoft.us/v1.0",
        ),
    ],
)
def test_presets(cloud: str, mde: str, graph: str) -> None:
    ep = cloud_endpoints(cloud)
    assert ep.mde_base_url == mde
    assert ep.graph_base_url == graph
    assert ep.scope(Surface.GRAPH).endswith("/.default")


def test_unknown_cloud() -> None:
    with pytest.raises(ValueError, match="unknown cloud 'azure-china'"):
        cloud_endpoints("azure-china")


@pytest.mark.parametrize(
    "field", ["authority_host", "mde_base_url", "xdr_base_url", "graph_base_url"]
)
def test_http_override_refused(field: str) -> None:
    with pytest.raises(ValueError, match="https"):
        cloud_endpoints("commercial", **{field: "http://127.0.0.1:8080"})


def test_scope_override_shape() -> None:
    with pytest.raises(ValueError, match=r"\.default"):
        cloud_endpoints("gcc", mde_scope="https://api-gcc.securitycenter.microsoft.us")


@pytest.mark.parametrize(
    "status,body,cls",
    [
        (400, {"error": {"code": "InvalidRequestBody", "message": "bad"}}, BadRequestError),
        (
            400,
            {"error": {"code": "BadRequest", "message": "Action is already in progress"}},
            ActionAlreadyInProgressError,
        ),
        (
            400,
            {"error": {"code": "ActiveRequestAlreadyExists", "message": "x"}},
            ActionAlreadyInProgressError,
        ),
        (401, {"error": {"code": "Unauthorized", "message": "x"}}, AuthenticationError),
        (403, {"error": {"code": "Forbidden", "message": "x"}}, PermissionDeniedError),
        (
            404,
            {
                "error": {
                    "code": "ResourceNotFound",
                    "message": "Machine 1 was not found",
                    "target": "abc",
                }
            },
            NotFoundError,
        ),
        (429, {"error": {"code": "TooManyRequests", "message": "quota"}}, RateLimitedError),
        (503, None, ServerError),
    ],
)
def test_error_mapping(status: int, body: object, cls: type) -> None:
    err = error_from_response(status, body, method="GET", url="https://h/api/x", text="oops")
    assert isinstance(err, cls)
    assert err.status == status
    if isinstance(body, dict):
        assert err.code == body["error"]["code"]
        assert body["error"]["message"] in str(err)


def test_graph_inner_error_request_id() -> None:
    body = {
        "error": {
            "code": "Forbidden",
            "message": "Missing role",
            "innerError": {"request-id": "rid-1", "date": "x"},
        }
    }
    err = error_from_response(403, body, method="GET", url="https://g/x")
    assert err.request_id == "rid-1"
