"""Indicators: create or update, import, list, delete, batch delete (MDE ``/api/indicators``).

As documented (post-ti-indicator, import-ti-indicators, get-ti-indicators-collection,
delete-ti-indicator-by-id, batch-delete-ti-indicators):

* indicators are stored per tenant and created-or-updated by (``indicatorType``, value); body
  field names are case-sensitive; ``generateAlert`` must be true for ``Audit``; no CIDR;
* at most 15,000 *active* (not expired) indicators per tenant (knob ``indicators_max_active``
  lowers it for tests); import takes at most 500 and answers one row per item with
  ``isFailed``/``failureReason`` (an invalid item fails alone, the others are stored);
* an app with ``Ti.ReadWrite`` but not ``Ti.ReadWrite.All`` sees (lists, updates, deletes) only
  the indicators it created; delegated callers see all;
* ``BatchDelete`` answers 204 when every id existed, 400 for an empty, oversized or invalid
  list and 404 naming the missing ids (nothing is deleted then);
* the list shows active indicators only, ``$top`` at most 10,000.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, page_list, parse_top_skip
from prefect_defender.emulator.routes.indicator_checks import (
    group_names,
    parse_time,
)
from prefect_defender.emulator.routes.indicator_checks import (
    validate as _validate,
)
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

TI = ("Ti.ReadWrite", "Ti.ReadWrite.All")
TI_D = ("Ti.ReadWrite",)
#: get-ti-indicators-collection ("$filter" on these 13 properties)
_PAGE_LIST = page_list(
    "application, createdByDisplayName, expirationTime, generateAlert, title, "
    "rbacGroupNames, rbacGroupIds, indicatorValue, indicatorType, "
    "creationTimeDateTimeUtc, createdBy, action, severity"
)
#: exposed-apis-odata-samples ("Properties that support $filter"), as the page writes it; it
#: lists fewer properties than the get-* page and spells some in PascalCase: a filter on either
#: page's spelling is served (names match in any case, as both pages' examples need)
_ODATA_SAMPLES = page_list(
    "indicatorValue, indicatorType, creationTimeDateTimeUtc, createdBy, severity, and action."
)
FILTERS = _PAGE_LIST + _ODATA_SAMPLES
MAX_ACTIVE = 15_000
MAX_BATCH = 500
MAX_TOP = 10_000


def _expired(ind: dict[str, Any], now: datetime) -> bool:
    when = parse_time(ind.get("expirationTime"))
    return when is not None and when <= now


def _sees_all(ctx: Ctx) -> bool:
    if "scp" in ctx.claims:  # delegated: the user's own role and device groups apply
        return True
    return "Ti.ReadWrite.All" in set(ctx.claims.get("roles") or [])


def _visible(ctx: Ctx, ind: dict[str, Any]) -> bool:
    return _sees_all(ctx) or ind.get("createdBy") == ctx.app_id


class _Store:
    """The tenant's indicators with an index by (type, value) for one request."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.rows: dict[str, dict[str, Any]] = ctx.tenant.data["indicators"]
        self.now = datetime.now(UTC)
        self.by_key = {
            (i["indicatorType"], str(i["indicatorValue"]).lower()): i for i in self.rows.values()
        }
        self.active = sum(1 for i in self.rows.values() if not _expired(i, self.now))
        self.limit = int(ctx.state.config.get("indicators_max_active") or MAX_ACTIVE)

    def upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        key = (body["indicatorType"], str(body["indicatorValue"]).lower())
        existing = self.by_key.get(key)
        now = iso(self.now)
        if existing is not None and not _visible(ctx, existing):
            raise ApiError(
                403,
                "Forbidden",
                "An indicator with this value and type exists and was created by another "
                "application; Ti.ReadWrite.All is needed to update it.",
            )
        will_be_active = not _expired(body, self.now)
        was_active = existing is not None and not _expired(existing, self.now)
        if will_be_active and not was_active and self.active >= self.limit:
            raise ApiError(
                400,
                "BadRequest",
                f"The maximum number of active indicators ({self.limit:,}) for this tenant has "
                "been reached. Delete indicators or let some expire before adding more.",
            )
        if existing is None:
            iid = str(ctx.tenant.next_id("indicator", 1))
            delegated = "scp" in ctx.claims
            existing = {
                "id": iid,
                "creationTimeDateTimeUtc": now,
                "createdBy": ctx.caller if delegated else ctx.app_id,
                "createdByDisplayName": ctx.caller,
                "createdBySource": "PublicApi",
                "source": ctx.caller,
                "sourceType": "User" if delegated else "AadApp",
                "rbacGroupNames": [],
                "rbacGroupIds": [],
                "generateAlert": False,
                "expirationTime": None,
                "severity": "Informational",
                "recommendedActions": None,
                "application": body.get("application"),
                "educateUrl": None,
                "mitreTechniques": [],
                "externalID": None,
            }
            self.rows[iid] = existing
            self.by_key[key] = existing
        update = {k: v for k, v in body.items() if k != "application"}  # new indicators only
        if "rbacGroupNames" in update:
            update["rbacGroupNames"] = group_names(update["rbacGroupNames"])
        existing.update(update)
        existing["lastUpdateTime"] = now
        existing["lastUpdatedBy"] = ctx.caller
        self.active += int(will_be_active) - int(was_active)
        return existing


