"""Paging of the Graph security lists (``security/incidents``, ``security/alerts_v2``) as the
service does it, limits included.

* ``$top`` at most 1,000 and ``$top + $skip`` at most 6,000: "The ``$top`` OData query
  parameter has a limit of 1000 alerts, and a combination of ``$top`` + ``$skip`` OData query
  parameters cannot exceed 6000 alerts. For example, ``/security/alerts?$top=10&$skip=5990``
  will return a ``200 OK`` response code, but ``/security/alerts?$top=10&$skip=5991`` will
  return a ``400 Bad Request`` response code" (microsoftgraph/microsoft-graph-docs pull request
  3551, "Constraints" of https://learn.microsoft.com/graph/api/resources/security-error-codes;
  the current page keeps the 1,000 and writes 500 for ``$skip`` alone on the legacy alerts).
  elastic/integrations#20234 met the 400 on ``/security/incidents`` and ``alerts_v2`` in 2026.
  The answer is Graph's error body as observed for the ``$top`` limit (wazuh/wazuh#28070):
  ``{"error": {"code": "", "message": "The query specified in the URI is not valid. The limit of
  '50' for Top query has been exceeded. The value from the incoming request is '100'.",
  "details": [], "innerError": {...}}}`` (that tenant's incidents list allowed 50 then; the
  emulator allows the 1,000 of the constraints page and names it).
* ``@odata.nextLink`` carries ``$top``/``$skip`` and is given while rows remain, also when
  following it would pass the limit (the service answers that request with the 400).
* ``$count=true`` adds ``@odata.count`` (the list pages name ``$count``).

Test knobs (``/_emulator/config``): ``graph_page_cap`` serves at most that many rows per page
whatever ``$top`` asks (Graph treats ``$top`` as an upper bound, not a promise);
``graph_top_max`` lowers the ``$top`` limit (the 50 wazuh met).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse

from prefect_defender.emulator.guard import ApiError, Ctx
from prefect_defender.emulator.odata import ODataError

__all__ = ["DEFAULT_PAGE", "MAX_SKIP_TOP", "MAX_TOP", "graph_page", "graph_top_skip", "next_link"]

#: pages of 50 when no ``$top`` is given (what the service answers; the pages name no default)
DEFAULT_PAGE = 50
MAX_TOP = 1000
MAX_SKIP_TOP = 6000
_INVALID = "The query specified in the URI is not valid."


def _refuse(message: str) -> ApiError:
    # the observed answer names no code (wazuh/wazuh#28070); its message says what was wrong
    return ApiError(400, "", f"{_INVALID} {message}", details=[])


def graph_top_skip(ctx: Ctx) -> tuple[int, int]:
    """``($top, $skip)`` of a Graph security list, refused past the service's limits."""
    try:
        top = int(ctx.query["$top"]) if "$top" in ctx.query else DEFAULT_PAGE
        skip = int(ctx.query.get("$skip") or 0)
    except ValueError:
        raise ODataError("$top and $skip must be integers") from None
    if top < 0 or skip < 0:
        raise ODataError("$top and $skip must not be negative")
    most = int(ctx.state.config.get("graph_top_max") or MAX_TOP)
    if top > most:
        raise _refuse(
            f"The limit of '{most}' for Top query has been exceeded. The value from the "
            f"incoming request is '{top}'."
        )
    if top + skip > MAX_SKIP_TOP:
        raise _refuse(
            f"The limit of '{MAX_SKIP_TOP}' for Top and Skip query combined has been exceeded. "
            f"The values from the incoming request are '{top}' and '{skip}'."
        )
    cap = ctx.state.config.get("graph_page_cap")
    return (min(top, int(cap)) if cap else top), skip


def next_link(ctx: Ctx, skip: int, top: int, extra: dict[str, Any]) -> str:
    """An absolute ``@odata.nextLink`` on the request's host (or the ``next_link_host`` knob)."""
    host = ctx.state.config.get("next_link_host") or ctx.request.url.hostname
    port = ctx.request.url.port
    netloc = f"{host}:{port}" if port else str(host)
    query = urlencode({**extra, "$top": top, "$skip": skip})
    return f"https://{netloc}{ctx.request.url.path}?{query}"


def graph_page(
    ctx: Ctx,
    context: str,
    rows: list[dict[str, Any]],
    skip: int,
    top: int,
    page: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """One page of a Graph list: ``rows[skip:skip + top]`` (or ``page``, the same rows as
    served), ``@odata.count`` when ``$count=true`` and an ``@odata.nextLink`` while rows remain
    (asking for the ``$top`` the request asked for)."""
    body: dict[str, Any] = {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
        "value": rows[skip : skip + top] if page is None else page,
    }
    if ctx.query.get("$count") == "true":
        body["@odata.count"] = len(rows)
    if skip + top < len(rows):
        extra = {k: v for k, v in ctx.query.items() if k not in ("$top", "$skip")}
        asked = int(ctx.query.get("$top") or top)
        body["@odata.nextLink"] = next_link(ctx, skip + top, asked, extra)
    return JSONResponse(body)
