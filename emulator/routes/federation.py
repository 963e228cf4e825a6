"""Workload identity federation: the emulator's own OIDC issuer and Entra's FIC checks.

Written from Microsoft's contract (federatedIdentityCredential resource: ``issuer``,
``subject``, ``audiences`` with ``api://AzureADTokenExchange`` the recommended audience; the
workload identity federation pages; Entra's AADSTS codes), not from the client.

* **Issuer.** ``/oidc/{name}`` is an OIDC issuer like an AKS cluster's: discovery document at
  ``/oidc/{name}/.well-known/openid-configuration`` and keys at ``/oidc/{name}/keys``. The test
  hook ``POST /_emulator/oidc/{name}/token`` mints a token of that issuer (what the kubelet
  projects into ``AZURE_FEDERATED_TOKEN_FILE``).
* **Federated identity credentials** are configured per app under the ``federated_credentials``
  knob (``{app: [{name, issuer, subject, audiences}]}``); ``{emulator}`` in an issuer stands for
  this emulator's base URL. Defaults: the ``soc`` app trusts subject
  ``system:serviceaccount:soc:prefect-worker`` and the ``partner`` app
  ``system:serviceaccount:mssp:prefect-worker`` of issuer ``{emulator}/oidc/aks``.
* **Token endpoint.** A ``client_assertion`` whose ``iss`` is not the app's client id is an
  external (federated) assertion. As Entra does: the issuer must match a credential exactly
  (AADSTS700211), the signature must verify with the issuer's published key (AADSTS700027),
  the assertion must be within its validity window (AADSTS700024), then subject (AADSTS700213)
  and audience (AADSTS700212) must match that credential, all compared case-sensitively. An app
  without any federated credential answers AADSTS70021.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefect_defender.emulator.routes.entra_protocol import aad_error
from prefect_defender.emulator.state import App, EmulatorState
from prefect_defender.emulator.tokens import b64url, unverified_claims, unverified_header

__all__ = ["DEFAULT_FEDERATED_CREDENTIALS", "TOKEN_EXCHANGE_AUDIENCE", "check", "is_federated"]

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"

DEFAULT_FEDERATED_CREDENTIALS: dict[str, list[dict[str, Any]]] = {
    "soc": [
        {
            "name": "aks-soc-worker",
            "issuer": "{emulator}/oidc/aks",
            "subject": "system:serviceaccount:soc:prefect-worker",
            "audiences": [TOKEN_EXCHANGE_AUDIENCE],
        }
    ],
    "partner": [
        {
            "name": "aks-mssp-worker",
            "issuer": "{emulator}/oidc/aks",
            "subject": "system:serviceaccount:mssp:prefect-worker",
            "audiences": [TOKEN_EXCHANGE_AUDIENCE],
        }
    ],
}


def _issuer_keys(state: EmulatorState) -> dict[str, rsa.RSAPrivateKey]:
    keys: dict[str, rsa.RSAPrivateKey] | None = getattr(state, "oidc_issuer_keys", None)
    if keys is None:
        keys = {}
        state.oidc_issuer_keys = keys  # type: ignore[attr-defined]
    return keys


def _key(state: EmulatorState, name: str) -> rsa.RSAPrivateKey:
    keys = _issuer_keys(state)
    with state.lock:
        if name not in keys:
            keys[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return keys[name]


def _kid(name: str) -> str:
    return f"oidc-{name}-1"


def _base(request: Request) -> str:
    return f"https://{request.headers.get('host', request.url.netloc)}"


def _credentials(state: EmulatorState, app: App, base: str) -> list[dict[str, Any]]:
    conf = state.config.get("federated_credentials")
    table = DEFAULT_FEDERATED_CREDENTIALS if conf is None else conf
    out = []
    for fic in table.get(app.name, []):
        out.append({**fic, "issuer": str(fic["issuer"]).replace("{emulator}", base)})
    return out


def is_federated(app: App, form: dict[str, str]) -> bool:
    """True when the request carries an assertion issued by someone other than the app."""
    assertion = form.get("client_assertion")
    if not assertion:
        return False
    return unverified_claims(assertion).get("iss") != app.client_id


def _err(code: int, description: str, status: int = 401) -> JSONResponse:
    return aad_error(status, "invalid_client", code, description, {"error_uri": _DOCS})


def _no_record(code: int, claim: str, value: Any, hint: str) -> JSONResponse:
    """No federated credential matches the assertion's ``claim``."""
    return _err(
        code,
        f"No matching federated identity record found for presented assertion {claim} "
        f"'{value}'. {hint}",
    )


