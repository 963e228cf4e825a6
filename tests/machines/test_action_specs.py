"""The machine-action spec table (``ACTION_SPECS``) checked link by link.

One row per action type drives the endpoint map, the body builder, the tasks' declared
endpoints and the bulk fan-out, so each link of that chain is checked here: the row's catalog
entry, the task that requests it, and the emulator accepting every option value under the
field name the row spells (the emulator refuses unknown body fields with 400, as Defender does).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.machine_actions import (
    ACTION_SPECS,
    ActionSpec,
    ActionType,
    action_endpoints,
)
from prefect_defender.api.resources.action_requests import action_body, options_of
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks import machine_actions as tasks
from prefect_defender.tasks.base import DefenderTask
from tests.machines.conftest import machines_of

SHA1 = "356A192B7913B04C54574D18C28D46E6395428AB"
BULK = [s for s in ACTION_SPECS.values() if s.bulk]


def _single_tasks(spec: ActionSpec) -> list[DefenderTask[Any, Any]]:
    """The public one-machine tasks that request ``spec``'s action."""
    out = []
    for name in tasks.__all__:
        t = getattr(tasks, name)
        if (
            isinstance(t, DefenderTask)
            and t.defender_endpoints == action_endpoints(spec.type)  # type: ignore[attr-defined]
            and "machine_id" in inspect.signature(t.fn).parameters
        ):
            out.append(t)
    return out


def test_every_action_type_has_exactly_one_row() -> None:
    assert set(ACTION_SPECS) == set(ActionType)
    for kind, spec in ACTION_SPECS.items():
        assert spec.type is kind and kind.spec is spec and kind.endpoint == spec.endpoint


@pytest.mark.parametrize("spec", list(ACTION_SPECS.values()), ids=lambda s: s.type.value)
def test_row_names_a_post_on_one_machine_in_the_catalog(spec: ActionSpec) -> None:
    ep = endpoint(spec.endpoint)
    assert ep.method == "POST"
    assert ep.path.startswith("/api/machines/{id}/"), ep.path
    assert ep.application, f"{spec.endpoint} declares no application permission"


@pytest.mark.parametrize("spec", BULK, ids=lambda s: s.type.value)
def test_each_bulk_action_has_a_single_machine_task_with_its_options(spec: ActionSpec) -> None:
    found = _single_tasks(spec)
    assert len(found) == 1, f"{spec.type.value}: one-machine tasks {[t.name for t in found]}"
    params = inspect.signature(found[0].fn).parameters
    for opt in spec.options:
        assert opt.name in params, f"{found[0].name} lacks the option {opt.name}"
        if opt.default is not None:
            assert params[opt.name].default == opt.default


def test_bulk_task_declares_every_bulk_endpoint_and_no_live_response() -> None:
    declared = set(tasks.request_machine_actions.defender_endpoints)  # type: ignore[attr-defined]
    assert declared == {s.endpoint for s in BULK} | {"mde.actions.list"}
    assert ActionType.LIVE_RESPONSE.endpoint not in declared


@pytest.mark.parametrize("spec", BULK, ids=lambda s: s.type.value)
def test_body_builder_spells_the_rows_fields_and_refuses_others(spec: ActionSpec) -> None:
    body = action_body(spec.type, **({"sha1": SHA1} if spec.option("sha1") else {}))
    assert set(body) == {o.field for o in spec.options}
    for opt in spec.options:
        if opt.default is not None:
            assert body[opt.field] == opt.default
    with pytest.raises(ValidationError):
        action_body(spec.type, not_an_option="x")
    # options of other action types are dropped by options_of, kept out of the body
    mixed = {"isolation_type": "Selective", "scan_type": "Full", "sha1": SHA1}
    assert set(options_of(spec.type, mixed)) == {o.name for o in spec.options}


def _cases() -> list[Any]:
    out = []
    for spec in BULK:
        values: list[dict[str, Any]] = [{}]
        for opt in spec.options:
            choices = [c.value for c in opt.choices] if opt.choices else [SHA1]
            values = [{**v, opt.name: c} for v in values for c in choices]
        out += [(spec, v) for v in values]
    return [
        pytest.param(i, spec, v, id=f"{spec.type.value}-{'-'.join(map(str, v.values()))}")
        for i, (spec, v) in enumerate(out)
    ]


CASES = _cases()


@pytest.fixture(scope="module")
def spare_machines(emulator: Any, tenants: dict[str, str]) -> list[str]:
    """One untouched Windows workstation per case (a pending action would be answered as
    already in progress instead of created)."""
    ws = [
        m["id"]
        for m in machines_of(emulator, tenants["contoso"])
        if str(m.get("osPlatform", "")).startswith("Windows")
    ]
    assert len(ws) >= len(CASES), "the seed has too few workstations for this module"
    return ws


@pytest.mark.parametrize("index,spec,options", CASES)
async def test_emulator_accepts_each_option_value_under_the_rows_field(
    conn: dict[str, Any],
    spare_machines: list[str],
    index: int,
    spec: ActionSpec,
    options: dict[str, Any],
) -> None:
    machine_id = spare_machines[index]
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        req = await client.machine_actions.request(
            machine_id, spec.type, "spec table check", action_body(spec.type, **options)
        )
    assert not req.already_in_progress
    assert req.action.type == spec.type.value
    assert req.action.machine_id == machine_id
    scoped = [o for o in spec.options if o.choices]
    if scoped:
        assert req.action.scope == options[scoped[0].name]
