"""Input types (``api.input_types``) and the argument check made from them (``tasks.arguments``).

* A flow parameter of an input type has the same Prefect parameter schema (so the same form in
  the UI) as one of its base type.
* The check of a parameter is made from its annotation once, when the task is decorated: a
  type that is not defined by then fails at import, not at the first call.
* List items are checked one by one and named by index; ``X | None`` takes ``None``; an empty
  value means "not given" only for the types that say so.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prefect.utilities.callables import parameter_schema

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    IncidentId,
    Limit,
    MachineId,
    TenantId,
    Text,
    check_of,
)
from prefect_defender.api.validation import CheckedMachineId, check_machine_id
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.arguments import (
    checked_arguments,
    checked_parameters,
    parameter_check,
)


def test_flow_parameter_schema_is_that_of_the_base_type() -> None:
    def typed(
        machine_ids: list[MachineId] | None = None,
        tenant_id: TenantId | None = None,
        incident_id: IncidentId | None = None,
        limit: Limit = 5,
        comment: Text = "x",
    ) -> None: ...

    def plain(
        machine_ids: list[str] | None = None,
        tenant_id: str | None = None,
        incident_id: int | None = None,
        limit: int = 5,
        comment: str = "x",
    ) -> None: ...

    assert parameter_schema(typed).model_dump() == parameter_schema(plain).model_dump()


def test_the_check_of_a_type_is_found_and_other_annotations_have_none() -> None:
    machine = check_of(MachineId)
    assert machine is not None and machine.name == "MachineId"
    assert check_of(str) is None and check_of(list[MachineId]) is None


@given(st.integers(-(10**6), 10**6))
def test_limit_takes_zero_and_more(value: int) -> None:
    check = parameter_check(Limit | None)
    if value >= 0:
        assert check("limit", value) == value
    else:
        with pytest.raises(ValidationError, match=r"limit: .* out of range"):
            check("limit", value)
    assert check("limit", None) is None


def test_list_items_are_checked_and_named_by_index() -> None:
    check = parameter_check(list[MachineId])
    good = "a" * 40
    assert check("machine_ids", [good]) == [good]
    with pytest.raises(ValidationError, match=r"machine_ids\[1\]: 'nope' is not a machine id"):
        check("machine_ids", [good, "nope"])
    with pytest.raises(ValidationError, match="machine_ids: expected a list, got str"):
        check("machine_ids", good)


def test_empty_means_not_given_only_where_the_type_says_so() -> None:
    # an optional machine id left empty is "not given"; an empty tenant id is refused
    assert parameter_check(MachineId | None)("machine_id", "") == ""
    with pytest.raises(ValidationError, match="tenant_id: '' is not a GUID"):
        parameter_check(TenantId | None)("tenant_id", "")
    with pytest.raises(ValidationError, match="machine_id: '' is not a machine id"):
        parameter_check(MachineId)("machine_id", "")
    with pytest.raises(ValidationError, match="incident_id: expected an integer, got bool"):
        parameter_check(IncidentId | None)("incident_id", False)


def test_annotations_are_read_when_the_task_is_decorated() -> None:
    async def task(credentials: Any, machine_id: NotDefinedYet) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(TypeError, match="not defined when the task is"):
        checked_arguments(task)


def test_an_unknown_or_missing_argument_is_refused() -> None:
    async def task(machine_id: MachineId, limit: Limit = 5) -> str:
        return machine_id

    wrapped = checked_arguments(task)
    assert asyncio.run(wrapped("A" * 40)) == "A" * 40  # checked; passed on as given
    with pytest.raises(ValidationError, match="machine_id: required"):
        asyncio.run(wrapped(limit=3))
    with pytest.raises(ValidationError, match="unexpected keyword argument 'limits'"):
        asyncio.run(wrapped("a" * 40, limits=3))


def test_a_checked_machine_id_is_carried_and_not_checked_again(monkeypatch: Any) -> None:
    checked = parameter_check(list[MachineId])("machine_ids", ["AB" * 20])[0]
    assert type(checked) is CheckedMachineId and checked == "AB" * 20  # as given, checked
    # any further check would fail: the id pattern of check_machine_id's module is gone
    monkeypatch.setitem(check_machine_id.__globals__, "_MACHINE_ID", None)
    low = check_machine_id(checked)
    assert type(low) is CheckedMachineId and low == "ab" * 20  # only lower-cased
    assert check_machine_id(low) is low
    plan = PlannedAction(machine_id=low, action="Isolate")
    assert plan.machine_id is low  # the plan keeps it checked
    assert PlannedAction(machine_id="nope", action="Isolate").machine_id == "nope"  # as before
    assert plan.body() is plan.body()  # the body is validated once
    plan.options["isolation_type"] = "Selective"  # an approval form changed the options
    assert plan.body() == {"IsolationType": "Selective"}


def test_a_playbook_checks_its_typed_parameters_on_entry() -> None:
    @checked_parameters
    async def playbook(machine_ids: list[MachineId] | None = None, note: str = "") -> list[str]:
        return list(machine_ids or [])

    assert asyncio.run(playbook(["A" * 40])) == ["A" * 40]
    with pytest.raises(ValidationError, match=r"machine_ids\[1\]: 'x' is not a machine id"):
        asyncio.run(playbook(["a" * 40, "x"]))
    # the signature Prefect reads carries the types themselves, not their names
    assert inspect.signature(playbook).parameters["machine_ids"].annotation == (
        list[MachineId] | None
    )
