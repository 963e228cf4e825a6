"""Browser tests: a real local Prefect server serving its UI, the HTTPS emulator, and Debian's
headless Chromium driven by Playwright (which never downloads a browser of its own).

``scripts/system-deps.sh`` installs Chromium. The tests drive the UI an operator lands on from
``/`` (Prefect's default, the V2 UI under ``/v2``). A failing test leaves a screenshot and the
page's HTML in ``tests/artifacts/ui/``.

The Playwright sync API keeps its event loop marked as running on this thread between calls, so
anything that needs asyncio (Prefect's client) runs on a worker thread: :func:`off_thread`.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from prefect_defender.cli.servers import PrefectServer

CHROMIUM = os.environ.get("PREFECT_DEFENDER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"
UI = "v2"  # the UI Prefect serves at "/" by default

T = TypeVar("T")
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the ``page`` fixture knows a test failed."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


def off_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on a fresh thread (no event loop there) and return its result."""
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(fn, *args, **kwargs).result()


#: runs ``module.fn(**params)`` (an async playbook) in a process of its own
RUN_FLOW = (
    "import asyncio, importlib, json, sys\n"
    "mod, name, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
    "fn = getattr(importlib.import_module(mod), name)\n"
    "print(json.dumps(asyncio.run(fn(**params)), default=str))\n"
)


def start_flow(
    server: PrefectServer, module: str, fn: str, params: dict[str, Any], log_name: str
) -> tuple[subprocess.Popen[bytes], Any]:
    """Run a playbook on ``server`` in its own process group (output in ``log_name`` under the
    server's home); returns the process and its open log."""
    env = {**os.environ, **server.env(), "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore"}
    log = (server.home / log_name).open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_FLOW, module, fn, json.dumps(params)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


#: runs several async playbooks ``[[module, fn, params], ...]`` side by side in one process
RUN_FLOWS = (
    "import asyncio, importlib, json, sys\n"
    "async def main(plans):\n"
    "    calls = [getattr(importlib.import_module(m), f)(**p) for m, f, p in plans]\n"
    "    return await asyncio.gather(*calls, return_exceptions=True)\n"
    "for out in asyncio.run(main(json.loads(sys.argv[1]))):\n"
    "    print(json.dumps(out if not isinstance(out, BaseException) else repr(out), default=str))\n"
)


def start_flows(
    server: PrefectServer, plans: list[tuple[str, str, dict[str, Any]]], log_name: str
) -> tuple[subprocess.Popen[bytes], Any]:
    """Run several playbooks side by side in one process (one Python and Prefect start-up for
    all of them) on ``server``, as :func:`start_flow` runs one."""
    env = {**os.environ, **server.env(), "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore"}
    log = (server.home / log_name).open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_FLOWS, json.dumps(plans)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


def stop_flow(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process :func:`start_flow` started (SIGTERM, then SIGKILL after 20 s)."""
    if proc.poll() is None:
        os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)


def save_emulator_block(server: PrefectServer, conn: dict[str, Any], name: str) -> None:
    """An application credentials block for the emulator, saved on ``server`` as ``name``."""

    def save() -> None:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from prefect_defender.blocks import DefenderApplicationCredentials

        with temporary_settings({PREFECT_API_URL: server.api_url}):
            DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
                name, overwrite=True
            )

    off_thread(save)


def wait_for(pred: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``pred`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class PrefectAPI:
    """The few REST calls the tests check the UI's effects with (plain httpx, no asyncio)."""

    def __init__(self, server: PrefectServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.api_url, timeout=30)

    def _json(self, resp: httpx.Response) -> Any:
        resp.raise_for_status()
        return resp.json()

    def block_document(self, type_slug: str, name: str, *, secrets: bool) -> dict[str, Any]:
        """A block document by type slug and name."""
        return dict(
            self._json(
                self.http.get(
                    f"/block_types/slug/{type_slug}/block_documents/name/{name}",
                    params={"include_secrets": str(secrets).lower()},
                )
            )
        )

    def block_type(self, slug: str) -> dict[str, Any]:
        """A block type by slug."""
        return dict(self._json(self.http.get(f"/block_types/slug/{slug}")))

    def flow_run(self, run_id: str) -> dict[str, Any]:
        """A flow run by id."""
        return dict(self._json(self.http.get(f"/flow_runs/{run_id}")))

    def runs_of_flow(self, flow_name: str, state_type: str | None = None) -> list[dict[str, Any]]:
        """Flow runs of a flow (newest first), optionally in one state type."""
        body: dict[str, Any] = {
            "flows": {"name": {"any_": [flow_name]}},
            "sort": "EXPECTED_START_TIME_DESC",
            "limit": 20,
        }
        if state_type:
            body["flow_runs"] = {"state": {"type": {"any_": [state_type]}}}
        return list(self._json(self.http.post("/flow_runs/filter", json=body)))

    def artifacts_of_run(self, run_id: str) -> list[dict[str, Any]]:
        """Artifacts written by a flow run."""
        body = {"artifacts": {"flow_run_id": {"any_": [run_id]}}, "limit": 20}
        return list(self._json(self.http.post("/artifacts/filter", json=body)))

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="package")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """``prefect server start`` on 127.0.0.1 with the UI on (whatever the environment says)."""
    ui_env = {
        "PREFECT_SERVER_UI_ENABLED": "true",
        "PREFECT_SERVER_UI_V2_ENABLED": "true",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    }
    with PrefectServer(tmp_path_factory.mktemp("ui-prefect"), extra_env=ui_env) as server:
        yield server
        # deliver the events this process emitted (block saves) while the server still listens
        from prefect.events.worker import EventsWorker

        off_thread(EventsWorker.drain_all, 10)


@pytest.fixture(scope="package")
def prefect_api(prefect_server: PrefectServer) -> Iterator[PrefectAPI]:
    """REST access to the server, for checking what the UI did."""
    api = PrefectAPI(prefect_server)
    yield api
    api.close()


@pytest.fixture(scope="package")
def registered_blocks(prefect_server: PrefectServer) -> list[type[Any]]:
    """The three credential block types registered on the server (``prefect block register``)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.blocks import (
        DefenderApplicationCredentials,
        DefenderPartnerCredentials,
        DefenderUserCredentials,
    )

    blocks: list[type[Any]] = [
        DefenderApplicationCredentials,
        DefenderUserCredentials,
        DefenderPartnerCredentials,
    ]

    def register() -> None:
        with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
            for cls in blocks:
                cls.register_type_and_schema()

    off_thread(register)
    return blocks


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: run scripts/system-deps.sh (apt-installs chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; on failure its screenshot and HTML are saved under tests/artifacts/ui/."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        reports = request.node.stash.get(REPORTS, {})
        if any(r.failed for r in reports.values()):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            try:
                page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
                (ARTIFACTS / f"{stem}.html").write_text(page.content())
            except Exception as exc:  # a crashed page still lets the test report its error
                print(f"could not save the failure screenshot: {exc}")
        context.close()


@pytest.fixture(scope="package")
def ui_url(prefect_server: PrefectServer) -> str:
    """Base URL of the UI under test."""
    return f"{prefect_server.ui_url}/{UI}"
