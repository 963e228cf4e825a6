"""Entra ID's v2 token endpoint: the client credentials, password, device code and refresh token
grants, answered with the tokens (or the ``AADSTS`` errors) Entra ID gives."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.permissions import RESOURCES
from prefect_defender.emulator.routes.entra_client_auth import calling_app
from prefect_defender.emulator.routes.entra_protocol import (
    aad_error,
    form_fields,
    issuer_base,
    unknown_tenant,
)
from prefect_defender.emulator.state import EmulatorState, User
from prefect_defender.emulator.tokens import b64url, decode_token, issue

__all__ = ["token_endpoint"]

RESERVED = {"openid", "profile", "offline_access"}


def _resource(scopes: list[str]) -> tuple[str | None, bool]:
    """The audience named by the scopes and whether it was asked as ``/.default``."""
    for s in scopes:
        res, _, perm = s.rpartition("/")
        aud = RESOURCES.get(res)
        if aud is not None:
            return aud, perm == ".default"
    return None, False


async def token_endpoint(state: EmulatorState, request: Request) -> Response:
    """``POST /{tenant}/oauth2/v2.0/token``: client credentials, password, device code and
    refresh token grants, as Entra ID answers them."""
    tenant_key = request.path_params["tenant"]
    tenant = state.tenant(tenant_key)
    if tenant is None:
        return unknown_tenant(tenant_key)
    form = form_fields(await request.body())
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic ") and "client_id" not in form:
        cid, _, sec = base64.b64decode(basic[6:]).decode().partition(":")
        form.setdefault("client_id", cid)
        form.setdefault("client_secret", sec)
    app = calling_app(state, request, tenant, form)
    if isinstance(app, Response):
        return app
    grant = form.get("grant_type", "")
    scope_text = form.get("scope", "")
    if not scope_text and grant.endswith("device_code"):
        scope_text = str(state.device_codes.get(form.get("device_code", ""), {}).get("scope", ""))
    scopes = [s for s in scope_text.split() if s not in RESERVED]
    resource, granted_default = _resource(scopes)
    if resource is None:
        return aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {form.get('scope', '')} is not valid. Client "
            "credential flows must have a scope value with /.default suffixed to the resource "
            "identifier (application ID URI).",
        )
    lifetime = float(state.config.get("token_lifetime_seconds", 3599))
    if grant == "client_credentials":
        return _app_token(state, tenant, app, resource, granted_default, lifetime, grant)
    user_grant = _USER_GRANTS.get(grant)
    if user_grant is None:
        return aad_error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
        )
    user = user_grant(state, form)
    if isinstance(user, Response):
        return user
    refused = _user_refused(user, tenant)
    if refused is not None:
        return refused
    assert user is not None
    return _user_tokens(state, request, tenant, app, user, resource, scopes, lifetime, grant)


def _access_claims(tenant: Any, app: Any, resource: str) -> dict[str, Any]:
    """The claims every v1.0 access token of ``app`` for ``resource`` in ``tenant`` carries."""
    return {
        "aud": resource,
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "tid": tenant.tenant_id,
        "appid": app.client_id,
        "azp": app.client_id,
    }


def _app_token(
    state: EmulatorState,
    tenant: Any,
    app: Any,
    resource: str,
    granted_default: bool,
    lifetime: float,
    grant: str,
) -> Response:
    """The client credentials grant: an app-only token with the app's roles."""
    if app.kind != "confidential" or not granted_default:
        return aad_error(
            400,
            "invalid_scope",
            1002012,
            "Client credential flows must have a scope value with /.default suffixed.",
        )
    access = issue(
        state,
        {
            **_access_claims(tenant, app, resource),
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, app.client_id + tenant.tenant_id)),
            "sub": app.client_id,
            "roles": list(app.roles.get(resource, [])),
            "idtyp": "app",
            "ver": "1.0",
        },
        lifetime,
    )
    state.count_token(tenant.tenant_id, resource, grant, app.client_id)
    return JSONResponse(
        {
            "token_type": "Bearer",
            "expires_in": int(lifetime),
            "ext_expires_in": int(lifetime),
            "access_token": access,
        }
    )


