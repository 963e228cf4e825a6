"""Shared fixtures: one HTTPS emulator and one Prefect test harness per session.

Everything here runs real code over real sockets: msal against the emulator's token endpoint
over HTTPS, httpx against its API routes, Prefect flows on ``prefect_test_harness``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The emulator, in-process on a free port, with default seed data."""
    from prefect_defender.emulator import EmulatorServer

    data_dir = tmp_path_factory.mktemp("emulator")
    with EmulatorServer(data_dir=str(data_dir), port=0) as emu:
        yield emu


@pytest.fixture(scope="session")
def conn(emulator: Any) -> dict[str, Any]:
    """The emulator's connection.json."""
    return dict(emulator.connection)


@pytest.fixture(scope="session")
def tenants(conn: dict[str, Any]) -> dict[str, str]:
    """Tenant ids by name (woodgrove, contoso, fabrikam, northwind)."""
    return {t["name"]: t["tenant_id"] for t in conn["tenants"]}


@pytest.fixture
def fresh(emulator: Any) -> Iterator[Any]:
    """Fresh process-wide token providers and limiters, zeroed emulator stats and knobs."""
    from prefect_defender.api import auth, ratelimit

    auth.REGISTRY.clear()
    ratelimit.REGISTRY.clear()
    emulator.admin.reset_stats()
    yield emulator
    emulator.admin.patch_config(
        time_scale=1.0,
        rate_limits_enabled=True,
        faults={
            "rate_429": 0.0,
            "rate_429_no_retry_after": 0.0,
            "rate_500": 0.0,
            "rate_502": 0.0,
            "rate_503": 0.0,
            "reset_before": 0.0,
            "reset_after": 0.0,
            "slow": 0.0,
            "routes": None,
        },
    )
    auth.REGISTRY.clear()
    ratelimit.REGISTRY.clear()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test harness (temporary database and server) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def token_requests(stats: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Token requests counted by the emulator, by (tenant, audience)."""
    out: dict[tuple[str, str], int] = {}
    for row in stats["token_requests"]:
        key = (row["tenant"], row["audience"])
        out[key] = out.get(key, 0) + int(row["count"])
    return out


def data_path(name: str) -> Path:
    """A file under tests/data."""
    return Path(__file__).parent / "data" / name
