"""Identity routes: Defender XDR identity accounts (list, get, invokeAction) and Entra ID users
(get, memberOf, enable/disable, revoke sessions).


Served from Microsoft Graph v1.0's documented contract:

* ``GET /security/identities/identityAccounts[/{id}]`` and ``POST .../{id}/invokeAction`` with body
  ``{accountId, action, identityProvider}``. Microsoft's pages disagree on which providers take
  which action: the *account* resource lists ``entraID`` for disable, enable, revokeAllSessions,
  requireUserToSignInAgain and markUserAsCompromised, while the invokeAction page lists
  ``activeDirectory``/``okta`` only and notes Entra actions as out of its scope. The emulator
  follows the resource page and tells the truth per account in each account's ``actions`` list;
  an action not in that list is a 400. The invokeAction page's example answers
  ``{"value": {accountId, action, provider, correlationId}}`` while the result resource names
  the field ``identityProvider``: the emulator answers as the example does (the client accepts
  both spellings).
* ``GET /users/{id}/memberOf`` (groups and directory roles),
  ``GET /users/{id | userPrincipalName}``, ``PATCH /users/{id}`` (``accountEnabled``; 204) and
  ``POST /users/{id}/revokeSignInSessions`` (200 ``{"value": true}``). A disabled user's
  sign-ins fail with ``AADSTS50057``; revoked sessions make that user's refresh tokens fail, so a
  user credential block must sign in again.
* ``GET /identityProtection/riskyUsers[/{id}]`` and ``POST .../confirmCompromised`` /
  ``.../dismiss`` with ``{"userIds": [...]}`` (204).
* ``GET /auditLogs/signIns`` (``AuditLog.Read.All``; ``$filter`` on userId, userPrincipalName,
  createdDateTime; newest first), ``GET /identityProtection/riskDetections``
  (``IdentityRiskEvent.Read.All``) and ``GET /security/identities/healthIssues``
  (``SecurityIdentitiesHealth.Read.All``; the list page's examples filter on ``Status`` with a
  capital S while the resource names it ``status``: both are accepted).

Each operation's permissions are :data:`~prefect_defender.emulator.permissions.IDENTITY_PAGES`,
read on the operation's own page. The identity data itself (users, linked accounts, risk rows,
logs) is :mod:`.identity_world`; risky users, sign-ins, risk detections and health issues are
served by :mod:`.identity_protection`.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.permissions import IDENTITY_PAGES
from prefect_defender.emulator.routes.identity_world import (
    GRAPH_CTX,
    confirm_compromised_user,
    find_user,
    graph_listing,
    guid,
    now,
    public_identity,
    public_user,
    revoke,
    set_enabled,
    world,
)

#: direct memberships: (odata type, display name) per user name
MEMBER_OF: dict[str, list[tuple[str, str]]] = {
    "breakglass": [("directoryRole", "Global Administrator")],
    "dprince": [("group", "Tier0 Admins"), ("group", "All Staff")],
    "analyst": [("group", "SOC Analysts")],
}
MAX_TOP = 1000
DEFAULT_PAGE = 100


# -- Defender XDR identity accounts ---------------------------------------------------------
@api(
    "GET",
    "/v1.0/security/identities/identityAccounts",
    surface="graph",
    page=IDENTITY_PAGES["identity_accounts.read"],
)
async def list_identity_accounts(ctx: Ctx) -> Response:
    """Identity accounts, ``$filter`` on displayName/domain/isEnabled, nextLink paging."""
    shape = ctx.state.config.get("identity_shape", "resource")
    return graph_listing(
        ctx,
        "identity_accounts",
        "security/identities/identityAccounts",
        ("displayName", "domain", "isEnabled", "userPrincipalName", "emailAddress"),
        view=lambda ident: public_identity(ident, shape),
        max_top=MAX_TOP,
        default_top=DEFAULT_PAGE,
    )


@api(
    "GET",
    "/v1.0/security/identities/identityAccounts/{id}",
    surface="graph",
    page=IDENTITY_PAGES["identity_accounts.read"],
)
async def get_identity_account(ctx: Ctx) -> Response:
    """One identity account."""
    with ctx.state.lock:
        ident = _identity_account_404(world(ctx), ctx.params["id"])
        context = {"@odata.context": f"{GRAPH_CTX}#security/identities/identityAccounts/$entity"}
        if ctx.state.config.get("identity_shape") == "example":  # the get page's example
            return JSONResponse(context | {"value": public_identity(ident, "example")})
        return JSONResponse(context | public_identity(ident))


@api(
    "POST",
    "/v1.0/security/identities/identityAccounts/{id}/invokeAction",
    surface="graph",
    page=IDENTITY_PAGES["identity_accounts.invoke_action"],
)
async def invoke_action(ctx: Ctx) -> Response:
    """Run one action on one of the identity's accounts; 400 when the account cannot take it."""
    body = await ctx.body()
    missing = [k for k in ("accountId", "action", "identityProvider") if not body.get(k)]
    if missing:
        raise ApiError(400, "BadRequest", f"Missing required parameter(s): {', '.join(missing)}.")
    action, provider, account_id = body["action"], body["identityProvider"], body["accountId"]
    with ctx.state.lock:
        data = world(ctx)
        ident = _identity_account_404(data, ctx.params["id"])
        acc = _account_for(ident, account_id, provider, action)
        user = data["entra_users"].get(account_id) if provider == "entraID" else None
        _apply_action(ctx, data, ident, acc, action, user)
        correlation = str(uuid.uuid4())
        data["identity_log"][correlation] = {
            "identity": ident["id"],
            "accountId": account_id,
            "action": action,
            "provider": provider,
            "by": ctx.caller,
            "at": now(),
        }
    return JSONResponse(
        {
            "@odata.context": f"{GRAPH_CTX}#microsoft.graph.security.invokeActionResult",
            "value": {
                "accountId": account_id,
                "action": action,
                "provider": provider,
                "correlationId": correlation,
            },
        }
    )


