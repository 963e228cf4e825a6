"""One task for any catalog endpoint: the escape hatch that still validates, paces and types errors.

:func:`call_defender_endpoint` calls an operation of :mod:`prefect_defender.api.catalog` by name
before a dedicated task exists for it (or for a query the dedicated tasks do not expose). It goes
through the same client as every other task: the endpoint's token audience, its rate-limit
family, retries honouring ``Retry-After``, complete paging and typed errors naming the missing
permission. What it adds is checking the call against the catalog before anything is sent:

* the endpoint name must be in the catalog (a near miss is suggested);
* ``path_params`` must name exactly the placeholders of the endpoint's path, each a non-empty
  value without control characters, ``/``, ``?`` or ``#`` and never ``.`` or ``..``;
* ``params`` keys are OData system options (``$filter``, ``$top`` ...) or plain names, values
  text, integers or booleans; ``$top``/``$skip`` are non-negative integers;
* a write (any method but ``GET``) needs ``allow_write=True``, a body only goes with a write,
  and a Graph beta endpoint needs ``accept_beta=True``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from prefect_defender.api.catalog import CATALOG, Endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    EndpointName,
    Limit,
    PathParams,
    QueryParams,
    RequestBody,
    TenantId,
)
from prefect_defender.api.validation import check_comment, check_int, check_odata_filter
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task

__all__ = ["call_defender_endpoint", "check_endpoint_call"]

_PLACEHOLDER = re.compile(r"{(\w+)}")
_PARAM_NAME = re.compile(r"^(\$[a-z]+|[A-Za-z][A-Za-z0-9_]{0,63})$")
_ODATA_OPTIONS = frozenset(
    {"$filter", "$top", "$skip", "$select", "$expand", "$orderby", "$count", "$search"}
)
_PATH_VALUE_FORBIDDEN = re.compile(r"[/?#\\]")


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", field=field)


def _endpoint_named(name: Any) -> Endpoint:
    if not isinstance(name, str) or not name.strip():
        raise _fail("endpoint", "expected a catalog endpoint name such as 'mde.machines.get'")
    ep = CATALOG.get(name.strip())
    if ep is None:
        near = difflib.get_close_matches(name.strip(), list(CATALOG), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise _fail("endpoint", f"{name[:80]!r} is not in the endpoint catalog{hint}")
    return ep


def _path_values(ep: Endpoint, path_params: dict[str, Any] | None) -> dict[str, str]:
    wanted = set(_PLACEHOLDER.findall(ep.path))
    given = dict(path_params or {})
    if set(given) != wanted:
        missing = sorted(wanted - set(given))
        extra = sorted(set(given) - wanted)
        parts = [f"missing {missing}" if missing else "", f"unknown {extra}" if extra else ""]
        raise _fail(
            "path_params",
            f"endpoint {ep.name} ({ep.path}) takes {sorted(wanted) or 'none'}: "
            f"{', '.join(p for p in parts if p)}",
        )
    out: dict[str, str] = {}
    for key, value in given.items():
        field = f"path_params[{key}]"
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _fail(field, f"expected text or an integer, got {type(value).__name__}")
        text = check_comment(str(value), field, 512)
        if not text or text in (".", "..") or _PATH_VALUE_FORBIDDEN.search(text):
            raise _fail(field, f"{text[:60]!r} is not a single path segment")
        out[key] = text
    return out


def _query(params: dict[str, Any] | None) -> dict[str, str | int]:
    out: dict[str, str | int] = {}
    for key, value in (params or {}).items():
        if not isinstance(key, str) or not _PARAM_NAME.match(key):
            raise _fail("params", f"{str(key)[:40]!r} is not a query parameter name")
        if key.startswith("$") and key not in _ODATA_OPTIONS:
            raise _fail("params", f"{key} is not an OData system query option")
        field = f"params[{key}]"
        if key in ("$top", "$skip"):
            out[key] = check_int(value, field, 0)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int):
            out[key] = value
        elif key == "$filter":
            out[key] = check_odata_filter(value, field)
        elif isinstance(value, str):
            out[key] = check_comment(value, field, 8000)
        else:
            raise _fail(
                field, f"expected text, an integer or a boolean, got {type(value).__name__}"
            )
    return out


def check_endpoint_call(
    endpoint: str,
    path_params: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | list[Any] | None = None,
    *,
    all_pages: bool = False,
    allow_write: bool = False,
    accept_beta: bool = False,
) -> tuple[Endpoint, dict[str, str], dict[str, str | int]]:
    """Check a call of a catalog endpoint; ``(endpoint, path values, query)`` or a
    :class:`ValidationError` naming the offending argument (nothing is sent).

    Example:
        >>> ep, path, query = check_endpoint_call("mde.machines.get", {"id": "a" * 40})
        >>> ep.path, path
        ('/api/machines/{id}', {'id': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'})
    """
    ep = _endpoint_named(endpoint)
    path = _path_values(ep, path_params)
    query = _query(params)
    if ep.beta and not accept_beta:
        raise _fail("accept_beta", f"{ep.name} is a Graph beta API: pass accept_beta=True")
    if ep.method != "GET" and not allow_write:
        raise _fail("allow_write", f"{ep.name} is a write ({ep.method}): pass allow_write=True")
    if body is not None and ep.method == "GET":
        raise _fail("body", f"{ep.name} is a GET and takes no body")
    if all_pages and ep.method != "GET":
        raise _fail("all_pages", f"{ep.name} is not a collection read ({ep.method})")
    return ep, path, query


@defender_task(generic=True)
async def call_defender_endpoint(
    credentials: DefenderCredentialsLike,
    endpoint: EndpointName,
    path_params: PathParams | None = None,
    params: QueryParams | None = None,
    body: RequestBody | None = None,
    all_pages: bool = False,
    limit: Limit | None = 10_000,
    allow_write: bool = False,
    accept_beta: bool = False,
    tenant_id: TenantId | None = None,
) -> Any:
    """Call any catalog endpoint by name: validated against the catalog, paced, typed errors.

    Returns the decoded JSON answer, or with ``all_pages=True`` the items of every page (up to
    ``limit``), paged as the surface documents (``$top``/``$skip`` on Defender, same-host
    ``@odata.nextLink`` on Graph). The permission needed is that of the endpoint (see the
    permission tables of docs/permissions.md); a 403 names it.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.generic import call_defender_endpoint

        @flow
        async def logons_of(machine_id: str) -> list[dict]:
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            return await call_defender_endpoint(
                creds, "mde.machines.logon_users", path_params={"id": machine_id}, all_pages=True
            )
        ```
    """
    ep, path, query = check_endpoint_call(
        endpoint,
        path_params,
        params,
        body,
        all_pages=all_pages,
        allow_write=allow_write,
        accept_beta=accept_beta,
    )
    async with defender_client(credentials, tenant_id) as client:
        if all_pages:
            return [
                item
                async for item in client.paginate(
                    ep.name, path_params=path, params=query, limit=limit
                )
            ]
        return await client.call(ep.name, path_params=path, params=query, json=body)
