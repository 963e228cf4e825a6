"""Machine actions, machines and live response: client logic against a scripted transport
(duplicates, lost answers, waiting, cancel) and property tests of the input checks."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.errors import (
    ActionAlreadyInProgressError,
    BadRequestError,
    ServerError,
    TransportError,
    ValidationError,
)
from prefect_defender.api.models.live_response import LiveCommand, check_library_name
from prefect_defender.api.models.machine_actions import ActionType, MachineAction
from prefect_defender.api.resources import machine_actions as ma_module
from prefect_defender.api.resources.action_requests import action_body
from prefect_defender.api.resources.live_response import LiveResponseAPI
from prefect_defender.api.resources.machine_actions import ActionWaitTimeoutError, MachineActionsAPI
from prefect_defender.api.resources.machines import MachinesAPI
from prefect_defender.emulator.odata import compile_filter

MID = "a" * 40


def _action(status: str = "Pending", comment: str = "c", kind: str = "Isolate") -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "status": status,
        "machineId": MID,
        "requestorComment": comment,
        "creationDateTimeUtc": now,
        "lastUpdateTimeUtc": now,  # the examples' spelling
        "externalID": "x-1",  # the schema's spelling
    }


class FakeTransport:
    """Answers ``request_json`` through ``handler(ep, kwargs)``; records every call."""

    def __init__(self, handler: Callable[[Endpoint, dict[str, Any]], Any]) -> None:
        self.handler = handler
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def request_json(self, ep: Endpoint, **kw: Any) -> Any:
        self.calls.append((ep.name, kw))
        return self.handler(ep, kw)

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)


def api(handler: Callable[[Endpoint, dict[str, Any]], Any]) -> tuple[MachineActionsAPI, Any]:
    transport = FakeTransport(handler)
    client = SimpleNamespace(transport=transport)
    return MachineActionsAPI(client), transport  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(ma_module.asyncio, "sleep", instant)


def _lost() -> TransportError:
    return TransportError("RemoteProtocolError", applied_unknown=True)


async def test_created_action_is_returned() -> None:
    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        assert ep.name == "mde.actions.isolate"
        assert kw["json"]["IsolationType"] == "Selective"
        assert re.fullmatch(r"IR-1 \[ref:[0-9a-f]{12}\]", kw["json"]["Comment"])
        return _action(comment=kw["json"]["Comment"])

    res, t = api(handler)
    req = await res.request(MID.upper(), "Isolate", "IR-1", {"IsolationType": "Selective"})
    assert not req.already_in_progress and not req.reconciled
    assert req.action.external_id == "x-1" and req.action.last_update_date_time_utc
    assert t.calls[0][1]["path_params"] == {"id": MID}


async def test_duplicate_returns_the_pending_action() -> None:
    pending = _action(comment="someone else")

    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        if ep.name == "mde.actions.isolate":
            raise ActionAlreadyInProgressError("Action is already in progress", status=400)
        flt = kw["params"]["$filter"]
        assert f"machineId eq '{MID}'" in flt and "type eq 'Isolate'" in flt
        assert "status eq 'Pending' or status eq 'InProgress'" in flt
        return {"value": [pending]}

    res, t = api(handler)
    req = await res.request(MID, ActionType.ISOLATE, "IR-2", {"IsolationType": "Full"})
    assert req.already_in_progress and req.action.id == pending["id"]
    assert t.count("mde.actions.isolate") == 1


async def test_lost_answer_is_found_by_reference_not_resent() -> None:
    store: list[dict[str, Any]] = []

    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        if ep.name == "mde.actions.av_scan":
            store.append(_action(comment=kw["json"]["Comment"], kind="RunAntiVirusScan"))
            raise _lost()  # applied, but the answer never arrived
        assert "creationDateTimeUtc ge " in kw["params"]["$filter"]
        # another action of the same type, created by someone else, must not be taken
        return {"value": [_action(comment="other [ref:000000000000]"), *store]}

    res, t = api(handler)
    req = await res.request(MID, "RunAntiVirusScan", "sweep", {"ScanType": "Quick"})
    assert req.reconciled and req.action.id == store[0]["id"]
    assert t.count("mde.actions.av_scan") == 1


@pytest.mark.parametrize("error", [_lost(), ServerError("Bad gateway", status=502)])
async def test_lost_answer_not_applied_is_sent_again(error: Exception) -> None:
    posts = 0

    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        nonlocal posts
        if ep.name == "mde.actions.restrict":
            posts += 1
            if posts == 1:
                raise error  # lost before Defender applied it
            return _action(kind="RestrictCodeExecution", comment=kw["json"]["Comment"])
        return {"value": []}

    res, t = api(handler)
    req = await res.request(MID, "RestrictCodeExecution", "contain")
    assert not req.reconciled and posts == 2
    assert t.count("mde.actions.list") == 1  # looked up before sending again


async def test_lost_then_duplicate_recognises_its_own_action() -> None:
    store: list[dict[str, Any]] = []
    lookups = 0

    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        nonlocal lookups
        if ep.name == "mde.actions.isolate":
            if not store:
                store.append(_action(comment=kw["json"]["Comment"]))
                raise _lost()
            raise ActionAlreadyInProgressError("Action is already in progress", status=400)
        lookups += 1
        return {"value": [] if lookups == 1 else store}  # not visible at the first lookup

    res, t = api(handler)
    req = await res.request(MID, "Isolate", "IR-3", {"IsolationType": "Full"})
    assert req.reconciled and not req.already_in_progress and req.action.id == store[0]["id"]
    assert t.count("mde.actions.isolate") == 2


async def test_connection_refused_is_raised_without_lookup() -> None:
    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        raise TransportError("ConnectError", applied_unknown=False)

    res, t = api(handler)
    with pytest.raises(TransportError):
        await res.request(MID, "Unisolate", "x")
    assert t.count("mde.actions.list") == 0


async def test_reconciliation_gives_up_after_bounded_attempts() -> None:
    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        if ep.name == "mde.actions.offboard":
            raise _lost()
        return {"value": []}

    res, t = api(handler)
    with pytest.raises(TransportError) as info:
        await res.request(MID, "Offboard", "x")
    assert info.value.applied_unknown
    assert t.count("mde.actions.offboard") == ma_module.MAX_RECONCILE + 1


async def test_duplicate_without_pending_action_is_asked_once_more() -> None:
    posts = 0

    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        nonlocal posts
        if ep.name == "mde.actions.isolate":
            posts += 1
            if posts == 1:  # the blocking action finished right after this answer
                raise ActionAlreadyInProgressError("Action is already in progress", status=400)
            return _action(comment=kw["json"]["Comment"])
        return {"value": []}

    res, _ = api(handler)
    req = await res.request(MID, "Isolate", "x", {"IsolationType": "Full"})
    assert posts == 2 and not req.already_in_progress

    def always(ep: Endpoint, kw: dict[str, Any]) -> Any:
        if ep.name == "mde.actions.isolate":
            raise ActionAlreadyInProgressError("Action is already in progress", status=400)
        return {"value": []}

    res, t = api(always)
    with pytest.raises(ActionAlreadyInProgressError):
        await res.request(MID, "Isolate", "x", {"IsolationType": "Full"})
    assert t.count("mde.actions.isolate") == 2


async def test_wait_polls_until_final_and_times_out_with_last_state(monkeypatch) -> None:
    statuses = iter(["Pending", "InProgress", "InProgress", "Succeeded"])
    action = _action()

    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        return {**action, "status": next(statuses)}

    res, t = api(handler)
    final = await res.wait(action["id"], timeout=60, poll_interval=0.01)
    assert final.status == "Succeeded" and t.count("mde.actions.get") == 4

    res, _ = api(lambda ep, kw: {**action, "status": "InProgress"})
    clock = iter(range(0, 10_000, 7))
    monkeypatch.setattr(ma_module.time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(ActionWaitTimeoutError) as info:
        await res.wait(action["id"], timeout=30, poll_interval=1)
    assert info.value.action.status == "InProgress" and "still InProgress" in str(info.value)


async def test_cancel_repeated_after_lost_answer_reports_cancelled() -> None:
    action = _action(status="Cancelled")

    def handler(ep: Endpoint, kw: dict[str, Any]) -> Any:
        if ep.name == "mde.actions.cancel":
            assert kw["json"] == {"Comment": "stop"} and kw["idempotent"] is True
            raise BadRequestError("already in a final state", status=400)
        return action

    res, _ = api(handler)
    assert (await res.cancel(action["id"], "stop")).status == "Cancelled"
    res, _ = api(lambda ep, kw: {**action, "status": "Succeeded"} if "get" in ep.name else _raise())
    with pytest.raises(BadRequestError):
        await res.cancel(action["id"], "stop")


def _raise() -> Any:
    raise BadRequestError("final state", status=400)


def test_action_body_and_describe() -> None:
    assert action_body("Isolate") == {"IsolationType": "Full"}
    assert action_body("Isolate", isolation_type="UnManagedDevice") == {
        "IsolationType": "UnManagedDevice"
    }
    assert action_body("RunAntiVirusScan", scan_type="Full") == {"ScanType": "Full"}
    assert action_body("StopAndQuarantineFile", sha1="A" * 40) == {"Sha1": "a" * 40}
    assert action_body("Offboard") == {}
    with pytest.raises(ValidationError, match="scan_type"):
        action_body("Isolate", scan_type="Full")  # not an option of Isolate
    with pytest.raises(ValidationError, match="sha1"):
        action_body("StopAndQuarantineFile")
    with pytest.raises(ValidationError, match="action"):
        action_body("Reboot")
    req = MachineActionsAPI.describe(MID, "Unisolate", "  done  ")
    assert req == {
        "method": "POST",
        "path": f"/api/machines/{MID}/unisolate",
        "body": {"Comment": "done"},
    }


@given(st.text(max_size=30))
@settings(max_examples=150, deadline=None)
def test_isolation_type_only_documented_spellings(value: str) -> None:
    documented = {"Full", "Selective", "UnManagedDevice"}
    if value in documented:
        assert action_body("Isolate", isolation_type=value) == {"IsolationType": value}
    elif value:  # empty means the default
        with pytest.raises(ValidationError, match="isolation_type"):
            action_body("Isolate", isolation_type=value)


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_machine_ids_are_checked_before_anything(value: str) -> None:
    res, t = api(lambda ep, kw: pytest.fail("nothing may be sent"))
    if re.fullmatch(r"[0-9a-fA-F]{40}", value.strip()):
        return
    with pytest.raises(ValidationError, match="machine_id"):
        asyncio.run(res.request(value, "Isolate", "x"))
    assert t.calls == []


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_machine_filter_escapes_names(name: str) -> None:
    """Whatever the name, the built filter matches exactly that machine (the emulator's
    OData evaluator is the oracle)."""
    stripped = name.strip()
    # C0, DEL and C1 controls are refused (api/validation/_values.py CONTROL_CHARACTERS)
    if not stripped or any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in stripped):
        with pytest.raises(ValidationError):
            MachinesAPI.build_filter(name=name)
        return
    expr = MachinesAPI.build_filter(name=name, health_status="ACTIVE")
    pred = compile_filter(expr, ["computerDnsName", "healthStatus"])
    assert pred({"computerDnsName": stripped, "healthStatus": "Active"})
    assert not pred({"computerDnsName": stripped + "x", "healthStatus": "Active"})


async def test_find_by_ip_bounds_and_format() -> None:
    transport = FakeTransport(lambda ep, kw: [{"id": MID}])  # a bare list is accepted too
    machines = MachinesAPI(SimpleNamespace(transport=transport))  # type: ignore[arg-type]
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    now = datetime.now(UTC)
    found = await machines.find_by_ip("2001:DB8::1", now - timedelta(days=29, hours=23))
    assert [m.id for m in found] == [MID]
    assert transport.calls[0][1]["path_params"]["ip"] == "2001:db8::1"
    for bad in (now - timedelta(days=30, minutes=1), now + timedelta(days=1), "yesterday"):
        with pytest.raises(ValidationError, match="timestamp"):
            await machines.find_by_ip("10.0.0.1", bad)
    assert len(transport.calls) == 1
    assert MachinesAPI.build_filter(seen_since=when) == "lastSeen ge 2026-01-02T03:04:05Z"


async def test_tag_many_without_machine_list_means_unknown() -> None:
    transport = FakeTransport(lambda ep, kw: None)
    machines = MachinesAPI(SimpleNamespace(transport=transport))  # type: ignore[arg-type]
    assert await machines.set_tag_many([MID], "t") is None
    body = transport.calls[0][1]["json"]
    assert body == {"Value": "t", "Action": "Add", "MachineIds": [MID]}


def test_live_commands_are_checked_and_ordered() -> None:
    cmd = LiveCommand(type="RunScript", params={"Args": "-x 1", "ScriptName": "a.ps1"})
    assert cmd.to_api() == {
        "type": "RunScript",
        "params": [{"key": "ScriptName", "value": "a.ps1"}, {"key": "Args", "value": "-x 1"}],
    }
    body = LiveResponseAPI.commands_body([{"type": "GetFile", "params": {"Path": "C:\\x y"}}])
    assert body == {
        "Commands": [{"type": "GetFile", "params": [{"key": "Path", "value": "C:\\x y"}]}]
    }
    for bad in (
        [],
        "RunScript",
        [{"type": "GetFile"}],
        [{"type": "GetFile", "params": {"path": "x"}}],
    ):
        with pytest.raises(ValidationError, match="commands"):
            LiveResponseAPI.commands_body(bad)  # type: ignore[arg-type]


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_library_names_never_carry_paths(name: str) -> None:
    try:
        checked = check_library_name(name)
    except ValidationError:
        return
    assert "/" not in checked and "\\" not in checked and checked.strip(". ")
    assert checked == checked.strip()


def test_machine_action_model_tolerates_both_spellings() -> None:
    a = MachineAction.model_validate(
        {"id": "1", "lastUpdateDateTimeUtc": "2026-01-01T00:00:00Z", "externalId": "e"}
    )
    assert a.last_update_date_time_utc and a.external_id == "e" and not a.is_final
    assert MachineAction.model_validate({"id": "1", "status": "TimeOut"}).is_final