def check(state: EmulatorState, app: App, form: dict[str, str], base: str) -> JSONResponse | None:
    """``None`` when the federated assertion satisfies one of the app's credentials."""
    assertion = form.get("client_assertion", "")
    if form.get("client_assertion_type") != JWT_BEARER:
        return _err(
            7000219,
            "'client_assertion_type' must be 'urn:ietf:params:oauth:client-assertion-"
            "type:jwt-bearer'.",
            400,
        )
    claims = unverified_claims(assertion)
    iss, sub, aud = claims.get("iss"), claims.get("sub"), claims.get("aud")
    fics = _credentials(state, app, base)
    hint = "Please check your federated identity credential Subject, Audience and Issuer against "
    hint += f"the presented assertion. {_DOCS}"
    if not fics:
        return _err(
            70021,
            "No matching federated identity record found for presented assertion. Assertion "
            f"Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'. {hint}",
        )
    by_issuer = [f for f in fics if f["issuer"] == iss]
    if not by_issuer:
        return _no_record(700211, "issuer", iss, hint)
    failure = _signature_and_lifetime(state, assertion, str(iss), base)
    if failure is not None:
        return failure
    return _subject_and_audience(by_issuer, sub, aud, hint)


def _signature_and_lifetime(
    state: EmulatorState, assertion: str, iss: str, base: str
) -> JSONResponse | None:
    """``None`` when the assertion is signed by the issuer's published key and is within its
    validity window (five minutes of clock skew before ``nbf``)."""
    # the issuer's keys, as published at its jwks_uri
    prefix = f"{base}/oidc/"
    name = iss[len(prefix) :] if iss.startswith(prefix) else None
    head = unverified_header(assertion)
    if name is None or "/" in name or head.get("kid") != _kid(name):
        return _err(
            700027,
            "Client assertion failed signature validation. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{head.get('kid')}']",
        )
    try:
        verified = jwt.decode(
            assertion,
            _key(state, name).public_key(),
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "require": ["exp", "sub"]},
        )
    except jwt.PyJWTError:
        return _err(700027, "Client assertion failed signature validation.")
    now = time.time()
    exp, nbf = float(verified.get("exp", 0)), float(verified.get("nbf", verified.get("iat", 0)))
    if not (nbf - 300 <= now < exp):
        fmt = "%m/%d/%Y %H:%M:%S"
        return _err(
            700024,
            "Client assertion is not within its valid time range. Current time: "
            f"{datetime.fromtimestamp(now, UTC).strftime(fmt)}, assertion valid from "
            f"{datetime.fromtimestamp(nbf, UTC).strftime(fmt)}, expiry time of assertion "
            f"{datetime.fromtimestamp(exp, UTC).strftime(fmt)}.",
        )
    return None


def _subject_and_audience(
    by_issuer: list[dict[str, Any]], sub: Any, aud: Any, hint: str
) -> JSONResponse | None:
    """``None`` when one of the issuer's credentials names the subject and an audience."""
    by_subject = [f for f in by_issuer if f["subject"] == sub]
    if not by_subject:
        return _no_record(700213, "subject", sub, hint)
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in f.get("audiences", []) for f in by_subject for a in auds):
        shown = aud if isinstance(aud, str) else ",".join(map(str, auds))
        return _no_record(700212, "audience", shown, hint)
    return None


def _jwk(state: EmulatorState, name: str) -> dict[str, Any]:
    nums = _key(state, name).public_key().public_numbers()

    def i2b(n: int) -> str:
        return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": _kid(name), "n": i2b(nums.n),
            "e": i2b(nums.e)}  # fmt: skip


def routes(state: EmulatorState) -> list[Route]:
    """The issuer's discovery and keys, and the test hook minting its tokens."""

    async def discovery(request: Request) -> Response:
        name = request.path_params["name"]
        iss = f"{_base(request)}/oidc/{name}"
        return JSONResponse(
            {
                "issuer": iss,
                "jwks_uri": f"{iss}/keys",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def keys(request: Request) -> Response:
        return JSONResponse({"keys": [_jwk(state, request.path_params["name"])]})

    async def mint(request: Request) -> Response:
        name = request.path_params["name"]
        raw = await request.body()
        body: dict[str, Any] = json.loads(raw) if raw else {}
        now = int(time.time())
        lifetime = int(body.get("lifetime_seconds", 3600))
        claims = {
            "iss": body.get("issuer") or f"{_base(request)}/oidc/{name}",
            "sub": body.get("subject", "system:serviceaccount:soc:prefect-worker"),
            "aud": body.get("audience", [TOKEN_EXCHANGE_AUDIENCE]),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, _key(state, name), algorithm="RS256",
                           headers={"kid": _kid(name)})  # fmt: skip
        return JSONResponse({"token": token, "claims": claims})

    return [
        Route("/oidc/{name}/.well-known/openid-configuration", discovery),
        Route("/oidc/{name}/keys", keys),
        Route("/_emulator/oidc/{name}/token", mint, methods=["POST"]),
    ]
