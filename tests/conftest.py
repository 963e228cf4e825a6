"""Shared fixtures: one HTTPS emulator and one Prefect test harness per session.

Everything here runs real code over real sockets: msal against the emulator's token endpoint
over HTTPS, httpx against its API routes, Prefect flows on ``prefect_test_harness``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


#: the longest test files (minutes each), started first so that the workers of ``make test``
#: (pytest-xdist, whole files per worker) do not finish on one of them alone
LONG_FILES_FIRST = (
    "tests/scale/test_scale_out.py",
    "tests/reliability/test_faults.py",
    "tests/reliability/test_crash_rerun.py",
    "tests/test_docs_site.py",
    "tests/test_demo.py",
    "tests/test_bench_smoke.py",
    "tests/examples/",
    "tests/ui/",
    "tests/flows/test_event_path.py",
    "tests/security/test_secrets.py",
)


def _start_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    for rank, prefix in enumerate(LONG_FILES_FIRST):
        if path.startswith(prefix):
            return rank
    return len(LONG_FILES_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, the others in their usual order (a stable sort: the order of
    the tests within a file never changes)."""
    items.sort(key=_start_rank)


@pytest.fixture(scope="session")
def emulator_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CA, TLS, signing and app keys made once and copied into every emulator's data dir
    (RSA key generation is the slow part of starting one)."""
    from prefect_defender.emulator.pki import app_certificate, server_tls, signing_key

    keys = tmp_path_factory.mktemp("emulator-keys")
    server_tls(keys)
    app_certificate(keys, "soc")
    signing_key(keys)
    return keys


@contextmanager
def emulator_server(
    tmp_path_factory: pytest.TempPathFactory,
    keys: Path,
    config: dict[str, Any] | None = None,
    name: str = "emulator",
) -> Iterator[Any]:
    """An in-process emulator on a free port with the session's keys and ``config`` (seed
    sizes, clocks, faults): for modules that need other seed data than the default."""
    import shutil

    from prefect_defender.emulator.server import EmulatorServer

    data_dir = tmp_path_factory.mktemp(name)
    for f in keys.iterdir():
        shutil.copy2(f, data_dir / f.name)
    with EmulatorServer(data_dir=str(data_dir), port=0, config=config) as emu:
        yield emu


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    """A fresh emulator per test module (in-process, free port, default seed data), so one
    module's writes never leak into another's assertions."""
    with emulator_server(tmp_path_factory, emulator_keys) as emu:
        yield emu


@pytest.fixture(scope="module")
def conn(emulator: Any) -> dict[str, Any]:
    """The emulator's connection.json."""
    return dict(emulator.connection)


@pytest.fixture(scope="module")
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


def empty_hourly_caps() -> None:
    """Give back every slot the tenants' hourly write caps hold on the session's Prefect server
    (``defender-writes-<tenant>``; their limits, decay and the product's defaults unchanged)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    from prefect_defender.tasks.safety import HOURLY_LIMIT_PREFIX

    with get_client(sync_client=True) as client:
        limits: list[Any] = []
        while batch := client.read_global_concurrency_limits(limit=200, offset=len(limits)):
            limits += batch
            if len(batch) < 200:
                break
        for lim in limits:
            if lim.name.startswith(HOURLY_LIMIT_PREFIX) and lim.active_slots:
                empty = GlobalConcurrencyLimitUpdate(active_slots=0)
                client.update_global_concurrency_limit(lim.name, empty)


@pytest.fixture(autouse=True)
def hourly_caps_start_empty(request: pytest.FixtureRequest) -> None:
    """Every test on the Prefect harness starts with the tenants' hourly write caps empty.

    The caps (100 writes per tenant per hour by default, counting comments, tags and imports)
    are global concurrency limits of the session's one Prefect server, and every module's
    emulator has the same tenant ids: the suite's writes would add up from test to test (76 of
    contoso's 100 slots were taken after tests/flows alone, slots decaying one per 36 s), and a
    later test would find "hourly cap reached" for writes it never made. A test of the cap
    itself fills it within the test.
    """
    if "prefect_harness" in request.fixturenames:
        empty_hourly_caps()


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
