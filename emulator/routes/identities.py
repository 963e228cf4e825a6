"""Identity response: Defender XDR identity accounts, Entra ID users, Identity Protection.

Served from Microsoft Graph v1.0's documented contract:

* ``GET /security/identities/identityAccounts[/{id}]`` (``SecurityIdentitiesAccount.Read.All``)
  and ``POST .../{id}/invokeAction`` (``SecurityIdentitiesActions.ReadWrite.All``) with body
  ``{accountId, action, identityProvider}``. Microsoft's pages disagree on which providers take
  which action: the *account* resource lists ``entraID`` for disable, enable, revokeAllSessions,
  requireUserToSignInAgain and markUserAsCompromised, while the invokeAction page lists
  ``activeDirectory``/``okta`` only and notes Entra actions as out of its scope. The emulator
  follows the resource page and tells the truth per account in each account's ``actions`` list;
  an action not in that list is a 400. The invokeAction page's example answers
  ``{"value": {accountId, action, provider, correlationId}}`` while the result resource names
  the field ``identityProvider``: the emulator answers as the example does (the client accepts
  both spellings).
* ``GET /users/{id}/memberOf`` (``GroupMember.Read.All``: groups and directory roles),
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

Per tenant: the five incident users (``jdoe``, the seeded incident's account, and friends) plus
the tenant's sign-in users (``analyst``, ``responder``) and a cloud-only ``breakglass`` admin.
``jdoe``, ``asmith`` and ``bwayne`` are hybrid (an Entra ID and an on-premises Active Directory
account), ``dprince`` also has an Okta account; the others are cloud-only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, parse_top_skip
from prefect_defender.emulator.routes.graph_incidents import next_link

READ = ("SecurityIdentitiesAccount.Read.All",)
ACT = ("SecurityIdentitiesActions.ReadWrite.All",)
USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All")
USER_ENABLE = ("User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
USER_REVOKE = ("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
RISK_READ = ("IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All")
RISK_WRITE = ("IdentityRiskyUser.ReadWrite.All",)

#: actions per identity provider (the *account* resource page's table)
PROVIDER_ACTIONS: dict[str, list[str]] = {
    "entraID": [
        "disable",
        "enable",
        "revokeAllSessions",
        "requireUserToSignInAgain",
        "markUserAsCompromised",
    ],
    "activeDirectory": ["disable", "enable", "forcePasswordReset"],
    "okta": ["disable", "enable", "revokeAllSessions"],
}
HYBRID = {"jdoe", "asmith", "bwayne"}
OKTA = {"dprince"}  # federated with Okta as well as Entra ID
USERS = ["jdoe", "asmith", "bwayne", "ckent", "dprince", "breakglass"]
RISK = {"jdoe": "high", "asmith": "medium"}
#: direct memberships: (odata type, display name) per user name
MEMBER_OF: dict[str, list[tuple[str, str]]] = {
    "breakglass": [("directoryRole", "Global Administrator")],
    "dprince": [("group", "Tier0 Admins"), ("group", "All Staff")],
    "analyst": [("group", "SOC Analysts")],
}
GRAPH_CTX = "https://graph.microsoft.com/v1.0/$metadata"
MAX_TOP = 1000
DEFAULT_PAGE = 100


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("identities", *parts))))


def _world(ctx: Ctx) -> dict[str, Any]:
    """The tenant's identity data, built on first use (caller holds the state lock)."""
    data = ctx.tenant.data
    if "entra_users" in data:
        return data
    tenant = ctx.tenant
    sign_in = {
        u.username.split("@")[0]: u
        for u in ctx.state.users.values()
        if u.tenant_id == tenant.tenant_id
    }
    names = [*USERS, *sorted(n for n in sign_in if n not in USERS)]
    users: dict[str, dict[str, Any]] = {}
    accounts: dict[str, dict[str, Any]] = {}
    risky: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        oid = sign_in[name].oid if name in sign_in else _guid(tenant.tenant_id, "user", name)
        upn = f"{name}@{tenant.domain}"
        display = "Break Glass Admin" if name == "breakglass" else name.title()
        users[oid] = {
            "id": oid,
            "userPrincipalName": upn,
            "displayName": display,
            "mail": upn,
            "accountEnabled": True,
            "onPremisesSyncEnabled": name in HYBRID,
            "_name": name,
        }
        sid = f"S-1-5-21-{1000 + i}-{2000 + i}-{3000 + i}-{1100 + i}"
        linked: list[dict[str, Any]] = [{"identifier": oid, "identityProvider": "entraID"}]
        if name in HYBRID:
            linked.append(
                {
                    "identifier": _guid(tenant.tenant_id, "ad", name),
                    "identityProvider": "activeDirectory",
                }
            )
        if name in OKTA:
            linked.append(
                {
                    "identifier": f"00u{_guid(tenant.tenant_id, 'okta', name)[:17]}",
                    "identityProvider": "okta",
                }
            )
        for acc in linked:
            acc["actions"] = list(PROVIDER_ACTIONS[acc["identityProvider"]])
            acc["enabled"] = True
        ident = _guid(tenant.tenant_id, "identity", name)
        accounts[ident] = {
            "@odata.type": "#microsoft.graph.security.user",
            "id": ident,
            "displayName": display,
            "domain": tenant.name.upper() if name in HYBRID else tenant.domain,
            "isEnabled": True,
            "onPremisesSecurityIdentifier": sid if name in HYBRID else None,
            "cloudSecurityIdentifier": "S-1-12-1-"
            + str(uuid.UUID(_guid(tenant.tenant_id, "sid", name)).int % 10**9),
            "emailAddress": upn,
            "userPrincipalName": upn,
            "accounts": linked,
        }
        level = RISK.get(name)
        if level:
            risky[oid] = {
                "id": oid,
                "isDeleted": False,
                "isProcessing": False,
                "riskLastUpdatedDateTime": _now(),
                "riskLevel": level,
                "riskState": "atRisk",
                "riskDetail": "none",
                "userDisplayName": display,
                "userPrincipalName": upn,
            }
    data["entra_users"] = users
    data["identity_accounts"] = accounts
    data["risky_users"] = risky
    data["identity_log"] = {}
    data["sign_ins"] = _seed_sign_ins(tenant.tenant_id, users)
    data["risk_detections"] = _seed_detections(tenant.tenant_id, users)
    data["health_issues"] = _seed_health(tenant.tenant_id, tenant.domain)
    return data


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed_sign_ins(tid: str, users: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n, u in enumerate(users.values()):
        name = u["_name"]
        rows: list[tuple[float, str, str, str, int, str | None, str]] = [
            (1.0 + n, f"198.51.100.{10 + n}", "Seattle", "US", 0, None, "none"),
            (26.0 + n, f"198.51.100.{10 + n}", "Seattle", "US", 0, None, "none"),
        ]
        if name == "jdoe":  # the seeded incident's account: a risky sign-in from the C2 address
            rows.insert(0, (0.5, "203.0.113.66", "Unknown", "NL", 0, None, "high"))
            rows.insert(
                1,
                (
                    0.6,
                    "203.0.113.66",
                    "Unknown",
                    "NL",
                    50126,
                    "Invalid username or password.",
                    "high",
                ),
            )
        for k, (hours, ip, city, country, code, reason, risk) in enumerate(rows):
            sid = _guid(tid, "signin", name, str(k))
            out[sid] = {
                "id": sid,
                "createdDateTime": _ago(hours),
                "userId": u["id"],
                "userPrincipalName": u["userPrincipalName"],
                "userDisplayName": u["displayName"],
                "appDisplayName": "Office 365 Exchange Online",
                "ipAddress": ip,
                "clientAppUsed": "Browser",
                "conditionalAccessStatus": "success" if code == 0 else "notApplied",
                "riskLevelDuringSignIn": risk,
                "status": {"errorCode": code, "failureReason": reason or "Other."},
                "location": {"city": city, "countryOrRegion": country},
            }
    return out


def _seed_detections(tid: str, users: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {"jdoe": ("unfamiliarFeatures", "high"), "asmith": ("anonymizedIPAddress", "medium")}
    out: dict[str, dict[str, Any]] = {}
    for u in users.values():
        if u["_name"] not in kinds:
            continue
        kind, level = kinds[u["_name"]]
        did = _guid(tid, "detection", u["_name"])
        out[did] = {
            "id": did,
            "userId": u["id"],
            "userPrincipalName": u["userPrincipalName"],
            "userDisplayName": u["displayName"],
            "riskEventType": kind,
            "riskLevel": level,
            "riskState": "atRisk",
            "riskDetail": "none",
            "activity": "signin",
            "ipAddress": "203.0.113.66",
            "detectedDateTime": _ago(0.5),
            "source": "IdentityProtection",
        }
    return out


def _seed_health(tid: str, domain: str) -> dict[str, dict[str, Any]]:
    rows = [
        ("Sensor stopped communicating", "sensor", "high", "open", [f"dc01.{domain}"]),
        ("Directory services user credentials are incorrect", "global", "medium", "closed", []),
    ]
    out: dict[str, dict[str, Any]] = {}
    for k, (title, kind, sev, status, sensors) in enumerate(rows):
        hid = _guid(tid, "health", str(k))
        out[hid] = {
            "id": hid,
            "displayName": title,
            "healthIssueType": kind,
            "issueTypeId": str(1000 + k),
            "severity": sev,
            "status": status,
            "description": f"{title}. Generated by the prefect-defender emulator.",
            "createdDateTime": _ago(48 + k),
            "lastModifiedDateTime": _ago(2 + k),
            "domainNames": [domain],
            "sensorDNSNames": sensors,
            "recommendations": ["Check the sensor's network connectivity."],
            "recommendedActionCommands": [],
            "additionalInformation": [],
        }
    return out


def _public_user(u: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in u.items() if not k.startswith("_")}


def _public_identity(ident: dict[str, Any]) -> dict[str, Any]:
    out = dict(ident)
    out["accounts"] = [
        {k: v for k, v in acc.items() if k != "enabled"} for acc in ident["accounts"]
    ]
    return out


def _find_user(data: dict[str, Any], key: str) -> dict[str, Any]:
    users: dict[str, dict[str, Any]] = data["entra_users"]
    user = users.get(key) or next(
        (u for u in users.values() if u["userPrincipalName"].lower() == key.lower()), None
    )
    if user is None:
        raise ApiError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    return user


def _sign_in_user(ctx: Ctx, user: dict[str, Any]) -> Any:
    return next(
        (
            u
            for u in ctx.state.users.values()
            if u.oid == user["id"] and u.tenant_id == ctx.tenant.tenant_id
        ),
        None,
    )


def _set_enabled(ctx: Ctx, user: dict[str, Any], enabled: bool) -> None:
    user["accountEnabled"] = enabled
    ident = _identity_of(_world(ctx), user["id"])
    if ident is not None:
        for acc in ident["accounts"]:
            if acc["identityProvider"] == "entraID":
                acc["enabled"] = enabled
        ident["isEnabled"] = all(a["enabled"] for a in ident["accounts"])
    signer = _sign_in_user(ctx, user)
    if signer is not None:
        signer.disabled = not enabled  # the token endpoint answers AADSTS50057


def _revoke(ctx: Ctx, user: dict[str, Any]) -> None:
    signer = _sign_in_user(ctx, user)
    if signer is not None:
        signer.revoked_before = time.time() + 1
    user["_sessions_revoked"] = _now()


def _identity_of(data: dict[str, Any], oid: str) -> dict[str, Any] | None:
    idents: dict[str, dict[str, Any]] = data["identity_accounts"]
    for ident in idents.values():
        if any(a["identifier"] == oid for a in ident["accounts"]):
            return ident
    return None


# -- Defender XDR identity accounts ---------------------------------------------------------
@api("GET", "/v1.0/security/identities/identityAccounts", surface="graph", app=READ)
async def list_identity_accounts(ctx: Ctx) -> Response:
    """Identity accounts, ``$filter`` on displayName/domain/isEnabled, nextLink paging."""
    return _listing(
        ctx,
        "identity_accounts",
        "security/identities/identityAccounts",
        ("displayName", "domain", "isEnabled", "userPrincipalName", "emailAddress"),
        view=_public_identity,
        max_top=MAX_TOP,
        default_top=DEFAULT_PAGE,
    )


@api("GET", "/v1.0/security/identities/identityAccounts/{id}", surface="graph", app=READ)
async def get_identity_account(ctx: Ctx) -> Response:
    """One identity account."""
    with ctx.state.lock:
        ident = _world(ctx)["identity_accounts"].get(ctx.params["id"])
        if ident is None:
            raise ApiError(404, "NotFound", f"Identity account {ctx.params['id']} was not found.")
        return JSONResponse(
            {"@odata.context": f"{GRAPH_CTX}#security/identities/identityAccounts/$entity"}
            | _public_identity(ident)
        )


@api(
    "POST",
    "/v1.0/security/identities/identityAccounts/{id}/invokeAction",
    surface="graph",
    app=ACT,
)
async def invoke_action(ctx: Ctx) -> Response:
    """Run one action on one of the identity's accounts; 400 when the account cannot take it."""
    body = await ctx.body()
    missing = [k for k in ("accountId", "action", "identityProvider") if not body.get(k)]
    if missing:
        raise ApiError(400, "BadRequest", f"Missing required parameter(s): {', '.join(missing)}.")
    action, provider, account_id = body["action"], body["identityProvider"], body["accountId"]
    with ctx.state.lock:
        data = _world(ctx)
        ident = data["identity_accounts"].get(ctx.params["id"])
        if ident is None:
            raise ApiError(404, "NotFound", f"Identity account {ctx.params['id']} was not found.")
        acc = next(
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
        user = data["entra_users"].get(account_id) if provider == "entraID" else None
        if action in ("disable", "enable"):
            if user is not None:
                _set_enabled(ctx, user, action == "enable")
            else:
                acc["enabled"] = action == "enable"
                ident["isEnabled"] = all(a["enabled"] for a in ident["accounts"])
        elif action in ("revokeAllSessions", "requireUserToSignInAgain") and user is not None:
            _revoke(ctx, user)
        elif action == "markUserAsCompromised" and user is not None:
            _confirm(data, user)
        elif action == "forcePasswordReset":
            acc["passwordResetRequired"] = True
        correlation = str(uuid.uuid4())
        data["identity_log"][correlation] = {
            "identity": ident["id"],
            "accountId": account_id,
            "action": action,
            "provider": provider,
            "by": ctx.caller,
            "at": _now(),
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


# -- Entra ID users ---------------------------------------------------------------------------
@api("GET", "/v1.0/users/{id}", surface="graph", app=USER_READ)
async def get_user(ctx: Ctx) -> Response:
    """One user by object id or userPrincipalName."""
    with ctx.state.lock:
        user = _find_user(_world(ctx), ctx.params["id"])
        return JSONResponse({"@odata.context": f"{GRAPH_CTX}#users/$entity"} | _public_user(user))


@api(
    "GET",
    "/v1.0/users/{id}/memberOf",
    surface="graph",
    app=("GroupMember.Read.All", "Directory.Read.All"),
)
async def member_of(ctx: Ctx) -> Response:
    """Direct group and directory-role memberships."""
    with ctx.state.lock:
        user = _find_user(_world(ctx), ctx.params["id"])
        tid = ctx.tenant.tenant_id
    rows = [
        {
            "@odata.type": f"#microsoft.graph.{kind}",
            "id": _guid(tid, kind, name),
            "displayName": name,
        }
        for kind, name in MEMBER_OF.get(user["_name"], [])
    ]
    return JSONResponse({"@odata.context": f"{GRAPH_CTX}#directoryObjects", "value": rows})


@api("PATCH", "/v1.0/users/{id}", surface="graph", app=USER_ENABLE)
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
        user = _find_user(_world(ctx), ctx.params["id"])
        _set_enabled(ctx, user, body["accountEnabled"])
    return Response(status_code=204)


@api(
    "POST",
    "/v1.0/users/{id}/revokeSignInSessions",
    surface="graph",
    app=USER_REVOKE,
)
async def revoke_sessions(ctx: Ctx) -> Response:
    """Invalidate the user's refresh tokens and session cookies."""
    with ctx.state.lock:
        user = _find_user(_world(ctx), ctx.params["id"])
        _revoke(ctx, user)
    return JSONResponse({"@odata.context": f"{GRAPH_CTX}#Edm.Boolean", "value": True})


# -- Identity Protection risky users -----------------------------------------------------------
def _confirm(data: dict[str, Any], user: dict[str, Any]) -> None:
    row = data["risky_users"].setdefault(
        user["id"],
        {
            "id": user["id"],
            "isDeleted": False,
            "isProcessing": False,
            "userDisplayName": user["displayName"],
            "userPrincipalName": user["userPrincipalName"],
        },
    )
    row.update(
        riskLevel="high",
        riskState="confirmedCompromised",
        riskDetail="adminConfirmedUserCompromised",
        riskLastUpdatedDateTime=_now(),
    )


@api("GET", "/v1.0/identityProtection/riskyUsers", surface="graph", app=RISK_READ)
async def list_risky_users(ctx: Ctx) -> Response:
    """Risky users; ``$filter`` on riskLevel, riskState, userPrincipalName."""
    return _listing(
        ctx,
        "risky_users",
        "identityProtection/riskyUsers",
        ("riskLevel", "riskState", "riskDetail", "userPrincipalName"),
        max_top=500,
        default_top=20,
    )


@api(
    "GET",
    "/v1.0/identityProtection/riskyUsers/{id}",
    surface="graph",
    app=RISK_READ,
)
async def get_risky_user(ctx: Ctx) -> Response:
    """One risky user by user id."""
    with ctx.state.lock:
        row = _world(ctx)["risky_users"].get(ctx.params["id"])
        if row is None:
            raise ApiError(404, "NotFound", f"Risky user {ctx.params['id']} was not found.")
        return JSONResponse(dict(row))


async def _user_ids(ctx: Ctx) -> list[str]:
    body = await ctx.body()
    ids = body.get("userIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "BadRequest", "userIds must be a non-empty list of user ids.")
    return ids


@api(
    "POST",
    "/v1.0/identityProtection/riskyUsers/confirmCompromised",
    surface="graph",
    app=RISK_WRITE,
)
async def confirm_compromised(ctx: Ctx) -> Response:
    """Mark users compromised (risk high); 204."""
    ids = await _user_ids(ctx)
    with ctx.state.lock:
        data = _world(ctx)
        users = [_find_user(data, i) for i in ids]
        for user in users:
            _confirm(data, user)
    return Response(status_code=204)


@api(
    "POST",
    "/v1.0/identityProtection/riskyUsers/dismiss",
    surface="graph",
    app=RISK_WRITE,
)
async def dismiss(ctx: Ctx) -> Response:
    """Dismiss users' risk (risk none, state dismissed); 204."""
    ids = await _user_ids(ctx)
    with ctx.state.lock:
        data = _world(ctx)
        for i in ids:
            _find_user(data, i)
        for i in ids:
            row = data["risky_users"].get(i)
            if row is not None:
                row.update(
                    riskLevel="none",
                    riskState="dismissed",
                    riskDetail="adminDismissedAllRiskForUser",
                    riskLastUpdatedDateTime=_now(),
                )
    return Response(status_code=204)


# -- sign-ins, risk detections, Defender for Identity health ----------------------------------
def _listing(
    ctx: Ctx,
    key: str,
    path: str,
    fields: tuple[str, ...],
    *,
    view: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    order: str | None = None,
    max_top: int = 1000,
    default_top: int = 100,
    raw_filter: str | None = None,
) -> Response:
    """One page of a tenant collection: ``$filter`` on ``fields``, newest first by ``order``,
    ``$top``/``$skip`` and an ``@odata.nextLink`` while rows remain."""
    top, skip = parse_top_skip(ctx.query, max_top, default_top)
    pred = compile_filter(raw_filter or ctx.query.get("$filter"), fields)
    with ctx.state.lock:
        rows = [view(r) for r in _world(ctx)[key].values()]
    rows = [r for r in rows if pred(r)]
    if order:
        rows.sort(key=lambda r: str(r.get(order) or ""), reverse=True)
    body: dict[str, Any] = {
        "@odata.context": f"{GRAPH_CTX}#{path}",
        "value": rows[skip : skip + top],
    }
    if skip + top < len(rows):
        extra = {k: v for k, v in ctx.query.items() if k not in ("$top", "$skip")}
        body["@odata.nextLink"] = next_link(ctx, skip + top, top, extra)
    return JSONResponse(body)


@api("GET", "/v1.0/auditLogs/signIns", surface="graph", app=("AuditLog.Read.All",))
async def list_sign_ins(ctx: Ctx) -> Response:
    """Sign-in logs, newest first."""
    return _listing(
        ctx,
        "sign_ins",
        "auditLogs/signIns",
        ("userId", "userPrincipalName", "createdDateTime", "ipAddress"),
        order="createdDateTime",
    )


@api(
    "GET",
    "/v1.0/identityProtection/riskDetections",
    surface="graph",
    app=("IdentityRiskEvent.Read.All",),
)
async def list_risk_detections(ctx: Ctx) -> Response:
    """Risk detections, newest first."""
    return _listing(
        ctx,
        "risk_detections",
        "identityProtection/riskDetections",
        ("userId", "userPrincipalName", "riskLevel", "riskState", "riskEventType"),
        order="detectedDateTime",
    )


@api(
    "GET",
    "/v1.0/security/identities/healthIssues",
    surface="graph",
    app=("SecurityIdentitiesHealth.Read.All", "SecurityIdentitiesHealth.ReadWrite.All"),
)
async def list_health_issues(ctx: Ctx) -> Response:
    """Defender for Identity health issues."""
    raw = ctx.query.get("$filter")
    return _listing(
        ctx,
        "health_issues",
        "security/identities/healthIssues",
        ("status", "severity", "healthIssueType"),
        # the list page's own examples write the property with a capital S
        raw_filter=raw.replace("Status eq", "status eq") if raw else None,
    )
