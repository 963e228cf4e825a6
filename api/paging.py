"""Paginators as async iterators.

* MDE and XDR: ``$top``/``$skip`` driven by the client. Their ``@odata.nextLink`` is unreliable
  (absent when ``$top`` is set, malformed without it: MicrosoftDocs/microsoft-365-docs #8489,
  #8316), so it is ignored.
* Graph: ``@odata.nextLink``, followed only when it points at the same origin as the Graph base
  URL; any other host raises :class:`~prefect_defender.api.errors.UnsafeRequestError`.

Nothing is buffered beyond one page. Every listing is checked page by page so that it ends
(:mod:`~prefect_defender.api.page_guard`): a repeated link or page, a page that ignores
``$skip``, more items than the service counted or more pages than the bound raise
:class:`~prefect_defender.api.errors.PagingError`, and the listing's fetching time is bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from prefect_defender.api.answers import collection, read_model, read_models
from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.clouds import origin
from prefect_defender.api.errors import PagingError, UnsafeRequestError
from prefect_defender.api.page_guard import page_guard
from prefect_defender.api.transport import Transport

__all__ = [
    "as_models",
    "collect",
    "iterate_next_link",
    "iterate_skip",
    "listed_models",
    "skip_models",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _values(body: Any, ep: Endpoint) -> list[dict[str, Any]]:
    return collection(body, ep.name)


async def iterate_skip(
    transport: Transport,
    ep: Endpoint,
    *,
    page_size: int,
    path_params: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield every item of an MDE/XDR collection, paging with ``$top``/``$skip``.

    Examples:
        ```python
        async with creds.get_client() as client:
            names = [m["computerDnsName"] async for m in client.paginate("mde.machines.list")]
        ```
    """
    if page_size < 1:
        raise ValueError("page_size must be positive")
    skip = 0
    seen = 0
    guard = page_guard(transport, ep)
    while True:
        top = page_size if limit is None else min(page_size, limit - seen)
        if top <= 0:
            return
        query = {**(params or {}), "$top": top, "$skip": skip}
        guard.next_page()
        body = await transport.request_json(
            ep, path_params=path_params, params=query, deadline=guard.deadline()
        )
        items = _values(body, ep)
        guard.page(body, items)
        for item in items:
            yield item
        seen += len(items)
        if len(items) < top:
            return
        skip += len(items)


async def iterate_next_link(
    transport: Transport,
    ep: Endpoint,
    *,
    path_params: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield every item of a Graph collection, following same-host ``@odata.nextLink``."""
    base_origin = origin(transport.endpoints.base_url(ep.surface))
    guard = page_guard(transport, ep)
    body = await transport.request_json(
        ep, path_params=path_params, params=params, deadline=guard.deadline()
    )
    seen = 0
    while True:
        items = _values(body, ep)
        guard.page(body, items)
        for item in items:
            yield item
            seen += 1
            if limit is not None and seen >= limit:
                return
        link = body.get("@odata.nextLink")
        if not link:
            return
        if not isinstance(link, str) or origin(link) != base_origin:
            raise UnsafeRequestError(
                f"refusing to follow @odata.nextLink to {origin(str(link))!r}: not the Graph host "
                f"{base_origin!r}",
                code="ForeignNextLink",
            )
        guard.next_page(link)
        body = await transport.request_json(ep, url=link, deadline=guard.deadline())


async def collect(items: AsyncIterator[T]) -> list[T]:
    """Every item of a paginator as a list; a :class:`PagingError` carries the items read
    before it in ``partial``.

    Example:
        ```python
        async with creds.get_client() as client:
            machines = await collect(client.machines.iterate(limit=500))
        ```
    """
    out: list[T] = []
    try:
        async for item in items:
            out.append(item)
    except PagingError as exc:
        exc.partial = out
        raise
    return out


async def as_models(
    model: type[M], items: AsyncIterator[dict[str, Any]], where: str
) -> AsyncIterator[M]:
    """Each item of a paginator of endpoint ``where`` validated as ``model``, as it arrives (a
    wrong shape: :class:`~prefect_defender.api.errors.InvalidResponseError`).

    Example:
        ```python
        from prefect_defender.api.catalog import endpoint
        from prefect_defender.api.models.machines import Machine

        async with creds.get_client() as client:
            ep = endpoint("mde.machines.list")
            pages = iterate_skip(client.transport, ep, page_size=100)
            names = [m.computer_dns_name
                     async for m in as_models(Machine, pages, "mde.machines.list")]
        ```
    """
    async for item in items:
        yield read_model(model, item, where)


def skip_models(
    model: type[M],
    transport: Transport,
    ep: Endpoint,
    *,
    page_size: int,
    params: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> AsyncIterator[M]:
    """Every item of an MDE/XDR collection as ``model``: :func:`iterate_skip` read through
    :func:`as_models`.

    Example:
        ```python
        from prefect_defender.api.catalog import endpoint
        from prefect_defender.api.models.machines import Machine

        async with creds.get_client() as client:
            ep = endpoint("mde.machines.list")
            machines = [m async for m in skip_models(Machine, client.transport, ep,
                                                     page_size=100, limit=500)]
        ```
    """
    return as_models(
        model, iterate_skip(transport, ep, page_size=page_size, params=params, limit=limit), ep.name
    )


def listed_models(model: type[M], body: Any, where: str) -> list[M]:
    """The items of a one-page OData collection (``{"value": [...]}``) of endpoint ``where``
    as ``model``; none when the answer holds no such list."""
    rows = body.get("value") if isinstance(body, dict) else None
    return read_models(model, rows, where) if isinstance(rows, list) else []
