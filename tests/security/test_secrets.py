"""Secrets never leak: the playbooks run with marker secrets, then everything the Prefect server
kept (logs, artifacts, events, flow and task runs with their parameters and states), the
captured stdout/stderr and every Python log record are searched for the markers and for every
bearer token the emulator issued.

Markers: the application's client secret, the partner app's secret, the user's password and a
marker planted in the user block's token cache (plus the refresh tokens msal stores there), a
slice of the certificate's private key (a certificate-credential run), a deliberately wrong
secret (a run that fails on purpose) and the access tokens the emulator verified.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.api import auth, ratelimit
from prefect_defender.api.errors import AuthenticationError
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.block_indicators import block_indicators
from prefect_defender.flows.contain import contain_device
from prefect_defender.flows.hunt_respond import hunt_and_respond
from prefect_defender.flows.mssp import mssp_fanout
from prefect_defender.flows.triage import triage_incident
from tests.flows.conftest import start
from tests.security.conftest import FIGURES

APP_SECRET = "MARKER-app-secret-7f3c1e9a"
PARTNER_SECRET = "MARKER-partner-secret-2b8d4f60"
USER_PASSWORD = "MARKER-user-password-c41a77e2"
CACHE_MARKER = "MARKER-token-cache-9e0d5b13"
WRONG_SECRET = "MARKER-wrong-secret-55aa01cc"
USER = "analyst@contoso.example"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    """This module's own emulator, with the marker secrets as the apps' and user's secrets."""
    from prefect_defender.emulator.server import EmulatorServer

    data_dir = tmp_path_factory.mktemp("emulator-secrets")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data_dir / f.name)
    config = {
        "time_scale": 300.0,
        "apps": {
            "soc": {"client_secret": APP_SECRET},
            "partner": {"client_secret": PARTNER_SECRET},
            f"user:{USER}": {"client_secret": USER_PASSWORD},
        },
    }
    with EmulatorServer(data_dir=str(data_dir), port=0, config=config) as emu:
        yield emu


@pytest.fixture(scope="module")
def key_marker(conn: dict) -> str:
    """A slice of the certificate's private key (base64 body): it must never appear anywhere."""
    pem = Path(conn["apps"]["soc"]["certificate"]["private_key_pem"]).read_text()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return body[100:148]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(self.format(record))
        except Exception as exc:  # a record that cannot be formatted is still searched
            self.texts.append(f"{record.msg!r} {record.args!r} {exc}")
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append(repr(record.exc_info[1]))


@pytest.fixture
def all_logs() -> Iterator[_Collect]:
    handler = _Collect()
    names = [
        "",
        "prefect",
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect_defender",
        "httpx",
        "httpcore",
        "msal",
    ]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).addHandler(handler)
    for n in ("prefect_defender", "prefect", "httpx"):
        logging.getLogger(n).setLevel(logging.DEBUG)
    yield handler
    for n in names:
        logging.getLogger(n).removeHandler(handler)
        logging.getLogger(n).setLevel(saved[n])


def _save_blocks(conn: dict) -> dict[str, str]:
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        "sec-app", overwrite=True
    )
    DefenderApplicationCredentials.from_emulator(
        conn, use_certificate=True, rate_limit_time_scale=300.0
    ).save("sec-cert", overwrite=True)
    DefenderApplicationCredentials.from_emulator(conn, client_secret=WRONG_SECRET).save(
        "sec-wrong", overwrite=True
    )
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=300.0
    ).save("sec-partner", overwrite=True)
    cache = json.dumps({"PrefectDefenderSecurityMarker": {"marker": {"secret": CACHE_MARKER}}})
    DefenderUserCredentials.from_emulator(
        conn, username=USER, password=USER_PASSWORD, token_cache=cache
    ).save("sec-user", overwrite=True)
    return {
        "app": "defender-application-credentials/sec-app",
        "cert": "defender-application-credentials/sec-cert",
        "wrong": "defender-application-credentials/sec-wrong",
        "partner": "defender-partner-credentials/sec-partner",
        "user": "defender-user-credentials/sec-user",
    }


