"""The client core against the emulator: limits, Retry-After, retries, paging, errors, hosts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from prefect_defender.api.errors import (
    NotFoundError,
    PermissionDeniedError,
    UnsafeRequestError,
    ValidationError,
)
from prefect_defender.blocks import DefenderApplicationCredentials

NO_FAULTS = {
    "rate_429": 0.0,
    "rate_429_no_retry_after": 0.0,
    "rate_500": 0.0,
    "rate_502": 0.0,
    "rate_503": 0.0,
    "reset_before": 0.0,
    "reset_after": 0.0,
    "slow": 0.0,
    "routes": None,
}


def _requests(stats: dict[str, Any], route: str, status: int | None = None) -> int:
    return sum(
        int(r["count"])
        for r in stats["requests"]
        if r["route"] == route and (status is None or int(r["status"]) == status)
    )


async def test_429_retry_after_is_honoured(conn: dict, fresh: Any) -> None:
    """The emulator's own limit (time-scaled) answers 429 to a client that does not pace;
    ours is told Retry-After, waits, and every call completes."""
    # 100 calls per 2 s for MDE: a window wide enough that the 130-call burst lands inside it
    # even on a loaded machine (at 1 s it once arrived too slowly to be throttled)
    fresh.admin.patch_config(time_scale=30.0)
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits={"mde": [(100000, 60)]})
    async with creds.get_client() as client:
        m = (await client.machines.list(limit=1))[0]
        start = time.monotonic()
        # one burst, so 130 calls reach the emulator inside its one-second window even on a
        # slow machine (sequential calls there could let the window slide and never throttle)
        got = await asyncio.gather(*(client.machines.get(m.id) for _ in range(130)))
        assert {g.id for g in got} == {m.id}
        elapsed = time.monotonic() - start
        stats = fresh.admin.stats()
        throttled = client.transport.stats.throttled
    assert throttled >= 1, "the emulator never throttled: the test proves nothing"
    assert _requests(stats, "GET /api/machines/{id}", 429) == throttled
    assert _requests(stats, "GET /api/machines/{id}", 200) == 130
    assert elapsed >= 0.5  # it waited for the window to move on


async def test_injected_429_without_retry_after_and_5xx_are_retried(conn: dict, fresh: Any) -> None:
    fresh.admin.patch_config(
        rate_limits_enabled=False,
        faults={**NO_FAULTS, "rate_429_no_retry_after": 0.2, "rate_503": 0.1, "rate_500": 0.1},
    )
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        client.transport.retry = client.transport.retry.__class__(
            max_attempts=20, backoff_base=0.01, backoff_max=0.05
        )
        machines = await client.machines.list(limit=40)
        for m in machines:
            assert (await client.machines.get(m.id)).id == m.id
        retries = client.transport.stats.retries
    assert retries > 0


async def test_client_pacing_avoids_429_entirely(conn: dict, fresh: Any) -> None:
    """With the same scaled limit on both sides, the client never meets a 429."""
    fresh.admin.patch_config(time_scale=30.0)  # 100 calls per 2 s, as in the benchmarks
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=30.0)
    async with creds.get_client() as client:
        m = (await client.machines.list(limit=1))[0]
        for _ in range(250):
            await client.machines.get(m.id)
    stats = fresh.admin.stats()
    assert _requests(stats, "GET /api/machines/{id}", 200) == 250
    assert _requests(stats, "GET /api/machines/{id}", 429) == 0


@pytest.mark.parametrize("page_size", [7, 100])
async def test_skip_paging_returns_every_item_once(conn: dict, fresh: Any, page_size: int) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        paged = [m.id async for m in client.machines.iterate(page_size=page_size)]
        whole = [m.id async for m in client.machines.iterate()]
    assert len(paged) == len(set(paged)) == len(whole)
    assert set(paged) == set(whole)


async def test_graph_next_link_paging_every_item_once(conn: dict, fresh: Any) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        small = [i.id async for i in client.graph_incidents.iterate(page_size=3)]
        xdr = [i.incident_id async for i in client.incidents.iterate(page_size=3)]
    assert len(small) == len(set(small)) > 3
    assert len(xdr) == len(set(xdr)) > 3
    # the same incidents are served by both surfaces
    assert set(small) == {str(i) for i in xdr}


async def test_foreign_host_next_link_is_refused(conn: dict, fresh: Any) -> None:
    fresh.admin.patch_config(next_link_host="127.0.0.1")
    creds = DefenderApplicationCredentials.from_emulator(conn)
    try:
        async with creds.get_client() as client:
            with pytest.raises(UnsafeRequestError, match=r"127\.0\.0\.1"):
                async for _ in client.graph_incidents.iterate(page_size=2):
                    pass
        stats = fresh.admin.stats()
        # exactly one Graph request went out: the foreign link was never fetched
        assert _requests(stats, "GET /v1.0/security/incidents") == 1
    finally:
        fresh.admin.patch_config(next_link_host=None)


def test_token_only_for_configured_hosts(conn: dict) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    client = creds.get_client()
    with pytest.raises(UnsafeRequestError):
        client.transport.check_host("https://attacker.example/api/machines")
    with pytest.raises(UnsafeRequestError):
        client.transport.check_host(conn["mde_base_url"].replace("https://", "http://"))
    assert client.transport.check_host(conn["mde_base_url"] + "/api/machines")


async def test_403_names_the_missing_permission(conn: dict, fresh: Any) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    async with creds.get_client() as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.call(
                "mde.actions.isolate",
                path_params={"id": "a" * 40},
                json={"Comment": "test", "IsolationType": "Full"},
            )
    err = info.value
    assert err.status == 403
    assert err.required == ("Machine.Isolate",)
    assert err.api == "WindowsDefenderATP"
    assert "Machine.Isolate" in str(err) and "WindowsDefenderATP" in str(err)


async def test_404_carries_defender_code_and_target(conn: dict, fresh: Any) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        with pytest.raises(NotFoundError) as info:
            await client.machines.get("f" * 40)
    assert info.value.code == "ResourceNotFound"
    assert info.value.target
    assert "was not found" in info.value.message


async def test_invalid_input_sends_nothing(conn: dict, fresh: Any) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        await client.machines.list(limit=1)  # token fetched
        fresh.admin.reset_stats()
        for bad in ("../../etc/passwd", "x" * 300, "a b", ""):
            with pytest.raises(ValidationError):
                await client.machines.get(bad)
        with pytest.raises(ValidationError):
            await client.incidents.get("12; DROP")
    assert sum(int(r["count"]) for r in fresh.admin.stats()["requests"]) == 0


async def test_expired_token_mid_run_is_replaced(conn: dict, fresh: Any) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        await client.machines.list(limit=1)
        fresh.admin.revoke_tokens()
        await client.machines.list(limit=1)
        assert client.transport.stats.token_refreshes == 1
