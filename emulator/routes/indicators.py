"""Indicators: create or update, import, list, delete, batch delete (MDE ``/api/indicators``)."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, parse_top_skip
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

TI = ("Ti.ReadWrite", "Ti.ReadWrite.All")
TI_D = ("Ti.ReadWrite",)
FILTERS = (
    "application",
    "createdByDisplayName",
    "expirationTime",
    "generateAlert",
    "title",
    "rbacGroupNames",
    "rbacGroupIds",
    "indicatorValue",
    "indicatorType",
    "creationTimeDateTimeUtc",
    "createdBy",
    "action",
    "severity",
)
TYPES = {
    "FileSha1",
    "FileSha256",
    "FileMd5",
    "CertificateThumbprint",
    "IpAddress",
    "DomainName",
    "Url",
}
# current actions plus the deprecated Alert/AlertAndBlock, still stored on old tenants
ACTIONS = {"Allowed", "Audit", "Block", "BlockAndRemediate", "Warn", "Alert", "AlertAndBlock"}
SEVERITIES = {"Informational", "Low", "Medium", "High"}
FIELDS = {
    "indicatorValue",
    "indicatorType",
    "action",
    "application",
    "title",
    "description",
    "expirationTime",
    "severity",
    "recommendedActions",
    "rbacGroupNames",
    "educateUrl",
    "generateAlert",
}
MAX_ACTIVE = 15_000
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")


def _value_error(kind: str, value: str) -> str | None:
    lengths = {"FileSha1": 40, "CertificateThumbprint": 40, "FileSha256": 64, "FileMd5": 32}
    if kind in lengths:
        if len(value) != lengths[kind] or not _HEX.match(value):
            return "InvalidHashValue"
        return None
    if kind == "IpAddress":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return "InvalidIpAddress"
        return None
    if kind == "DomainName":
        return None if _DOMAIN.match(value) else "InvalidDomainName"
    parts = urlsplit(value)
    return None if parts.scheme in ("http", "https") and parts.hostname else "InvalidUrl"


def _validate(body: Any) -> tuple[str, str] | None:
    """``(code, message)`` of the first problem with one indicator, or ``None``."""
    if not isinstance(body, dict):
        return "InvalidRequestBody", "Indicator must be an object."
    for key in body:
        if key not in FIELDS:
            return "InvalidRequestBody", f"Request body is incorrect: unknown parameter '{key}'."
    for key in ("indicatorValue", "indicatorType", "action", "title", "description"):
        if not body.get(key):
            return "MissingRequiredParameter", f"Missing required parameter: '{key}'."
    kind = body["indicatorType"]
    if kind not in TYPES:
        return "InvalidRequestBody", f"Invalid indicatorType '{kind}'."
    if body["action"] not in ACTIONS:
        return "InvalidRequestBody", f"Invalid action '{body['action']}'."
    code = _value_error(kind, str(body["indicatorValue"]))
    if code is not None:
        return code, f"Invalid indicator value '{body['indicatorValue']}' for type {kind}."
    if body["action"] == "Audit" and body.get("generateAlert") is not True:
        return "InvalidRequestBody", "generateAlert must be true for the Audit action."
    if body.get("severity") is not None and body["severity"] not in SEVERITIES:
        return "InvalidRequestBody", f"Invalid severity '{body['severity']}'."
    return None


def _upsert(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    store = ctx.tenant.data["indicators"]
    kind, value = body["indicatorType"], str(body["indicatorValue"])
    key = (kind, value.lower())
    existing = next(
        (i for i in store.values() if (i["indicatorType"], i["indicatorValue"].lower()) == key),
        None,
    )
    now = iso(datetime.now(UTC))
    if existing is None:
        active = sum(1 for i in store.values() if not _expired(i))
        if active >= MAX_ACTIVE:
            raise ApiError(
                400,
                "BadRequest",
                f"The maximum number of active indicators "
                f"({MAX_ACTIVE}) for this tenant has been reached.",
            )
        iid = str(ctx.tenant.next_id("indicator", 1))
        existing = {
            "id": iid,
            "creationTimeDateTimeUtc": now,
            "createdBy": ctx.app_id,
            "createdByDisplayName": ctx.caller,
            "createdBySource": "PublicApi",
            "source": ctx.caller,
            "sourceType": "AadApp",
            "rbacGroupNames": [],
            "rbacGroupIds": [],
            "generateAlert": False,
            "expirationTime": None,
            "severity": "Informational",
            "recommendedActions": None,
            "application": None,
            "educateUrl": None,
            "mitreTechniques": [],
            "externalId": None,
        }
        store[iid] = existing
    existing.update({k: v for k, v in body.items()})
    existing["lastUpdateTime"] = now
    existing["lastUpdatedBy"] = ctx.caller
    return existing


def _expired(ind: dict[str, Any]) -> bool:
    exp = ind.get("expirationTime")
    if not exp:
        return False
    when = datetime.fromisoformat(str(exp).replace("Z", "+00:00")[:25])
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= datetime.now(UTC)


def _visible(ctx: Ctx) -> list[dict[str, Any]]:
    roles = set(ctx.claims.get("roles") or [])
    store = ctx.tenant.data["indicators"].values()
    if "Ti.ReadWrite.All" in roles:
        return list(store)
    return [i for i in store if i.get("createdBy") == ctx.app_id]  # own indicators only


@api("GET", "/api/indicators", surface="mde", app=TI, delegated=TI_D)
async def list_indicators(ctx: Ctx) -> Response:
    """List indicators (``$top`` up to 10,000)."""
    top, skip = parse_top_skip(ctx.query, 10_000)
    pred = compile_filter(ctx.query.get("$filter"), FILTERS)
    with ctx.state.lock:
        rows = [dict(i) for i in _visible(ctx) if pred(i)]
    rows.sort(key=lambda i: int(i["id"]))
    return JSONResponse(
        {
            "@odata.context": f"{ctx.request.base_url}api/$metadata#Indicators",
            "value": rows[skip : skip + top],
        }
    )


@api("POST", "/api/indicators", surface="mde", app=TI, delegated=TI_D)
async def submit(ctx: Ctx) -> Response:
    """Create or update an indicator (200)."""
    body = await ctx.body()
    problem = _validate(body)
    if problem is not None:
        raise ApiError(400, *problem)
    with ctx.state.lock:
        return JSONResponse(dict(_upsert(ctx, body)))


@api(
    "POST",
    "/api/indicators/import",
    surface="mde",
    app=TI,
    delegated=TI_D,
    family="indicators_import",
)
async def import_indicators(ctx: Ctx) -> Response:
    """Import up to 500 indicators; per-item ``isFailed``/``failureReason``."""
    body = await ctx.body()
    items = body.get("Indicators")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "MissingRequiredParameter", "Missing required parameter: 'Indicators'.")
    if len(items) > 500:
        raise ApiError(400, "MaximumBatchSizeExceeded", "At most 500 indicators per request.")
    out = []
    with ctx.state.lock:
        for item in items:
            problem = _validate(item)
            value = item.get("indicatorValue") if isinstance(item, dict) else None
            if problem is not None:
                out.append(
                    {"id": None, "indicator": value, "isFailed": True, "failureReason": problem[1]}
                )
                continue
            try:
                stored = _upsert(ctx, item)
            except ApiError as exc:
                out.append(
                    {"id": None, "indicator": value, "isFailed": True, "failureReason": exc.message}
                )
                continue
            out.append(
                {"id": stored["id"], "indicator": value, "isFailed": False, "failureReason": None}
            )
    return JSONResponse(
        {
            "@odata.context": f"{ctx.request.base_url}api/$metadata#Collection"
            "(microsoft.windowsDefenderATP.api.ImportIndicatorResult)",
            "value": out,
        }
    )


@api(
    "DELETE",
    "/api/indicators/{id}",
    surface="mde",
    app=("Ti.ReadWrite.All",),
    delegated=("Ti.ReadWrite",),
)
async def delete(ctx: Ctx) -> Response:
    """Delete one indicator (204)."""
    with ctx.state.lock:
        if ctx.tenant.data["indicators"].pop(ctx.params["id"], None) is None:
            raise ApiError(404, "ResourceNotFound", f"Indicator {ctx.params['id']} was not found")
    return Response(status_code=204)


@api(
    "POST",
    "/api/indicators/BatchDelete",
    surface="mde",
    app=("Ti.ReadWrite.All",),
    delegated=("Ti.ReadWrite",),
    family="indicators_batch_delete",
)
async def batch_delete(ctx: Ctx) -> Response:
    """Delete up to 500 indicators (204); 400 for an empty or oversized list."""
    body = await ctx.body()
    ids = body.get("IndicatorIds")
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "InvalidRequestBody", "IndicatorIds must be a non-empty list.")
    if len(ids) > 500:
        raise ApiError(400, "MaximumBatchSizeExceeded", "At most 500 indicators per request.")
    with ctx.state.lock:
        for i in ids:
            ctx.tenant.data["indicators"].pop(str(i), None)
    return Response(status_code=204)


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """A few existing indicators, one with the deprecated AlertAndBlock action."""
    store = tenant.data["indicators"]
    now = datetime.now(UTC)
    rows = [
        (
            "FileSha256",
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            "AlertAndBlock",
            "Legacy EICAR block",
        ),
        ("DomainName", "known-bad.example", "Block", "Known bad domain"),
        ("IpAddress", "198.51.100.200", "Audit", "Scanner"),
    ]
    for kind, value, action, title in rows:
        iid = str(tenant.next_id("indicator", 1))
        store[iid] = {
            "id": iid,
            "indicatorValue": value,
            "indicatorType": kind,
            "action": action,
            "title": title,
            "description": "Seeded by the emulator",
            "severity": "Medium",
            "creationTimeDateTimeUtc": iso(now - timedelta(days=30)),
            "expirationTime": None,
            "lastUpdateTime": iso(now - timedelta(days=30)),
            "createdBy": "portal",
            "createdByDisplayName": "SOC Portal",
            "createdBySource": "Portal",
            "source": "Portal",
            "sourceType": "User",
            "generateAlert": action == "Audit",
            "rbacGroupNames": [],
            "rbacGroupIds": [],
            "recommendedActions": None,
            "application": None,
            "educateUrl": None,
            "mitreTechniques": [],
        }