def _identity_account_404(data: dict[str, Any], key: str) -> dict[str, Any]:
    ident: dict[str, Any] | None = data["identity_accounts"].get(key)
    if ident is None:
        raise ApiError(404, "NotFound", f"Identity account {key} was not found.")
    return ident


def _account_for(
    ident: dict[str, Any], account_id: str, provider: str, action: str
) -> dict[str, Any]:
    """The identity's account at ``provider``; 400 unless it exists and can take ``action``."""
    acc: dict[str, Any] | None = next(
        (
            a
            for a in ident["accounts"]
            if a["identifier"] == account_id and a["identityProvider"] == provider
        ),
        None,
    )
    if acc is None:
        raise ApiError(
            400,
            "BadRequest",
            f"Account '{account_id}' of identity provider '{provider}' does not belong to "
            "this identity.",
        )
    if action not in acc["actions"]:
        raise ApiError(
            400,
            "BadRequest",
            f"Action '{action}' is not supported for identity provider '{provider}'.",
        )
    return acc


def _apply_action(
    ctx: Ctx,
    data: dict[str, Any],
    ident: dict[str, Any],
    acc: dict[str, Any],
    action: str,
    user: dict[str, Any] | None,
) -> None:
    """The action's effect: on the Entra user where the account is one, else on the account."""
    if action in ("disable", "enable"):
        if user is not None:
            set_enabled(ctx, user, action == "enable")
        else:
            acc["enabled"] = action == "enable"
            ident["isEnabled"] = all(a["enabled"] for a in ident["accounts"])
    elif action in ("revokeAllSessions", "requireUserToSignInAgain") and user is not None:
        revoke(ctx, user)
    elif action == "markUserAsCompromised" and user is not None:
        confirm_compromised_user(data, user)
    elif action == "forcePasswordReset":
        acc["passwordResetRequired"] = True


# -- Entra ID users ---------------------------------------------------------------------------
@api("GET", "/v1.0/users/{id}", surface="graph", page=IDENTITY_PAGES["users.get"])
async def get_user(ctx: Ctx) -> Response:
    """One user by object id or userPrincipalName."""
    with ctx.state.lock:
        user = find_user(world(ctx), ctx.params["id"])
        return JSONResponse({"@odata.context": f"{GRAPH_CTX}#users/$entity"} | public_user(user))


@api("GET", "/v1.0/users/{id}/memberOf", surface="graph", page=IDENTITY_PAGES["users.member_of"])
async def member_of(ctx: Ctx) -> Response:
    """Direct group and directory-role memberships."""
    with ctx.state.lock:
        user = find_user(world(ctx), ctx.params["id"])
        tid = ctx.tenant.tenant_id
    rows = [
        {
            "@odata.type": f"#microsoft.graph.{kind}",
            "id": guid(tid, kind, name),
            "displayName": name,
        }
        for kind, name in MEMBER_OF.get(user["_name"], [])
    ]
    return JSONResponse({"@odata.context": f"{GRAPH_CTX}#directoryObjects", "value": rows})


@api("PATCH", "/v1.0/users/{id}", surface="graph", page=IDENTITY_PAGES["users.account_enabled"])
async def update_user(ctx: Ctx) -> Response:
    """``{"accountEnabled": bool}`` (other properties are outside this emulator); 204."""
    body = await ctx.body()
    if set(body) != {"accountEnabled"} or not isinstance(body["accountEnabled"], bool):
        raise ApiError(
            400,
            "Request_BadRequest",
            "Invalid value specified for property 'accountEnabled' of resource 'User'."
            if "accountEnabled" in body
            else "The emulator updates accountEnabled only.",
        )
    with ctx.state.lock:
        user = find_user(world(ctx), ctx.params["id"])
        set_enabled(ctx, user, body["accountEnabled"])
    return Response(status_code=204)


@api(
    "POST",
    "/v1.0/users/{id}/revokeSignInSessions",
    surface="graph",
    page=IDENTITY_PAGES["users.revoke_sessions"],
)
async def revoke_sessions(ctx: Ctx) -> Response:
    """Invalidate the user's refresh tokens and session cookies."""
    with ctx.state.lock:
        user = find_user(world(ctx), ctx.params["id"])
        revoke(ctx, user)
    return JSONResponse({"@odata.context": f"{GRAPH_CTX}#Edm.Boolean", "value": True})
