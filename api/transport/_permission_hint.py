"""What a 403 means for the operator: the permission to grant, or the role that refuses."""

from __future__ import annotations

from prefect_defender.api.auth import AccessToken
from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.errors import DefenderError, PermissionDeniedError

__all__ = ["permission_error"]


def permission_error(
    ep: Endpoint, err: DefenderError, token: AccessToken, client_id: str
) -> PermissionDeniedError:
    """The 403 ``err`` of ``ep`` as a :class:`PermissionDeniedError` that says what to grant: the
    permission the token lacks (and where to add it to app ``client_id``), or, when the token
    has it, that the caller's Defender role or device group is what refuses."""
    delegated = "scp" in token.claims and "roles" not in token.claims
    required = ep.delegated if delegated else ep.application
    kind = "delegated" if delegated else "application"
    held = token.permissions
    if required and not (held & set(required)):
        need = " or ".join(required)
        hint = (
            f"The token for {ep.api_name} carries none of the permissions this call needs: "
            f"{need} ({kind}). Add it to app {client_id} under "
            f"'API permissions > APIs my organization uses > {ep.api_name}' and grant admin "
            "consent."
        )
    else:
        hint = (
            f"Required: {' or '.join(required) or 'n/a'} ({kind}) on {ep.api_name}; the token "
            "has it, so the caller's role (RBAC device group or Defender role) may not allow "
            "this action."
        )
    return PermissionDeniedError(
        f"{err.message} {hint}",
        required=required,
        api=ep.api_name,
        status=403,
        code=err.code,
        target=err.target,
        method=err.method,
        url=err.url,
    )
