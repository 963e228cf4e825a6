"""Helpers for playbook tests: run a flow in a thread, find it paused, resume it with input."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort


@pytest.fixture(scope="session")
def pool() -> None:
    """Kept for the tests' signatures; flows run on daemon threads (see :func:`start`)."""
    return None


def start(
    pool: Any, fn: Callable[..., Coroutine[Any, Any, Any]], **kwargs: Any
) -> concurrent.futures.Future[Any]:
    """Run an async flow in its own daemon thread and event loop.

    A daemon thread, so a flow left paused by a failing test cannot hang the test session.
    """
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        try:
            fut.set_result(asyncio.run(fn(**kwargs)))
        except BaseException as exc:
            fut.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return fut


async def paused_runs(name: str) -> list[Any]:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
            limit=50,
            sort=FlowRunSort.START_TIME_DESC,
        )
        out = []
        for r in runs:
            flow = await client.read_flow(r.flow_id)
            if flow.name == name:
                out.append(r)
        return out


def wait_paused(name: str, known: set[Any], timeout: float = 180.0) -> Any:
    """The first paused run of flow ``name`` not in ``known`` (the timeout outlasts a stall of
    the test server's SQLite: its busy timeout is 60 s, then the write is retried)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in asyncio.run(paused_runs(name)):
            if r.id not in known:
                return r
        time.sleep(0.5)
    raise AssertionError(f"no paused run of {name} within {timeout}s")


def resume(run_id: Any, **run_input: Any) -> None:
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input=run_input)


@pytest.fixture(autouse=True)
def playbooks_stay_off_xdr(request: pytest.FixtureRequest) -> Any:
    """Every playbook and poller test runs on Graph by default: the emulator counts no Defender
    XDR request during it. Only a test that asks for XDR itself (``xdr`` in its name or its
    parameters) may make them."""
    if "emulator" not in request.fixturenames or "xdr" in request.node.name:
        yield
        return
    if "fresh" in request.fixturenames:
        request.getfixturevalue("fresh")  # its reset of the counters comes first
    emu = request.getfixturevalue("emulator")
    before = emu.admin.surface_counts()["xdr"]
    yield
    # (a test may zero the counters itself: never more than before)
    assert emu.admin.surface_counts()["xdr"] <= before, "a playbook called the XDR API"


@pytest.fixture
def fast_actions(fresh: Any) -> Any:
    fresh.admin.patch_config(time_scale=300.0, action_outcomes={})
    yield fresh
    fresh.admin.patch_config(time_scale=1.0, action_outcomes={})


async def _events(name: str, resource_id: str | None = None) -> list[Any]:
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    f = EventFilter(event=EventNameFilter(name=[name]))
    if resource_id:
        f.resource = EventResourceFilter(id=[resource_id])
    async with get_client() as client:
        page = await client.read_events(filter=f, limit=50)
    return list(page.events)


def wait_event(name: str, resource_id: str, timeout: float = 30.0) -> Any:
    """The newest event ``name`` about ``resource_id`` stored by the server (events are sent
    in the background, so this waits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = asyncio.run(_events(name, resource_id))
        if found:
            return max(found, key=lambda e: e.occurred)
        time.sleep(0.5)
    raise AssertionError(f"no {name} event about {resource_id} within {timeout}s")


async def run_artifact(run_id: Any, key: str) -> str:
    """The markdown of the artifact ``key`` written by the flow run ``run_id``."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            )
        )
    assert found, f"no {key} artifact in run {run_id}"
    return str(found[0].data)


async def latest_artifact(key: str) -> str:
    """The markdown of the newest artifact ``key``."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            limit=1,
            sort="CREATED_DESC",
        )
    return str(arts[0].data)


async def _form_text(run_id: Any) -> str:
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.input.run_input import keyset_from_paused_state

    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        assert run.state is not None and run.state.is_paused(), run.state
        key = keyset_from_paused_state(run.state)["description"]
        for _ in range(20):  # a rewrite (TriageWatch) deletes, then writes the description
            try:
                return str(await client.read_flow_run_input(flow_run_id=run_id, key=key))
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code != 404:
                    raise
            await asyncio.sleep(0.25)
        return str(await client.read_flow_run_input(flow_run_id=run_id, key=key))


def form_text(run_id: Any) -> str:
    """The description of a paused run's approval form, as the resume dialog shows it (JSON
    text of the markdown)."""
    import json

    return str(json.loads(asyncio.run(_form_text(run_id))))


def incident_alerts(
    prefix: str, machines: list[dict[str, Any]], users: list[str]
) -> list[dict[str, Any]]:
    """High alerts for an emulator incident: one per machine (its device evidence) and one per
    account (a user entity, by UPN); ids start with ``da_<prefix>_``."""
    alerts: list[dict[str, Any]] = [
        {
            "id": f"da_{prefix}_{m['id'][:8]}",
            "machineId": m["id"],
            "severity": "High",
            "title": f"Suspicious PowerShell on {m['computerDnsName'].split('.')[0]}",
            "computerDnsName": m["computerDnsName"],
            "entities": [],
        }
        for m in machines
    ]
    return alerts + [
        {
            "id": f"da_{prefix}_{u.split('@')[0]}",
            "severity": "High",
            "title": "Sign-in from an anonymous IP address",
            "entities": [
                {"entityType": "User", "accountName": u.split("@")[0], "userPrincipalName": u}
            ],
        }
        for u in users
    ]


def contained_incident(
    emu: Any, tid: str, creds: Any, machines: list[dict[str, Any]], users: tuple[str, ...] = ()
) -> int:
    """A resolved incident as a containment leaves it: its ``machines`` isolated (Selective)
    with a playbook's comment, two indicators titled as a playbook titles those it adds, and
    its ``users`` (UPNs) disabled. Returns the incident id."""
    from prefect_defender.tasks.identities import invoke_identity_actions
    from prefect_defender.tasks.indicators import import_indicators
    from prefect_defender.tasks.machine_actions import isolate_machines

    (incident,) = emu.admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": "Contained and cleaned",
                "severity": "High",
                "status": "Resolved",
                "classification": "FalsePositive",
                "alerts": incident_alerts("release", machines, list(users)),
            }
        ],
    )
    iid = int(incident["incidentId"])
    said = f"prefect-defender contain-device (incident {iid}, approved by alice)"
    ids = [m["id"] for m in machines]
    assert all(
        o.ok for o in asyncio.run(isolate_machines.fn(creds, ids, said, isolation_type="Selective"))
    )
    items = [
        {
            "value": f"release-{iid}-{n}.example",
            "type": "DomainName",
            "action": "Block",
            "title": f"prefect-defender: incident {iid} domain {n}",
            "description": "added by a playbook",
        }
        for n in (1, 2)
    ]
    assert all(o.ok for o in asyncio.run(import_indicators.fn(creds, items)))
    if users:
        assert all(
            o.ok for o in asyncio.run(invoke_identity_actions.fn(creds, list(users), ["disable"]))
        )
    return iid