def _password_user(state: EmulatorState, form: dict[str, str]) -> User | Response | None:
    """ROPC: the user whose password matches."""
    user = state.users.get(form.get("username", "").lower())
    if user is None or not secrets.compare_digest(user.password, form.get("password", "")):
        return aad_error(
            400,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    return user


def _device_code_user(state: EmulatorState, form: dict[str, str]) -> User | Response | None:
    """The device code grant: pending until the code is approved (or the configured polls)."""
    entry = state.device_codes.get(form.get("device_code", ""))
    if entry is None or entry["expires"] < time.time():
        return aad_error(
            400,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    entry["polls"] += 1
    pending = int(state.config.get("device_code_pending_polls", 1))
    if entry["approved_user"] is None and entry["polls"] <= pending:
        return aad_error(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    user = state.users.get(entry["approved_user"] or "") or next(
        (u for u in state.users.values() if u.tenant_id == entry["tenant"]), None
    )
    del state.device_codes[form["device_code"]]
    return user


def _refresh_token_user(state: EmulatorState, form: dict[str, str]) -> User | Response | None:
    """The refresh token grant: the token's user, unless its sessions were revoked since."""
    claims = decode_token(state, form.get("refresh_token", ""))
    if claims is None or claims.get("typ") != "refresh":
        return aad_error(
            400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
        )
    user = next((u for u in state.users.values() if u.oid == claims.get("oid")), None)
    if user is None or float(claims.get("iat", 0)) < user.revoked_before:
        return aad_error(
            400,
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity. The token was issued on "
            f"{datetime.fromtimestamp(claims.get('iat', 0), UTC)} and was inactive for "
            "90.00:00:00.",
            {"suberror": "bad_token"},
        )
    return user


#: the user grants, by ``grant_type`` (the device code grant under both names msal sends)
_USER_GRANTS: dict[str, Any] = {
    "password": _password_user,
    "urn:ietf:params:oauth:grant-type:device_code": _device_code_user,
    "device_code": _device_code_user,
    "refresh_token": _refresh_token_user,
}


def _user_refused(user: User | None, tenant: Any) -> Response | None:
    """Entra ID's answer for a user that does not exist, is in another tenant or disabled."""
    if user is None:
        return aad_error(400, "invalid_grant", 50034, "The user account does not exist.")
    if user.tenant_id != tenant.tenant_id:
        return aad_error(
            400,
            "invalid_grant",
            50020,
            "User account from identity provider does not exist in tenant.",
        )
    if user.disabled:
        return aad_error(
            400,
            "invalid_grant",
            50057,
            "The user account is disabled. The user object in Active Directory backing this "
            "account has been disabled.",
        )
    return None


def _user_tokens(
    state: EmulatorState,
    request: Request,
    tenant: Any,
    app: Any,
    user: User,
    resource: str,
    scopes: list[str],
    lifetime: float,
    grant: str,
) -> Response:
    """A delegated access token with the user's scopes, a refresh token and an ID token."""
    scp = list(user.scopes.get(resource, []))
    access = issue(
        state,
        {
            **_access_claims(tenant, app, resource),
            "oid": user.oid,
            "sub": user.oid,
            "upn": user.username,
            "unique_name": user.username,
            "name": user.display_name,
            "scp": " ".join(scp),
            "idtyp": "user",
            "ver": "1.0",
        },
        lifetime,
    )
    client_info = b64url(json.dumps({"uid": user.oid, "utid": tenant.tenant_id}).encode())
    state.count_token(tenant.tenant_id, resource, grant, app.client_id)
    granted = sorted({*scopes, *(f"{resource}/{p}" for p in scp)})
    return JSONResponse(
        {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": int(lifetime),
            "ext_expires_in": int(lifetime),
            "access_token": access,
            "refresh_token": _refresh_token(state, tenant, app, user),
            "id_token": _id_token(state, request, tenant, app, user, lifetime),
            "client_info": client_info,
        }
    )


def _refresh_token(state: EmulatorState, tenant: Any, app: Any, user: User) -> str:
    """A refresh token of ``user`` for ``app`` (90 days unless configured)."""
    return issue(
        state,
        {"typ": "refresh", "oid": user.oid, "tid": tenant.tenant_id, "cid": app.client_id},
        float(state.config.get("refresh_token_lifetime_seconds", 90 * 86400)),
    )


def _id_token(
    state: EmulatorState, request: Request, tenant: Any, app: Any, user: User, lifetime: float
) -> str:
    """A v2.0 ID token of ``user`` for ``app``."""
    return issue(
        state,
        {
            "aud": app.client_id,
            "iss": f"{issuer_base(request)}/{tenant.tenant_id}/v2.0",
            "tid": tenant.tenant_id,
            "oid": user.oid,
            "sub": user.oid,
            "preferred_username": user.username,
            "name": user.display_name,
            "ver": "2.0",
        },
        lifetime,
    )