async def _server_texts(since_runs: set[Any]) -> tuple[list[str], set[Any]]:
    """Everything the Prefect server kept about the runs started by this module, as text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    texts: list[str] = []
    async with get_client() as client:
        runs = [r for r in await client.read_flow_runs(limit=200) if r.id not in since_runs]
        ids = [r.id for r in runs]
        for r in runs:
            texts.append(r.model_dump_json())
            for s in await client.read_flow_run_states(r.id):
                texts.append(s.model_dump_json())
                texts.append(str(s.message))
        if ids:
            flt = FlowRunFilter(id=FlowRunFilterId(any_=ids))
            for tr in await client.read_task_runs(flow_run_filter=flt, limit=200):
                texts.append(tr.model_dump_json())
            offset = 0
            while True:
                logs = await client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)),
                    limit=200,
                    offset=offset,
                )
                texts += [log.model_dump_json() for log in logs]
                if len(logs) < 200:
                    break
                offset += 200
        texts += [a.model_dump_json() for a in await client.read_artifacts(limit=200)]
        texts += [v.model_dump_json() for v in await client.read_variables()]
        resp = await client._client.post("/events/filter", json={"limit": 50})
        page: Any = resp.json() if resp.status_code == 200 else {}
        pages = 0
        while page and pages < 20:
            texts.append(json.dumps(page.get("events", [])))
            nxt = page.get("next_page")
            if not nxt:
                break
            page = (await client._client.get(nxt)).json()
            pages += 1
    return texts, set(ids)


def _drain() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


def test_playbooks_leak_no_secret(
    prefect_harness: None,
    conn: dict,
    emulator: Any,
    key_marker: str,
    all_logs: _Collect,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client

    async def existing() -> set[Any]:
        async with get_client() as client:
            return {r.id for r in await client.read_flow_runs(limit=200)}

    before = asyncio.run(existing())
    auth.REGISTRY.clear()
    ratelimit.REGISTRY.clear()
    blocks = _save_blocks(conn)
    ioc = ["6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"]
    runs: list[tuple[str, Any, dict[str, Any]]] = [
        (
            "triage (certificate)",
            triage_incident,
            {"credentials": blocks["cert"], "incident_id": 1001},
        ),
        (
            "triage (user)",
            triage_incident,
            {"credentials": blocks["user"], "incident_id": 1002, "dry_run": True},
        ),
        (
            "contain (auto-approve)",
            contain_device,
            {
                "credentials": blocks["app"],
                "incident_id": 1001,
                "approval": ApprovalPolicy(
                    auto_approve_severities=["High", "Medium", "Low"],
                    never_auto_tags=[],
                    timeout_seconds=5,
                ),
                "poll_interval_seconds": 0.05,
                "wait_timeout_seconds": 60,
            },
        ),
        (
            "block indicators",
            block_indicators,
            {
                "credentials": blocks["app"],
                "incident_id": 1001,
                "indicators": [
                    {"value": "198.51.100.9", "type": "IpAddress", "title": "t", "description": "d"}
                ],
            },
        ),
        (
            "hunt and respond",
            hunt_and_respond,
            {
                "credentials": blocks["app"],
                "ioc_values": ioc,
                "approval": ApprovalPolicy(auto_approve_severities=["hunt"]),
                "poll_interval_seconds": 0.05,
                "wait_timeout_seconds": 60,
            },
        ),
        (
            "mssp fan-out",
            mssp_fanout,
            {
                "credentials": blocks["partner"],
                "query": "DeviceInfo | take 3",
                "indicator_baseline": [
                    {
                        "value": "baseline.example",
                        "type": "DomainName",
                        "action": "Block",
                        "title": "b",
                        "description": "d",
                    }
                ],
            },
        ),
    ]
    outcomes: dict[str, str] = {}
    for label, fn, kwargs in runs:
        try:
            start(None, fn, **kwargs).result(timeout=180)
            outcomes[label] = "completed"
        except Exception as exc:  # a failed run is searched like the others
            outcomes[label] = f"failed: {type(exc).__name__}: {exc}"
    # a run that fails on purpose: the wrong secret
    with pytest.raises(AuthenticationError) as failed:
        start(None, triage_incident, credentials=blocks["wrong"], incident_id=1001).result(
            timeout=180
        )
    assert "AADSTS" in str(failed.value), failed.value
    # the emulator-issued tokens: every access token it verified, and msal's refresh tokens
    tokens = set(emulator.state.verified_tokens)
    user_block = DefenderUserCredentials.load("sec-user")
    cache = json.loads(user_block.token_cache.get_secret_value())
    refresh = [rt["secret"] for rt in cache.get("RefreshToken", {}).values()]
    assert CACHE_MARKER in json.dumps(cache)  # the marker really was in the cache all along
    _drain()
    server, run_ids = asyncio.run(_server_texts(before))
    out, err = capfd.readouterr()
    markers = {
        "app secret": APP_SECRET,
        "partner secret": PARTNER_SECRET,
        "user password": USER_PASSWORD,
        "token cache marker": CACHE_MARKER,
        "wrong secret": WRONG_SECRET,
        "private key": key_marker,
        **{f"refresh token {i}": t for i, t in enumerate(refresh)},
        **{f"access token {i}": t for i, t in enumerate(sorted(tokens))},
    }
    places = {
        "prefect server": server,
        "stdout": [out],
        "stderr": [err],
        "python logging": all_logs.texts,
        "failed run exception": [str(failed.value), repr(failed.value)],
    }
    found = [
        f"{name} in {where}"
        for name, value in markers.items()
        for where, texts in places.items()
        if any(value in t for t in texts)
    ]
    FIGURES["markers_found"] += len(found)
    FIGURES["marker_places_checked"] += len(markers) * len(places)
    # the search looked at real material
    assert len(run_ids) >= len(runs) + 1, (run_ids, outcomes)
    assert len(tokens) >= 3 and refresh, "no token was captured: the runs did not authenticate"
    assert sum(len(t) for t in server) > 10_000
    assert not found, f"secrets leaked: {found} (run outcomes: {outcomes})"
    assert outcomes["triage (certificate)"] == "completed", outcomes
    assert outcomes["mssp fan-out"] == "completed", outcomes


def test_failed_run_state_on_the_server_names_the_error_not_the_secret(
    prefect_harness: None, conn: dict
) -> None:
    """The exception text the server stores for a run failing on a wrong secret."""
    from prefect.client.orchestration import get_client

    DefenderApplicationCredentials.from_emulator(conn, client_secret=WRONG_SECRET).save(
        "sec-wrong-2", overwrite=True
    )
    auth.REGISTRY.clear()
    with pytest.raises(AuthenticationError):
        start(
            None,
            triage_incident,
            credentials="defender-application-credentials/sec-wrong-2",
            incident_id=1001,
        ).result(timeout=180)

    async def failed_states() -> list[str]:
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        async with get_client() as client:
            runs = await client.read_flow_runs(  # the newest failed runs of this session
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED]))
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=50,
            )
            out = []
            for r in runs:
                if (
                    r.state
                    and r.state.is_failed()
                    and "sec-wrong-2" in json.dumps(r.parameters, default=str)
                ):
                    out.append(str(r.state.message))
                    for st in await client.read_flow_run_states(r.id):
                        out.append(st.model_dump_json())
            return out

    messages: list[str] = []
    deadline = time.monotonic() + 30  # the server records the final state asynchronously
    while not messages and time.monotonic() < deadline:
        messages = asyncio.run(failed_states())
        if not messages:
            time.sleep(0.5)
    assert messages, "the failed run was not found on the server"
    text = " ".join(messages)
    assert "AADSTS" in text or "AuthenticationError" in text, text
    assert WRONG_SECRET not in text
    assert APP_SECRET not in text
