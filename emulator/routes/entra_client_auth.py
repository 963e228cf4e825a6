"""Who is calling Entra ID's token endpoint: the registered app, consented in the tenant, with its
client authenticated by a secret, a certificate-signed assertion or a federated assertion
(:mod:`.federation`)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse

from prefect_defender.emulator.routes import federation
from prefect_defender.emulator.routes.entra_protocol import aad_error, issuer_base
from prefect_defender.emulator.state import App, EmulatorState
from prefect_defender.emulator.tokens import unverified_header

__all__ = ["calling_app"]


def calling_app(state: EmulatorState, request: Request, tenant: Any, form: dict[str, str]) -> Any:
    """The registered app of the request (consented in ``tenant``, its client authenticated),
    or the error response Entra ID gives."""
    app = state.app_by_client_id(form.get("client_id", ""))
    if app is None:
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id')}' was not found in the "
            f"directory '{tenant.tenant_id}'.",
        )
    if tenant.tenant_id not in app.consented_tenants and tenant.tenant_id != app.home_tenant:
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{app.client_id}' was not found in the directory "
            f"'{tenant.display_name}'. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any user in the "
            "tenant.",
        )
    if app.kind == "confidential":
        endpoint_url = f"{issuer_base(request)}/{request.path_params['tenant']}/oauth2/v2.0/token"
        failure = (
            federation.check(state, app, form, issuer_base(request))
            if federation.is_federated(app, form)
            else _client_auth(app, form, endpoint_url)
        )
        if failure is not None:
            return failure
    return app


def _client_auth(app: App, form: dict[str, str], endpoint_url: str) -> JSONResponse | None:
    if "client_assertion" in form:
        return _check_assertion(app, form.get("client_assertion", ""), endpoint_url)
    given = form.get("client_secret")
    if not given:
        return aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the "
            "following parameter: 'client_assertion' or 'client_secret'.",
        )
    if app.client_secret is None or not secrets.compare_digest(given, app.client_secret):
        return aad_error(
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
        return aad_error(
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
        return aad_error(
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
