"""Identity Protection and Defender for Identity lists: risky users (list, get,
confirmCompromised, dismiss), sign-in logs, risk detections and health issues.

* ``GET /identityProtection/riskyUsers[/{id}]`` and ``POST .../confirmCompromised`` /
  ``.../dismiss`` with ``{"userIds": [...]}`` (204).
* ``GET /auditLogs/signIns`` (``$filter`` on userId, userPrincipalName, createdDateTime; newest
  first), ``GET /identityProtection/riskDetections`` and ``GET /security/identities/healthIssues``
  (the list page's examples filter on ``Status`` with a capital S while the resource names it
  ``status``: both are accepted).

Each operation's permissions are :data:`~prefect_defender.emulator.permissions.IDENTITY_PAGES`,
read on the operation's own page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.permissions import IDENTITY_PAGES
from prefect_defender.emulator.routes.identity_world import (
    confirm_compromised_user,
    find_user,
    graph_listing,
    now,
    world,
)


@api(
    "GET",
    "/v1.0/identityProtection/riskyUsers",
    surface="graph",
    page=IDENTITY_PAGES["risky_users.read"],
)
async def list_risky_users(ctx: Ctx) -> Response:
    """Risky users; ``$filter`` on riskLevel, riskState, userPrincipalName."""
    return graph_listing(
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
    page=IDENTITY_PAGES["risky_users.read"],
)
async def get_risky_user(ctx: Ctx) -> Response:
    """One risky user by user id."""
    with ctx.state.lock:
        row = world(ctx)["risky_users"].get(ctx.params["id"])
        if row is None:
            raise ApiError(404, "NotFound", f"Risky user {ctx.params['id']} was not found.")
        return JSONResponse(dict(row))


async def _user_ids(ctx: Ctx) -> list[str]:
    body = await ctx.body()
    ids = body.get("userIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "BadRequest", "userIds must be a non-empty list of user ids.")
    return ids


async def _change_risk(
    ctx: Ctx, change: Callable[[dict[str, Any], dict[str, Any]], None]
) -> Response:
    """Apply ``change(data, user)`` to every listed user once all are found (one unknown id is a
    404 and nothing changes); 204."""
    ids = await _user_ids(ctx)
    with ctx.state.lock:
        data = world(ctx)
        users = [find_user(data, i) for i in ids]
        for user in users:
            change(data, user)
    return Response(status_code=204)


def _dismiss(data: dict[str, Any], user: dict[str, Any]) -> None:
    row = data["risky_users"].get(user["id"])
    if row is not None:
        row.update(
            riskLevel="none",
            riskState="dismissed",
            riskDetail="adminDismissedAllRiskForUser",
            riskLastUpdatedDateTime=now(),
        )


@api(
    "POST",
    "/v1.0/identityProtection/riskyUsers/confirmCompromised",
    surface="graph",
    page=IDENTITY_PAGES["risky_users.write"],
)
async def confirm_compromised(ctx: Ctx) -> Response:
    """Mark users compromised (risk high); 204."""
    return await _change_risk(ctx, confirm_compromised_user)


@api(
    "POST",
    "/v1.0/identityProtection/riskyUsers/dismiss",
    surface="graph",
    page=IDENTITY_PAGES["risky_users.write"],
)
async def dismiss(ctx: Ctx) -> Response:
    """Dismiss users' risk (risk none, state dismissed); 204."""
    return await _change_risk(ctx, _dismiss)


# -- sign-ins, risk detections, Defender for Identity health ----------------------------------
@api("GET", "/v1.0/auditLogs/signIns", surface="graph", page=IDENTITY_PAGES["sign_ins.list"])
async def list_sign_ins(ctx: Ctx) -> Response:
    """Sign-in logs, newest first."""
    return graph_listing(
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
    page=IDENTITY_PAGES["risk_detections.list"],
)
async def list_risk_detections(ctx: Ctx) -> Response:
    """Risk detections, newest first."""
    return graph_listing(
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
    page=IDENTITY_PAGES["health_issues.list"],
)
async def list_health_issues(ctx: Ctx) -> Response:
    """Defender for Identity health issues."""
    raw = ctx.query.get("$filter")
    return graph_listing(
        ctx,
        "health_issues",
        "security/identities/healthIssues",
        ("status", "severity", "healthIssueType"),
        # the list page's own examples write the property with a capital S
        raw_filter=raw.replace("Status eq", "status eq") if raw else None,
    )
