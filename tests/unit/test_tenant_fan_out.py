"""fan_out: work in every tenant with at most ``concurrency`` clients open, each closed when its
tenant's work ends, and any error of one tenant (too many open files, no memory, no connection)
as that tenant's row. Real scopes and clients of a partner block; building a client sends
nothing, and the work here sends nothing either."""

from __future__ import annotations

import asyncio
import errno
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.blocks import DefenderPartnerCredentials
from prefect_defender.tasks.scope import TenantScope, TenantScopes
from prefect_defender.tasks.tenant_fan_out import (
    FILES_PER_TENANT,
    RESERVED_FILES,
    fan_out,
    tenant_concurrency,
)

CLIENT = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
TENANTS = [f"{i:08x}-2222-4222-8222-222222222222" for i in range(1, 31)]


def _scopes() -> TenantScopes:
    partner = DefenderPartnerCredentials(
        client_id=CLIENT,
        client_secret="s",
        tenants=[{"tenant_id": t, "display_name": f"Customer {i}"} for i, t in enumerate(TENANTS)],
    )
    return TenantScopes(partner, TENANTS)


def _failure(scope: TenantScope, exc: Exception) -> dict[str, Any]:
    return {"tenant": scope.label, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}


async def test_open_clients_bounded_by_the_concurrency_not_the_tenants() -> None:
    scopes = _scopes()
    open_now: list[int] = []

    async def work(scope: TenantScope) -> dict[str, Any]:
        assert scope.client.tenant_id == scope.tenant  # opened when its work starts
        open_now.append(sum(s._client is not None for s in scopes))
        await asyncio.sleep(0.001 * (len(open_now) % 3))  # tenants finish out of order
        return {"tenant": scope.label, "status": "ok"}

    async with scopes:
        rows = await fan_out(scopes, work, _failure, concurrency=3)
        assert all(s._client is None for s in scopes)  # each closed when its work ended
    assert [r["tenant"] for r in rows] == [f"Customer {i}" for i in range(len(TENANTS))]
    assert len(open_now) == len(TENANTS) and max(open_now) <= 3 and max(open_now) >= 2


async def test_a_resource_error_in_one_tenant_is_that_tenants_outcome() -> None:
    scopes = _scopes()
    errors: dict[int, Exception] = {
        2: OSError(errno.EMFILE, "Too many open files"),
        5: MemoryError(),
        7: httpx.ConnectError("[Errno 111] Connection refused"),
        9: RuntimeError("can't start new thread"),
    }

    async def work(scope: TenantScope) -> dict[str, Any]:
        index = TENANTS.index(scope.tenant)
        _ = scope.client
        if index in errors:
            raise errors[index]
        return {"tenant": scope.label, "status": "ok"}

    async with scopes:
        rows = await fan_out(scopes, work, _failure, concurrency=4)
        assert all(s._client is None for s in scopes)  # failed tenants closed too
    assert len(rows) == len(TENANTS)
    failed = {
        TENANTS.index(s.tenant): r for s, r in zip(scopes, rows, strict=True) if r["status"] != "ok"
    }
    assert set(failed) == set(errors)
    assert failed[2]["error"] == "OSError: [Errno 24] Too many open files"
    assert failed[5]["error"].startswith("MemoryError")
    assert "Connection refused" in failed[7]["error"]


async def test_a_failure_that_cannot_build_its_row_still_leaves_one() -> None:
    scopes = _scopes()

    async def work(scope: TenantScope) -> dict[str, Any]:
        raise OSError(errno.EMFILE, "Too many open files")

    def no_memory(scope: TenantScope, exc: Exception) -> dict[str, Any]:
        raise MemoryError

    rows = await fan_out(scopes, work, no_memory, concurrency=2)
    assert len(rows) == len(TENANTS) and {r["status"] for r in rows} == {"failed"}
    assert rows[0]["tenant_id"] == TENANTS[0] and "Too many open files" in rows[0]["error"]


async def test_cancelling_the_run_cancels_the_work() -> None:
    scopes = _scopes()
    started = asyncio.Event()

    async def work(scope: TenantScope) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(60)
        return {}

    task = asyncio.ensure_future(fan_out(scopes, work, _failure, concurrency=2))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@given(st.integers(-5, 500), st.integers(0, 100_000))
def test_concurrency_fits_the_open_file_limit(requested: int, files: int) -> None:
    slots = tenant_concurrency(requested, files=files)
    assert 1 <= slots <= max(1, requested)
    assert slots == 1 or RESERVED_FILES + slots * FILES_PER_TENANT <= files