@api("GET", "/api/indicators", surface="mde", app=TI, delegated=TI_D)
async def list_indicators(ctx: Ctx) -> Response:
    """Active indicators this caller may see (``$top`` up to 10,000)."""
    top, skip = parse_top_skip(ctx.query, MAX_TOP)
    pred = compile_filter(ctx.query.get("$filter"), FILTERS, any_case=True)
    now = datetime.now(UTC)
    with ctx.state.lock:
        rows = [
            dict(i)
            for i in ctx.tenant.data["indicators"].values()
            if _visible(ctx, i) and not _expired(i, now) and pred(i)
        ]
    rows.sort(key=lambda i: int(i["id"]))
    return JSONResponse(
        {
            "@odata.context": f"{ctx.request.base_url}api/$metadata#Indicators",
            "value": rows[skip : skip + top],
        }
    )


@api("POST", "/api/indicators", surface="mde", app=TI, delegated=TI_D)
async def submit(ctx: Ctx) -> Response:
    """Create or update an indicator (200 with the stored indicator)."""
    body = await ctx.body()
    problem = _validate(body)
    if problem is not None:
        raise ApiError(400, *problem)
    with ctx.state.lock:
        return JSONResponse(dict(_Store(ctx).upsert(body)))


def _batch_list(body: dict[str, Any], key: str, noun: str) -> list[Any]:
    """``body[key]``: a non-empty list of at most :data:`MAX_BATCH` items; 400 otherwise
    (``MissingRequiredParameter``, ``InvalidRequestBody`` or ``MaximumBatchSizeExceeded``)."""
    items = body.get(key)
    if items is None:
        raise ApiError(400, "MissingRequiredParameter", f"Missing required parameter: '{key}'.")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "InvalidRequestBody", f"'{key}' must be a non-empty list.")
    if len(items) > MAX_BATCH:
        raise ApiError(
            400,
            "MaximumBatchSizeExceeded",
            f"The batch holds {len(items)} {noun}; the maximum is {MAX_BATCH}.",
        )
    return items


@api(
    "POST",
    "/api/indicators/import",
    surface="mde",
    app=TI,
    delegated=TI_D,
    family="indicators_import",
)
async def import_indicators(ctx: Ctx) -> Response:
    """Import up to 500 indicators; one row per item with ``isFailed``/``failureReason``."""
    items = _batch_list(await ctx.body(), "Indicators", "indicators")
    out = []
    with ctx.state.lock:
        store = _Store(ctx)
        for item in items:
            value = item.get("indicatorValue") if isinstance(item, dict) else None
            problem = _validate(item)
            if problem is not None:
                out.append(
                    {"id": None, "indicator": value, "isFailed": True, "failureReason": problem[1]}
                )
                continue
            try:
                stored = store.upsert(item)
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


# The delete pages list the application permissions Ti.ReadWrite and Ti.ReadWrite.All only;
# the delegated Ti.ReadWrite of the other indicator pages is accepted too.
@api("DELETE", "/api/indicators/{id}", surface="mde", app=TI, delegated=TI_D)
async def delete(ctx: Ctx) -> Response:
    """Delete one indicator (204; 404 when missing or not visible to this app)."""
    iid = ctx.params["id"]
    with ctx.state.lock:
        store = ctx.tenant.data["indicators"]
        ind = store.get(iid)
        if ind is None or not _visible(ctx, ind):
            raise ApiError(404, "ResourceNotFound", f"Indicator {iid} was not found")
        del store[iid]
    return Response(status_code=204)


@api(
    "POST",
    "/api/indicators/BatchDelete",
    surface="mde",
    app=TI,
    delegated=TI_D,
    family="indicators_batch_delete",
)
async def batch_delete(ctx: Ctx) -> Response:
    """Delete up to 500 indicators (204); 400 for an empty, oversized or invalid list, 404 when
    any id is missing (then nothing is deleted)."""
    ids = _batch_list(await ctx.body(), "IndicatorIds", "indicator ids")
    bad = [i for i in ids if not (isinstance(i, str | int) and str(i).strip().isdigit())]
    if bad:
        raise ApiError(400, "InvalidInput", f"Invalid indicator id(s): {bad[:10]}.")
    keys = list(dict.fromkeys(str(i).strip() for i in ids))
    with ctx.state.lock:
        store = ctx.tenant.data["indicators"]
        missing = [i for i in keys if i not in store or not _visible(ctx, store[i])]
        if missing:
            shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
            raise ApiError(404, "ResourceNotFound", f"Indicator(s) not found: {shown}")
        for i in keys:
            del store[i]
    return Response(status_code=204)


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """A few existing indicators made in the portal, one with the deprecated AlertAndBlock."""
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
            "lastUpdatedBy": "soc-lead@" + tenant.domain,
            "createdBy": "soc-lead@" + tenant.domain,
            "createdByDisplayName": "SOC Lead",
            "createdBySource": "Portal",
            "source": "soc-lead@" + tenant.domain,
            "sourceType": "User",
            "generateAlert": action == "Audit",
            "rbacGroupNames": [],
            "rbacGroupIds": [],
            "recommendedActions": None,
            "application": None,
            "educateUrl": None,
            "mitreTechniques": [],
            "externalID": None,
        }
