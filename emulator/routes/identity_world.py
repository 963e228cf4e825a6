"""The tenant's identity data behind the identity routes: Entra ID users, Defender XDR identity
accounts and their linked accounts, Identity Protection risky users, sign-ins, risk detections
and Defender for Identity health issues, built on first use; and the changes the routes make to
it (enable/disable, revoke sessions, confirm compromised).

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

from prefect_defender.emulator.guard import ApiError, Ctx
from prefect_defender.emulator.odata import compile_filter, parse_top_skip
from prefect_defender.emulator.routes.graph_paging import next_link
from prefect_defender.emulator.state import Tenant

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
GRAPH_CTX = "https://graph.microsoft.com/v1.0/$metadata"


def now() -> str:
    """The current time as Graph writes it (microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def guid(*parts: str) -> str:
    """A stable GUID for the named object (same seed, same id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("identities", *parts))))


def world(ctx: Ctx) -> dict[str, Any]:
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
    unobserved = set(ctx.state.config.get("unobserved_identities") or [])
    for i, name in enumerate(names):
        oid = sign_in[name].oid if name in sign_in else guid(tenant.tenant_id, "user", name)
        user = users[oid] = _entra_user(tenant, name, oid)
        ident = _identity_account(tenant, name, i, user)
        if name in HYBRID:  # synced from Active Directory: the user carries its AD identity
            user["onPremisesSecurityIdentifier"] = ident["onPremisesSecurityIdentifier"]
            user["onPremisesSamAccountName"] = name
            user["onPremisesDomainName"] = f"{tenant.name.lower()}.local"
        if name not in unobserved:
            accounts[ident["id"]] = ident
        if name in RISK:
            risky[oid] = _risky_row(user) | {
                "riskLastUpdatedDateTime": now(),
                "riskLevel": RISK[name],
                "riskState": "atRisk",
                "riskDetail": "none",
            }
    data["entra_users"] = users
    data["identity_accounts"] = accounts
    data["risky_users"] = risky
    data["identity_log"] = {}
    data["sign_ins"] = _seed_sign_ins(tenant.tenant_id, users)
    data["risk_detections"] = _seed_detections(tenant.tenant_id, users)
    data["health_issues"] = _seed_health(tenant.tenant_id, tenant.domain)
    return data


def _entra_user(tenant: Tenant, name: str, oid: str) -> dict[str, Any]:
    upn = f"{name}@{tenant.domain}"
    return {
        "id": oid,
        "userPrincipalName": upn,
        "displayName": "Break Glass Admin" if name == "breakglass" else name.title(),
        "mail": upn,
        "accountEnabled": True,
        "onPremisesSyncEnabled": name in HYBRID,
        "_name": name,
    }


def _linked_accounts(tenant: Tenant, name: str, oid: str) -> list[dict[str, Any]]:
    """The user's accounts per identity provider, each with the actions it can take."""
    linked: list[dict[str, Any]] = [{"identifier": oid, "identityProvider": "entraID"}]
    if name in HYBRID:
        linked.append(
            {
                "identifier": guid(tenant.tenant_id, "ad", name),
                "identityProvider": "activeDirectory",
            }
        )
    if name in OKTA:
        linked.append(
            {
                "identifier": f"00u{guid(tenant.tenant_id, 'okta', name)[:17]}",
                "identityProvider": "okta",
            }
        )
    for acc in linked:
        acc["actions"] = list(PROVIDER_ACTIONS[acc["identityProvider"]])
        acc["enabled"] = True
    return linked


def _identity_account(
    tenant: Tenant, name: str, index: int, user: dict[str, Any]
) -> dict[str, Any]:
    sid = f"S-1-5-21-{1000 + index}-{2000 + index}-{3000 + index}-{1100 + index}"
    upn = user["userPrincipalName"]
    return {
        "@odata.type": "#microsoft.graph.security.user",
        "id": guid(tenant.tenant_id, "identity", name),
        "displayName": user["displayName"],
        "domain": tenant.name.upper() if name in HYBRID else tenant.domain,
        "isEnabled": True,
        "onPremisesSecurityIdentifier": sid if name in HYBRID else None,
        "cloudSecurityIdentifier": "S-1-12-1-"
        + str(uuid.UUID(guid(tenant.tenant_id, "sid", name)).int % 10**9),
        "emailAddress": upn,
        "userPrincipalName": upn,
        "accounts": _linked_accounts(tenant, name, user["id"]),
    }


def _risky_row(user: dict[str, Any]) -> dict[str, Any]:
    """The identity part of a risky-user row (its risk fields are set by the caller)."""
    return {
        "id": user["id"],
        "isDeleted": False,
        "isProcessing": False,
        "userDisplayName": user["displayName"],
        "userPrincipalName": user["userPrincipalName"],
    }


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
            sid = guid(tid, "signin", name, str(k))
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
        did = guid(tid, "detection", u["_name"])
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
        hid = guid(tid, "health", str(k))
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


def public_user(u: dict[str, Any]) -> dict[str, Any]:
    """A user as Graph answers it (without the emulator's private fields)."""
    return {k: v for k, v in u.items() if not k.startswith("_")}


#: provider names as the list and get pages' examples write them
EXAMPLE_PROVIDERS = {"entraID": "EntraID", "activeDirectory": "ActiveDirectory", "okta": "Okta"}


def public_identity(ident: dict[str, Any], shape: str = "resource") -> dict[str, Any]:
    """An identity account as Graph answers it (its accounts without their enabled flag).

    ``shape="example"`` answers as the list and get pages' examples do
    (https://learn.microsoft.com/graph/api/security-identitycontainer-list-identityaccounts,
    https://learn.microsoft.com/graph/api/security-identityaccounts-get): the base
    identityAccounts resource without the derived security.user's ``userPrincipalName`` and
    ``emailAddress``, each account's provider as ``"provider": "ActiveDirectory"``.
    """
    out = dict(ident)
    out["accounts"] = [
        {k: v for k, v in acc.items() if k != "enabled"} for acc in ident["accounts"]
    ]
    if shape == "example":
        for key in ("@odata.type", "userPrincipalName", "emailAddress"):
            out.pop(key, None)
        out["accounts"] = [
            {
                "provider": EXAMPLE_PROVIDERS[acc["identityProvider"]],
                "identifier": acc["identifier"],
                "actions": acc["actions"],
            }
            for acc in out["accounts"]
        ]
    return out


def find_user(data: dict[str, Any], key: str) -> dict[str, Any]:
    """A user by object id or userPrincipalName (any case); Graph's 404 otherwise."""
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


def sign_in_user(ctx: Ctx, user: dict[str, Any]) -> Any:
    """The emulator's sign-in user behind an Entra user, if it is one."""
    return next(
        (
            u
            for u in ctx.state.users.values()
            if u.oid == user["id"] and u.tenant_id == ctx.tenant.tenant_id
        ),
        None,
    )


def set_enabled(ctx: Ctx, user: dict[str, Any], enabled: bool) -> None:
    """Enable or disable a user, its Entra account and its sign-ins (AADSTS50057)."""
    user["accountEnabled"] = enabled
    ident = identity_of(world(ctx), user["id"])
    if ident is not None:
        for acc in ident["accounts"]:
            if acc["identityProvider"] == "entraID":
                acc["enabled"] = enabled
        ident["isEnabled"] = all(a["enabled"] for a in ident["accounts"])
    signer = sign_in_user(ctx, user)
    if signer is not None:
        signer.disabled = not enabled  # the token endpoint answers AADSTS50057


def revoke(ctx: Ctx, user: dict[str, Any]) -> None:
    """Revoke the user's sessions: its refresh tokens issued until now stop working."""
    signer = sign_in_user(ctx, user)
    if signer is not None:
        signer.revoked_before = time.time() + 1
    user["_sessions_revoked"] = now()


def identity_of(data: dict[str, Any], oid: str) -> dict[str, Any] | None:
    """The identity account that links the Entra user ``oid``."""
    idents: dict[str, dict[str, Any]] = data["identity_accounts"]
    for ident in idents.values():
        if any(a["identifier"] == oid for a in ident["accounts"]):
            return ident
    return None


def confirm_compromised_user(data: dict[str, Any], user: dict[str, Any]) -> None:
    """Mark a user compromised: its risky-user row (made if missing) goes to risk high."""
    row = data["risky_users"].setdefault(user["id"], _risky_row(user))
    row.update(
        riskLevel="high",
        riskState="confirmedCompromised",
        riskDetail="adminConfirmedUserCompromised",
        riskLastUpdatedDateTime=now(),
    )


def graph_listing(
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
        rows = [view(r) for r in world(ctx)[key].values()]
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
