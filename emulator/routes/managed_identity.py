"""Managed identity endpoints, as the Azure hosts serve them to code running on them.

Written from Microsoft's pages (App Service "REST endpoint reference", IMDS "How to use managed
identities on a VM to acquire an access token", Azure Arc "Authenticate against Azure resources
with Azure Arc-enabled servers"):

* **App Service / Container Apps / Functions**: ``GET /msi/token?api-version=2019-08-01&
  resource=...`` (the URL a host puts in ``IDENTITY_ENDPOINT``) with the header
  ``X-IDENTITY-HEADER: $IDENTITY_HEADER``; a user-assigned identity is chosen with
  ``client_id``, ``object_id`` or ``mi_res_id``. The answer carries ``expires_on`` (epoch
  seconds) and ``client_id``.
* **IMDS (VM)**: ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...``
  with ``Metadata: true``; ``client_id``, ``object_id`` or ``msi_res_id``. Answers with
  ``expires_in`` as a string.
* **Azure Arc**: the same path with ``api-version=2020-06-01``: a first request is refused with
  ``401`` and ``WWW-Authenticate: Basic realm=<path of a .key file>`` that the agent wrote; the
  request is repeated with ``Authorization: Basic <file content>``.

On Azure these endpoints are plain http on the machine; here they are served by the emulator's
HTTPS listener (127.0.0.1). Identities live under the ``managed_identities`` knob; the default is
a system-assigned identity and one user-assigned identity (``soc-worker``) in the contoso tenant.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.permissions import APP_ROLES, RESOURCES
from prefect_defender.emulator.routes.bound import bound_routes
from prefect_defender.emulator.state import EmulatorState, tenant_guid
from prefect_defender.emulator.tokens import issue

__all__ = ["default_identities", "routes"]

_SUB = "00000000-0000-0000-0000-00000000c0de"


def default_identities() -> dict[str, dict[str, Any]]:
    """The seeded identities: a system-assigned one and the user-assigned ``soc-worker``."""
    contoso = tenant_guid("contoso")
    rg = f"/subscriptions/{_SUB}/resourcegroups/soc-automation/providers"
    return {
        "system": {
            "tenant_id": contoso,
            "client_id": tenant_guid("mi-system-worker"),
            "object_id": tenant_guid("mi-system-worker-oid"),
            "resource_id": f"{rg}/Microsoft.Web/sites/prefect-worker",
            "roles": "all",
        },
        "soc-worker": {
            "tenant_id": contoso,
            "client_id": tenant_guid("mi-soc-worker"),
            "object_id": tenant_guid("mi-soc-worker-oid"),
            "resource_id": f"{rg}/Microsoft.ManagedIdentity/userAssignedIdentities/soc-worker",
            "roles": "all",
        },
    }


def _identities(state: EmulatorState) -> dict[str, dict[str, Any]]:
    conf = state.config.get("managed_identities")
    return default_identities() if conf is None else dict(conf)


def identity_header(state: EmulatorState) -> str:
    """The secret an App Service host puts in ``IDENTITY_HEADER`` (made once per emulator)."""
    with state.lock:
        value: str | None = getattr(state, "identity_header", None)
        if value is None:
            value = secrets.token_urlsafe(24)
            state.identity_header = value  # type: ignore[attr-defined]
        return value


def connection_info(state: EmulatorState) -> dict[str, Any]:
    """What ``connection.json`` says about the identity endpoints."""
    return {
        "identity_header": identity_header(state),
        "identities": {
            name: {k: v for k, v in spec.items() if k != "roles"}
            for name, spec in _identities(state).items()
        },
    }


def _pick(state: EmulatorState, params: dict[str, str], res_key: str) -> dict[str, Any] | None:
    ids = _identities(state)
    for key, field in (("client_id", "client_id"), ("object_id", "object_id"), (res_key, "rid")):
        wanted = params.get(key)
        if wanted:
            for name, spec in ids.items():
                if name == "system":
                    continue
                have = spec["resource_id"] if field == "rid" else spec[field]
                if str(have).lower() == wanted.lower():
                    return spec
            return None
    return ids.get("system")


def _token(state: EmulatorState, spec: dict[str, Any], resource: str) -> tuple[str, int]:
    aud = RESOURCES[resource.rstrip("/")]
    roles = spec.get("roles", "all")
    granted = list(APP_ROLES.get(aud, [])) if roles == "all" else list(roles.get(aud, []))
    lifetime = int(float(state.config.get("token_lifetime_seconds", 3599)))
    tid = spec["tenant_id"]
    token = issue(
        state,
        {
            "aud": aud,
            "iss": f"https://sts.windows.net/{tid}/",
            "tid": tid,
            "appid": spec["client_id"],
            "azp": spec["client_id"],
            "oid": spec["object_id"],
            "sub": spec["object_id"],
            "roles": granted,
            "idtyp": "app",
            "xms_mirid": spec["resource_id"],
            "ver": "1.0",
        },
        lifetime,
    )
    state.count_token(tid, aud, "managed_identity", spec["client_id"])
    return token, lifetime


def _arc_dir(state: EmulatorState) -> Path:
    configured = state.config.get("arc_tokens_dir")
    with state.lock:
        path: Path | None = getattr(state, "arc_dir", None)
        if configured:
            path = Path(configured)
        elif path is None:
            path = Path(tempfile.mkdtemp(prefix="emulator-arc-"))
            state.arc_dir = path  # type: ignore[attr-defined]
    path.mkdir(parents=True, exist_ok=True)
    return path


def routes(state: EmulatorState) -> list[Route]:
    """App Service and IMDS/Arc identity endpoints bound to ``state``."""
    return bound_routes(
        state,
        [("/msi/token", app_service, None), ("/metadata/identity/oauth2/token", imds, None)],
    )


async def app_service(state: EmulatorState, request: Request) -> Response:
    """App Service's identity endpoint (``X-IDENTITY-HEADER``, api-version 2019-08-01)."""
    q = dict(request.query_params)
    if request.headers.get("x-identity-header") != identity_header(state):
        return JSONResponse(
            {"statusCode": 401, "message": "Unauthorized: missing or wrong X-IDENTITY-HEADER"},
            status_code=401,
        )
    if q.get("api-version") != "2019-08-01":
        return JSONResponse(
            {"statusCode": 400, "message": "Unsupported api-version"}, status_code=400
        )
    resource = q.get("resource", "")
    if resource.rstrip("/") not in RESOURCES:
        return JSONResponse(
            {"statusCode": 500, "message": f"Unable to acquire a token for {resource}"},
            status_code=500,
        )
    spec = _pick(state, q, "mi_res_id")
    if spec is None:
        return JSONResponse(
            {"statusCode": 400, "message": "No managed identity matches the given id"},
            status_code=400,
        )
    token, lifetime = _token(state, spec, resource)
    return JSONResponse(
        {
            "access_token": token,
            "expires_on": str(int(time.time()) + lifetime),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": spec["client_id"],
        }
    )


