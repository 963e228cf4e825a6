"""What alert and incident resources share: the triage fields of an update (status, owner,
classification, determination), a Graph comment, and the ``$top`` of a Graph security list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from enum import Enum, StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel

from prefect_defender.api.answers import collection, read_models
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.alerts import check_graph_choice, check_triage
from prefect_defender.api.models.incidents import GraphComment
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import as_models
from prefect_defender.api.transport import Transport
from prefect_defender.api.validation import check_comment, check_required_text
from prefect_defender.api.window_paging import GRAPH_TOP_MAX, WindowReader

__all__ = [
    "GRAPH_PAGE_MAX",
    "MAX_TAGS",
    "add_graph_comment",
    "check_page_size",
    "check_tags",
    "graph_choice_eq",
    "graph_list_params",
    "graph_security_list",
    "graph_top",
    "require_changes",
    "triage_body",
]

#: the page size asked of Graph security lists (incidents, alerts_v2). Microsoft's list pages
#: document ``$top`` without a maximum and answer pages of 50 without it; the Graph security API
#: limits it to 1,000 (microsoft-graph-docs pull request 3551; elastic/integrations#20234), so
#: 1,000 is the largest page worth asking for: 10 requests for 10,000 incidents instead of 200.
GRAPH_PAGE_MAX = GRAPH_TOP_MAX
#: tags per incident: no documented maximum; a generous bound keeps requests sane
MAX_TAGS = 50


def check_page_size(value: int, maximum: int) -> int:
    """A positive page size, at most ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("page_size: a positive integer", field="page_size")
    return min(value, maximum)


def graph_top(page_size: int, limit: int | None) -> int:
    """``$top`` of a Graph security list: the page size (at most :data:`GRAPH_PAGE_MAX`), no
    more than ``limit`` when fewer items are wanted."""
    size = check_page_size(page_size, GRAPH_PAGE_MAX)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        size = min(size, limit)
    return size


def graph_list_params(
    odata_filter: str | None, page_size: int, limit: int | None, **more: str
) -> dict[str, Any]:
    """The query of a Graph security list: ``$filter`` (if any), ``more`` (``$expand``...),
    then ``$top`` from :func:`graph_top`."""
    params: dict[str, Any] = {"$filter": odata_filter} if odata_filter else {}
    params.update(more)
    params["$top"] = graph_top(page_size, limit)
    return params


M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=StrEnum)


def graph_choice_eq(f: ODataFilter, name: str, value: Any, enum: type[E]) -> str | None:
    """``name eq 'value'`` for a Graph list's enum filter (``value`` checked as ``enum`` by
    :func:`~prefect_defender.api.models.alerts.check_graph_choice`, any case of a documented
    value; errors name the field ``name``), or ``None`` when ``value`` is unset or empty."""
    return f.eq(name, check_graph_choice(value, enum, name)) if value else None


def graph_security_list(
    transport: Transport,
    model: type[M],
    endpoint_name: str,
    params: dict[str, Any],
    limit: int | None,
    fetch_one: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
) -> AsyncIterator[M]:
    """The items of a Graph security list as ``model``, read completely past Graph's paging
    limits (:class:`~prefect_defender.api.window_paging.WindowReader`: same-origin nextLinks,
    time windows past ``$top + $skip`` = 6,000; ``fetch_one`` reads one item with its
    ``$expand`` when the expanded list fails)."""
    reader = WindowReader(
        transport,
        endpoint(endpoint_name),
        params,
        page_size=int(params.get("$top", GRAPH_PAGE_MAX)),
        limit=limit,
        fetch_one=fetch_one,
    )
    return as_models(model, reader.items(), endpoint_name)


def triage_body(
    status: Enum | None,
    assigned_to: Any,
    classification: Any,
    determination: Any,
    *,
    graph: bool = False,
) -> dict[str, Any]:
    """The triage fields of an alert or incident update, in the API's spelling: ``status`` (an
    already checked member), ``assignedTo``, ``classification`` and ``determination`` (checked
    as a pair by :func:`~prefect_defender.api.models.alerts.check_triage`); unset ones left out.
    """
    body: dict[str, Any] = {}
    if status is not None:
        body["status"] = status.value
    if assigned_to is not None:
        body["assignedTo"] = check_comment(assigned_to, "assigned_to", 256)
    c, d = check_triage(classification, determination, graph=graph)
    if c is not None:
        body["classification"] = c
    if d is not None:
        body["determination"] = d
    return body


def require_changes(body: dict[str, Any]) -> dict[str, Any]:
    """``body``, unless it is empty (an update must change something)."""
    if not body:
        raise ValidationError("nothing to update: give at least one field", field="update")
    return body


async def add_graph_comment(
    transport: Transport, endpoint_name: str, item_id: str | int, comment: Any
) -> list[GraphComment]:
    """POST a Graph security ``alertComment`` to an alert or incident; every comment it has."""
    data = await transport.request_json(
        endpoint(endpoint_name),
        path_params={"id": item_id},
        json={
            "@odata.type": "microsoft.graph.security.alertComment",
            "comment": check_required_text(comment, "comment"),
        },
        idempotent=False,
    )
    return read_models(GraphComment, collection(data, endpoint_name), endpoint_name)


def check_tags(tags: Any, field: str = "tags") -> list[str]:
    """A list of at most :data:`MAX_TAGS` non-empty tags of up to 200 characters."""
    if isinstance(tags, str | bytes) or not isinstance(tags, Iterable):
        raise ValidationError(f"{field}: a list of tags", field=field)
    items = list(tags)
    if len(items) > MAX_TAGS:
        raise ValidationError(f"{field}: at most {MAX_TAGS} tags", field=field)
    return [check_required_text(t, f"{field}[{i}]", 200) for i, t in enumerate(items)]
