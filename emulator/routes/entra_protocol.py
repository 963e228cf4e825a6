"""What every Entra ID endpoint of the emulator shares: the issuer base of a request, the form
body of a token request and the ``AADSTS`` error body Entra ID answers with."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["aad_error", "form_fields", "issuer_base", "unknown_tenant"]


def issuer_base(request: Request) -> str:
    """``https://<host>`` as the request addressed the emulator."""
    return f"https://{request.headers.get('host', request.url.netloc)}"


def form_fields(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, one value per field."""
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def aad_error(
    status: int, error: str, code: int, description: str, extra: dict[str, Any] | None = None
) -> JSONResponse:
    """Entra ID's error body: ``error``, ``AADSTS<code>: ...`` description with trace and
    correlation ids, ``error_codes`` (and ``extra`` fields such as ``suberror``)."""
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


def unknown_tenant(tenant: str) -> JSONResponse:
    """AADSTS90002 for a tenant the emulator does not know."""
    return aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud.",
    )
