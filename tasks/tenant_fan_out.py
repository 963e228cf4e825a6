"""Work in many tenants at once with bounded resources, and an outcome for every tenant.

A fan-out over hundreds of tenants must not hold hundreds of clients: :func:`fan_out` runs
``work(scope)`` for every scope of a :class:`~prefect_defender.tasks.scope.TenantScopes`, at
most ``concurrency`` at a time, opening a tenant's client when its work starts and closing it
when it ends, so open sockets are bounded by the concurrency, whatever the number of tenants.
The concurrency itself is capped by what the process's open-file limit (``RLIMIT_NOFILE``,
``ulimit -n``) leaves room for (:func:`tenant_concurrency`).

Whatever one tenant's work raises (a Defender error, too many open files, no memory left, a
connection that cannot be made, a bug) becomes that tenant's row, built by ``failure``; the
others carry on and the caller always gets one row per tenant, in the scopes' order.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Awaitable, Callable
from typing import Any

from prefect_defender.tasks.scope import TenantScope, TenantScopes

__all__ = [
    "FILES_PER_TENANT",
    "RESERVED_FILES",
    "fan_out",
    "open_files_limit",
    "tenant_concurrency",
]

#: file descriptors one tenant at work may hold: the API hosts' connections (Graph and
#: Defender), a token request, a download
FILES_PER_TENANT = 4
#: file descriptors left to the rest of the process: Prefect's API client and log shipping, the
#: event loop, worker threads, imported libraries' files
RESERVED_FILES = 64

Row = dict[str, Any]


def open_files_limit() -> int:
    """The process's soft limit of open files (``ulimit -n``); a large number when unlimited.

    Examples:
        >>> open_files_limit() > 0
        True
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def tenant_concurrency(requested: int, files: int | None = None) -> int:
    """How many tenants may be at work at once: ``requested``, lowered so that their sockets
    fit in ``files`` open files (default: the process's limit) beside :data:`RESERVED_FILES`;
    at least 1.

    Examples:
        >>> tenant_concurrency(50, files=256), tenant_concurrency(5, files=256)
        (48, 5)
    """
    limit = open_files_limit() if files is None else files
    room = (limit - RESERVED_FILES) // FILES_PER_TENANT
    return max(1, min(max(1, requested), room))


async def fan_out(
    scopes: TenantScopes,
    work: Callable[[TenantScope], Awaitable[Row]],
    failure: Callable[[TenantScope, Exception], Row],
    *,
    concurrency: int,
) -> list[Row]:
    """``work(scope)`` for every scope, ``concurrency`` at a time (see :func:`tenant_concurrency`),
    each scope's client closed when its work ends; an exception becomes ``failure(scope, exc)``.

    Returns one row per scope, in the scopes' order. Cancelling the caller cancels the work.

    Example:
        ```python
        async with await TenantScopes.load("defender-partner-credentials/mssp") as scopes:
            rows = await fan_out(
                scopes,
                lambda s: count_incidents(s.client),
                lambda s, exc: {"tenant": s.label, "error": str(exc)},
                concurrency=tenant_concurrency(10),
            )
        ```
    """
    listed = list(scopes)
    todo = iter(enumerate(listed))  # shared by the workers: each takes the next tenant
    rows: list[Row | None] = [None] * len(listed)

    async def one(scope: TenantScope) -> Row:
        try:
            return await work(scope)
        except Exception as exc:  # any error of one tenant is that tenant's outcome
            try:
                return failure(scope, exc)
            except Exception:  # e.g. no memory left to build the row: the bare facts
                return {"tenant_id": scope.tenant_id, "status": "failed", "error": repr(exc)}
        finally:
            # a client that cannot even close: its row is already made
            with contextlib.suppress(Exception):
                await scope.aclose()

    async def worker() -> None:
        for index, scope in todo:
            rows[index] = await one(scope)

    workers = max(1, min(concurrency, len(listed)))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return [row for row in rows if row is not None]
