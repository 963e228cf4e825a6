"""Entra ID: discovery documents, keys, the v2 token endpoint, device code and consent."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.routes import federation
from prefect_defender.emulator.state import RESOURCES, App, EmulatorState, User
from prefect_defender.emulator.tokens import b64url, decode_token, issue, jwks, unverified_header

__all__ = ["routes"]

RESERVED = {"openid", "profile", "offline_access"}


def _base(request: Request) -> str:
    return f"https://{request.headers.get('host', request.url.netloc)}"


def _aad_error(
    status: int, error: str, code: int, description: str, extra: dict[str, Any] | None = None
) -> JSONResponse:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
        f"{corr} Timestamp: {now}",
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": corr,
        **(extra or {}),
    }
    return JSONResponse(body, status_code=status)


def _unknown_tenant(tenant: str) -> JSONResponse:
    return _aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud.",
    )


def routes(state: EmulatorState) -> list[Route]:
    """The Entra routes bound to ``state``."""

    async def openid(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        state.count_discovery("openid-configuration", tenant)
        t = state.tenant(tenant)
        if t is None and tenant not in ("common", "organizations"):
            return _unknown_tenant(tenant)
        base, tid = _base(request), (t.tenant_id if t else tenant)
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

    async def keys(request: Request) -> Response:
        state.count_discovery("keys", request.path_params["tenant"])
        return JSONResponse(jwks(state))

    async def instance(request: Request) -> Response:
        state.count_discovery("instance", "common")
        base = _base(request)
        host = base.removeprefix("https://")
        return JSONResponse(
            {
                "tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [
                    {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
                ],
            }
        )

    async def userrealm(request: Request) -> Response:
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

    async def devicecode(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        t = state.tenant(tenant)
        if t is None:
            return _unknown_tenant(tenant)
        form = _form(await request.body())
        app = state.app_by_client_id(form.get("client_id", ""))
        if app is None or app.kind != "public":
            return _aad_error(
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
        uri = f"{_base(request)}/devicelogin"
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

    async def token(request: Request) -> Response:
        return await _token_endpoint(state, request)

    async def adminconsent(request: Request) -> Response:
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

    async def devicelogin(request: Request) -> Response:
        return HTMLResponse(
            "<h1>Emulator device login</h1><p>Codes are approved automatically.</p>"
        )

    return [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid),
        Route("/{tenant}/.well-known/openid-configuration", openid),
        Route("/{tenant}/discovery/v2.0/keys", keys),
        Route("/common/discovery/instance", instance),
        Route("/common/userrealm/{username}", userrealm),
        Route("/{tenant}/oauth2/v2.0/devicecode", devicecode, methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/{tenant}/adminconsent", adminconsent),
        Route("/{tenant}/v2.0/adminconsent", adminconsent),
        Route("/devicelogin", devicelogin),
    ]


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def _resource(scopes: list[str]) -> tuple[str | None, bool]:
    """The audience named by the scopes and whether it was asked as ``/.default``."""
    for s in scopes:
        res, _, perm = s.rpartition("/")
        aud = RESOURCES.get(res)
        if aud is not None:
            return aud, perm == ".default"
    return None, False


def _client_auth(app: App, form: dict[str, str], endpoint_url: str) -> JSONResponse | None:
    if "client_assertion" in form:
        return _check_assertion(app, form.get("client_assertion", ""), endpoint_url)
    given = form.get("client_secret")
    if not given:
        return _aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the "
            "following parameter: 'client_assertion' or 'client_secret'.",
        )
    if app.client_secret is None or not secrets.compare_digest(given, app.client_secret):
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. "
            "Ensure the secret being sent in the request is the client secret "
            "value, not the client secret ID, for a secret added to app "
            f"'{app.client_id}'.",
        )
    return None


def _check_assertion(app: App, assertion: str, endpoint_url: str) -> JSONResponse | None:
    def bad(desc: str) -> JSONResponse:
        return _aad_error(
            401, "invalid_client", 700027, f"Client assertion failed signature validation. {desc}"
        )

    if app.certificate is None:
        return bad("No certificate is registered for this application.")
    head = unverified_header(assertion)
    x5t, x5t256 = head.get("x5t"), head.get("x5t#S256")
    der_sha1 = app.cert_sha1 or ""
    der_sha256 = app.cert_sha256 or ""
    matches = (x5t and _b64_hex(x5t) == der_sha1) or (x5t256 and _b64_hex(x5t256) == der_sha256)
    if not matches:
        return _aad_error(
            401,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found.]",
        )
    cert: x509.Certificate = app.certificate
    pub = cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    alg = head.get("alg")
    if alg not in ("RS256", "PS256"):
        return bad(f"Unsupported algorithm {alg}.")
    try:
        claims = jwt.decode(
            assertion,
            pub,
            algorithms=[alg],
            audience=endpoint_url,
            options={"require": ["exp", "aud", "iss", "sub"]},
        )
    except jwt.InvalidAudienceError:
        return bad("The audience of the assertion is not the token endpoint.")
    except jwt.PyJWTError as exc:
        return bad(str(exc))
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        return bad("iss and sub must be the client id.")
    _ = padding  # PS256 verification is done by PyJWT with the certificate's RSA key
    return None


def _b64_hex(value: str) -> str:
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded).hex().upper()
    except ValueError:
        return ""


async def _token_endpoint(state: EmulatorState, request: Request) -> Response:
    """``POST /{tenant}/oauth2/v2.0/token``: client credentials, password, device code and
    refresh token grants, as Entra ID answers them."""
    tenant_key = request.path_params["tenant"]
    tenant = state.tenant(tenant_key)
    if tenant is None:
        return _unknown_tenant(tenant_key)
    form = _form(await request.body())
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic ") and "client_id" not in form:
        cid, _, sec = base64.b64decode(basic[6:]).decode().partition(":")
        form.setdefault("client_id", cid)
        form.setdefault("client_secret", sec)
    app = _calling_app(state, request, tenant, form)
    if isinstance(app, Response):
        return app
    grant = form.get("grant_type", "")
    scope_text = form.get("scope", "")
    if not scope_text and grant.endswith("device_code"):
        scope_text = str(state.device_codes.get(form.get("device_code", ""), {}).get("scope", ""))
    scopes = [s for s in scope_text.split() if s not in RESERVED]
    resource, granted_default = _resource(scopes)
    if resource is None:
        return _aad_error(
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
        return _aad_error(
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


def _calling_app(state: EmulatorState, request: Request, tenant: Any, form: dict[str, str]) -> Any:
    """The registered app of the request (consented in ``tenant``, its client authenticated),
    or the error response Entra ID gives."""
    app = state.app_by_client_id(form.get("client_id", ""))
    if app is None:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id')}' was not found in the "
            f"directory '{tenant.tenant_id}'.",
        )
    if tenant.tenant_id not in app.consented_tenants and tenant.tenant_id != app.home_tenant:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{app.client_id}' was not found in the directory "
            f"'{tenant.display_name}'. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any user in the "
            "tenant.",
        )
    if app.kind == "confidential":
        endpoint_url = f"{_base(request)}/{request.path_params['tenant']}/oauth2/v2.0/token"
        failure = (
            federation.check(state, app, form, _base(request))
            if federation.is_federated(app, form)
            else _client_auth(app, form, endpoint_url)
        )
        if failure is not None:
            return failure
    return app


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
        return _aad_error(
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
        return _aad_error(
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
        return _aad_error(
            400,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid.",
        )
    entry["polls"] += 1
    pending = int(state.config.get("device_code_pending_polls", 1))
    if entry["approved_user"] is None and entry["polls"] <= pending:
        return _aad_error(
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
        return _aad_error(
            400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
        )
    user = next((u for u in state.users.values() if u.oid == claims.get("oid")), None)
    if user is None or float(claims.get("iat", 0)) < user.revoked_before:
        return _aad_error(
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
        return _aad_error(400, "invalid_grant", 50034, "The user account does not exist.")
    if user.tenant_id != tenant.tenant_id:
        return _aad_error(
            400,
            "invalid_grant",
            50020,
            "User account from identity provider does not exist in tenant.",
        )
    if user.disabled:
        return _aad_error(
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
    refresh = issue(
        state,
        {"typ": "refresh", "oid": user.oid, "tid": tenant.tenant_id, "cid": app.client_id},
        float(state.config.get("refresh_token_lifetime_seconds", 90 * 86400)),
    )
    id_token = issue(
        state,
        {
            "aud": app.client_id,
            "iss": f"{_base(request)}/{tenant.tenant_id}/v2.0",
            "tid": tenant.tenant_id,
            "oid": user.oid,
            "sub": user.oid,
            "preferred_username": user.username,
            "name": user.display_name,
            "ver": "2.0",
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
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info,
        }
    )
