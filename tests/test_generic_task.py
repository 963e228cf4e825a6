"""The generic endpoint task end to end: any catalog endpoint, checked first, typed errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_defender.api.catalog import CATALOG
from prefect_defender.api.errors import NotFoundError, PermissionDeniedError, ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.generic import call_defender_endpoint, check_endpoint_call
from prefect_defender.tasks.machines import get_machine, list_machines
from tests.machines.conftest import close_token_clients, requests


@pytest.fixture(scope="module", autouse=True)
def _quick_emulator_stop(emulator: Any) -> Any:
    yield
    close_token_clients()


@pytest.fixture
def creds(conn: dict[str, Any]) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0)


async def test_reads_the_same_data_as_the_dedicated_tasks(prefect_harness, fresh, creds) -> None:
    machines = await list_machines(creds)
    raw = await call_defender_endpoint(creds, "mde.machines.list", all_pages=True)
    assert sorted(m["id"] for m in raw) == sorted(m.id for m in machines)
    one = await call_defender_endpoint(
        creds, "mde.machines.get", path_params={"id": machines[0].id}
    )
    assert one["id"] == machines[0].id
    assert one["computerDnsName"] == (await get_machine(creds, machines[0].id)).computer_dns_name
    page = await call_defender_endpoint(creds, "mde.machines.list", params={"$top": 2})
    assert len(page["value"]) == 2


async def test_graph_collection_pages_through_next_link(prefect_harness, fresh, creds) -> None:
    items = await call_defender_endpoint(creds, "graph.incidents.list", all_pages=True, limit=None)
    stats = fresh.admin.stats()
    assert items and len({i["id"] for i in items}) == len(items)
    assert requests(stats, status=200) >= 1
    limited = await call_defender_endpoint(creds, "graph.incidents.list", all_pages=True, limit=1)
    assert len(limited) == 1


async def test_write_needs_allow_write_and_then_applies(prefect_harness, fresh, creds) -> None:
    machine = (await list_machines(creds))[0]
    body = {"Value": "generic-task", "Action": "Add"}
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError, match="allow_write"):
        await call_defender_endpoint(
            creds, "mde.machines.tag", path_params={"id": machine.id}, body=body
        )
    assert requests(fresh.admin.stats()) == 0  # refused before anything was sent
    out = await call_defender_endpoint(
        creds, "mde.machines.tag", path_params={"id": machine.id}, body=body, allow_write=True
    )
    assert "generic-task" in out["machineTags"]
    assert "generic-task" in (await get_machine(creds, machine.id)).machine_tags


async def test_errors_are_typed(prefect_harness, fresh, creds, conn) -> None:
    with pytest.raises(NotFoundError):
        await call_defender_endpoint(creds, "mde.machines.get", path_params={"id": "0" * 40})
    readonly = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    machine = (await list_machines(creds))[0]
    with pytest.raises(PermissionDeniedError, match=r"Machine\.ReadWrite\.All"):
        await call_defender_endpoint(
            readonly,
            "mde.machines.tag",
            path_params={"id": machine.id},
            body={"Value": "x", "Action": "Add"},
            allow_write=True,
        )


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"endpoint": "mde.machines.gett"}, "endpoint"),
        ({"endpoint": "graph.emails.remediate", "body": {}, "allow_write": True}, "accept_beta"),
        ({"endpoint": "mde.machines.get"}, "path_params"),
        ({"endpoint": "mde.machines.get", "path_params": {"id": "a", "x": "b"}}, "path_params"),
        ({"endpoint": "mde.machines.list", "body": {"a": 1}}, "body"),
        ({"endpoint": "mde.machines.tag", "path_params": {"id": "a"}}, "allow_write"),
        (
            {
                "endpoint": "mde.machines.tag",
                "path_params": {"id": "a"},
                "allow_write": True,
                "all_pages": True,
            },
            "all_pages",
        ),
        ({"endpoint": "mde.machines.list", "params": {"$format": "xml"}}, "params"),
    ],
)
async def test_bad_calls_are_refused_before_sending(
    prefect_harness, fresh, creds, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await call_defender_endpoint(creds, **kwargs)
    assert field in str(info.value)
    stats = fresh.admin.stats()
    assert requests(stats) == 0 and not stats["token_requests"]


def test_a_near_miss_is_suggested() -> None:
    with pytest.raises(ValidationError, match=r"did you mean mde\.machines\.get"):
        check_endpoint_call("mde.machines.gett")


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=40))
def test_path_values_are_single_segments(value: str) -> None:
    """Whatever the text, an accepted value is one path segment: it cannot climb or add a query."""
    try:
        _, path, _ = check_endpoint_call("mde.machines.get", {"id": value})
    except ValidationError as exc:
        assert "path_params[id]" in str(exc)
        return
    segment = path["id"]
    assert segment not in (".", "..")
    assert not any(c in segment for c in "/?#\\")


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(CATALOG)))
def test_every_catalog_endpoint_can_be_checked(name: str) -> None:
    ep = CATALOG[name]
    placeholders = {p: "v1" for p in re.findall(r"{(\w+)}", ep.path)}
    checked, path, _ = check_endpoint_call(name, placeholders, allow_write=True, accept_beta=True)
    assert checked is ep and path == placeholders
