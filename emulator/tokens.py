"""Issuing and checking the emulator's RS256 JWTs (access, id and refresh tokens)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from prefect_defender.emulator.state import EmulatorState

__all__ = ["b64url", "decode_token", "issue", "jwks"]


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwks(state: EmulatorState) -> dict[str, Any]:
    """The JSON Web Key Set of the signing key."""
    pub = state.signing_key.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    nums = pub.public_numbers()
    return {
        "keys": [
            {
                "kty": "RSA",
                "use": "sig",
                "kid": state.kid,
                "alg": "RS256",
                "n": _int_b64(nums.n),
                "e": _int_b64(nums.e),
            }
        ]
    }


def issue(state: EmulatorState, claims: dict[str, Any], lifetime: float) -> str:
    """Sign ``claims`` with ``iat``/``nbf``/``exp``/``uti`` added."""
    now = int(time.time())
    body = {
        "iat": now,
        "nbf": now - 5,
        "exp": now + int(lifetime),
        "uti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(body, state.signing_key, algorithm="RS256", headers={"kid": state.kid})


def decode_token(state: EmulatorState, token: str) -> dict[str, Any] | None:
    """Verified claims of a token this emulator issued, or ``None`` (bad signature/expired).

    Signature checks are cached per token string (they cost ~0.1 ms each otherwise); ``exp`` is
    checked on every call.
    """
    claims = state.verified_tokens.get(token)
    if claims is None:
        try:
            claims = jwt.decode(
                token,
                state.signing_key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False},
            )
        except jwt.PyJWTError:
            return None
        if len(state.verified_tokens) > 50_000:
            state.verified_tokens.clear()
        state.verified_tokens[token] = claims
    if float(claims.get("exp", 0)) <= time.time():
        return None
    return claims


def _unverified_part(token: str, index: int) -> dict[str, Any]:
    """The JSON object at ``index`` of a compact JWT (0 header, 1 claims), not verified."""
    try:
        part = token.split(".")[index]
        part += "=" * (-len(part) % 4)
        value = json.loads(base64.urlsafe_b64decode(part))
        return value if isinstance(value, dict) else {}
    except (ValueError, IndexError):
        return {}


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWT (no verification)."""
    return _unverified_part(token, 0)


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a compact JWT (no verification)."""
    return _unverified_part(token, 1)