async def imds(state: EmulatorState, request: Request) -> Response:
    """IMDS's token endpoint, and Azure Arc's (api-version 2020-06-01, a key-file challenge)."""
    q = dict(request.query_params)
    if request.headers.get("metadata", "").lower() != "true":
        return _imds_error(400, "invalid_request", "Required metadata header not specified")
    arc = q.get("api-version") == "2020-06-01"
    refused = _arc_challenge(state, request) if arc else _imds_version(q)
    if refused is not None:
        return refused
    resource = q.get("resource", "")
    if resource.rstrip("/") not in RESOURCES:
        return _imds_error(
            400,
            "invalid_resource",
            f"AADSTS500011: The resource principal named {resource} was not found in the tenant.",
        )
    spec = _pick(state, q, "msi_res_id")
    if spec is None:
        return _imds_error(400, "invalid_request", "Identity not found")
    token, lifetime = _token(state, spec, resource)
    now = int(time.time())
    body = {
        "access_token": token,
        "refresh_token": "",
        "expires_in": str(lifetime),
        "expires_on": str(now + lifetime),
        "not_before": str(now),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": spec["client_id"],
    }
    if arc and q.get("msi_res_id"):
        body["msi_res_id"] = spec["resource_id"]
    return JSONResponse(body)


def _imds_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _imds_version(q: dict[str, str]) -> Response | None:
    """400 unless IMDS knows the api-version."""
    if q.get("api-version") not in ("2018-02-01", "2019-08-01", "2021-02-01"):
        return _imds_error(400, "invalid_request", "Invalid api-version")
    return None


def _arc_challenge(state: EmulatorState, request: Request) -> Response | None:
    """Azure Arc's challenge: without a key, 401 naming a fresh key file; with one, 401 unless
    it is that file's content; ``None`` once the key matches."""
    auth = request.headers.get("authorization", "")
    key_file = _arc_dir(state) / "arc.key"
    if not auth.lower().startswith("basic "):
        key_file.write_text(secrets.token_urlsafe(24))
        return Response(status_code=401, headers={"WWW-Authenticate": f"Basic realm={key_file}"})
    if not key_file.exists() or not secrets.compare_digest(auth[6:].strip(), key_file.read_text()):
        return _imds_error(401, "invalid_request", "Invalid key")
    return None
