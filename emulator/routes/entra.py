"""Entra ID: discovery documents, keys, the v2 token endpoint (:mod:`.entra_tokens`), device
code and consent."""

from __future__ import annotations

import secrets
import time

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.routes.bound import StateHandler, bound_routes
from prefect_defender.emulator.routes.entra_protocol import (
    aad_error,
    form_fields,
    issuer_base,
    unknown_tenant,
)
from prefect_defender.emulator.routes.entra_tokens import token_endpoint
from prefect_defender.emulator.state import EmulatorState
from prefect_defender.emulator.tokens import jwks

__all__ = ["routes"]


def routes(state: EmulatorState) -> list[Route]:
    """The Entra routes bound to ``state``."""
    table: list[tuple[str, StateHandler, list[str] | None]] = [
        ("/{tenant}/v2.0/.well-known/openid-configuration", openid, None),
        ("/{tenant}/.well-known/openid-configuration", openid, None),
        ("/{tenant}/discovery/v2.0/keys", keys, None),
        ("/common/discovery/instance", instance, None),
        ("/common/userrealm/{username}", userrealm, None),
        ("/{tenant}/oauth2/v2.0/devicecode", devicecode, ["POST"]),
        ("/{tenant}/oauth2/v2.0/token", token_endpoint, ["POST"]),
        ("/{tenant}/adminconsent", adminconsent, None),
        ("/{tenant}/v2.0/adminconsent", adminconsent, None),
        ("/devicelogin", devicelogin, None),
    ]
    return bound_routes(state, table)


async def openid(state: EmulatorState, request: Request) -> Response:
    """The tenant's OpenID configuration (``common``/``organizations`` too)."""
    tenant = request.path_params["tenant"]
    state.count_discovery("openid-configuration", tenant)
    t = state.tenant(tenant)
    if t is None and tenant not in ("common", "organizations"):
        return unknown_tenant(tenant)
    base, tid = issuer_base(request), (t.tenant_id if t else tenant)
    return JSONResponse(
        {
            "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/{tid}/v2.0",
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "NA",
        }
    )


async def keys(state: EmulatorState, request: Request) -> Response:
    """The signing keys (JWKS)."""
    state.count_discovery("keys", request.path_params["tenant"])
    return JSONResponse(jwks(state))


async def instance(state: EmulatorState, request: Request) -> Response:
    """MSAL's instance discovery: the emulator is its own only alias."""
    state.count_discovery("instance", "common")
    base = issuer_base(request)
    host = base.removeprefix("https://")
    return JSONResponse(
        {
            "tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
    )


async def userrealm(state: EmulatorState, request: Request) -> Response:
    """The user realm: ``Managed`` for a known user."""
    username = request.path_params["username"]
    state.count_discovery("userrealm", username.lower())
    user = state.users.get(username.lower())
    return JSONResponse(
        {
            "ver": "1.0",
            "account_type": "Managed" if user else "Unknown",
            "domain_name": username.split("@")[-1],
            "cloud_instance_name": "microsoftonline.com",
        }
    )


async def devicecode(state: EmulatorState, request: Request) -> Response:
    """Start a device code flow for a public client (15 minutes to approve)."""
    tenant = request.path_params["tenant"]
    t = state.tenant(tenant)
    if t is None:
        return unknown_tenant(tenant)
    form = form_fields(await request.body())
    app = state.app_by_client_id(form.get("client_id", ""))
    if app is None or app.kind != "public":
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id')}' was not "
            f"found in the directory '{t.tenant_id}'.",
        )
    code = secrets.token_urlsafe(24)
    user_code = "-".join(secrets.token_hex(2).upper() for _ in range(2))
    state.device_codes[code] = {
        "client_id": app.client_id,
        "tenant": t.tenant_id,
        "scope": form.get("scope", ""),
        "polls": 0,
        "approved_user": None,
        "expires": time.time() + 900,
    }
    uri = f"{issuer_base(request)}/devicelogin"
    return JSONResponse(
        {
            "device_code": code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": 900,
            "interval": int(state.config.get("device_code_interval", 1)),
            "message": f"To sign in, use a web browser to open the page {uri} and enter the "
            f"code {user_code} to authenticate.",
        }
    )


async def adminconsent(state: EmulatorState, request: Request) -> Response:
    """The admin consent page: ``approve=true`` consents the app in the tenant."""
    tenant = state.tenant(request.path_params["tenant"])
    client_id = request.query_params.get("client_id", "")
    app = state.app_by_client_id(client_id)
    if tenant is None or app is None:
        return HTMLResponse("<h1>Unknown tenant or application</h1>", status_code=400)
    if request.query_params.get("approve") == "true":
        app.consented_tenants.add(tenant.tenant_id)
        return HTMLResponse(f"<h1>Consent granted to {app.name} in {tenant.display_name}</h1>")
    return HTMLResponse(
        f"<h1>{app.name} wants access to {tenant.display_name}</h1>"
        f"<a href='?client_id={client_id}&approve=true'>Accept</a>"
    )


async def devicelogin(state: EmulatorState, request: Request) -> Response:
    """The device login page (codes are approved automatically)."""
    return HTMLResponse("<h1>Emulator device login</h1><p>Codes are approved automatically.</p>")
