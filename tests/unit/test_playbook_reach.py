"""A playbook's reach (``PlaybookEndpoints.reach``): the machine-action endpoints of a task that
acts on any type are kept for the types the playbook's code names, and no others."""

from __future__ import annotations

from typing import Any

from prefect import flow

from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.flows.contain import contain_device
from prefect_defender.flows.hunt_respond import hunt_and_respond
from prefect_defender.flows.release import release_containment
from prefect_defender.tasks.action_plans import apply_machine_actions
from prefect_defender.tasks.machine_actions import isolate_machines
from prefect_defender.tasks.playbook_endpoints import playbook_endpoints

ACTIONS = {"scan": ActionType.RUN_ANTIVIRUS_SCAN}


def _actions(names: set[str]) -> set[str]:
    """The machine actions requested (not the reads of the action list)."""
    return {n for n in names if n.startswith("mde.actions.") and n.split(".")[-1] not in READS}


READS = {"list", "get"}


def test_the_types_a_playbook_plans() -> None:
    assert _actions(playbook_endpoints(contain_device).reach()) == {"mde.actions.isolate"}
    assert _actions(playbook_endpoints(release_containment).reach()) == {
        "mde.actions.unisolate",
        "mde.actions.unrestrict",
    }
    assert len(_actions(playbook_endpoints(contain_device).endpoints)) == 8  # declared


def test_a_table_of_types_counts() -> None:
    """hunt-and-respond's response is a parameter naming a row of its ACTIONS table."""
    assert _actions(playbook_endpoints(hunt_and_respond).reach()) == {
        "mde.actions.av_scan",
        "mde.actions.isolate",
        "mde.actions.collect_package",
    }


@flow
async def _scans(plan: list[Any], guard: Any) -> Any:
    kind = ACTIONS["scan"]
    return kind, await apply_machine_actions(None, plan, "c", guard)


@flow
async def _isolations(ids: list[str]) -> Any:
    return await isolate_machines(None, ids, "c")


def test_a_task_of_one_type_is_kept_whatever_the_playbook_names() -> None:
    assert _actions(playbook_endpoints(_scans).reach()) == {"mde.actions.av_scan"}
    assert _actions(playbook_endpoints(_isolations).reach()) == {"mde.actions.isolate"}
