"""What a release undoes, read from a machine's actions (newest first)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect_defender.api.models.machine_actions import ActionType, MachineAction
from prefect_defender.tasks.action_history import containment_state


def _action(kind: str, status: str, hour: int, **extra: str) -> MachineAction:
    return MachineAction.model_validate(
        {
            "id": f"{kind}-{hour}",
            "type": kind,
            "status": status,
            "requestor": "soc-app",
            "creationDateTimeUtc": datetime(2026, 12, 7, hour, 0, tzinfo=UTC).isoformat(),
            **extra,
        }
    )


def test_isolated_since_by_whom_and_why() -> None:
    actions = [
        _action("RunAntiVirusScan", "Succeeded", 20),
        _action("Isolate", "Succeeded", 18, scope="Selective", requestorComment="ransom\nnote"),
        _action("Unisolate", "Succeeded", 10),
    ]
    assert containment_state(actions, ActionType.UNISOLATE) == (
        'isolated (Selective) since 2026-12-07 18:00 UTC by soc-app: "ransom note"'
    )


def test_an_application_and_the_run_reference_are_not_shown() -> None:
    app = "cfef2ff2-cfb6-5447-8606-a2fe5d83b4e7"
    said = "prefect-defender contain-device (incident 7, approved by alice) [ref:c69ccdbc5c92]"
    actions = [_action("Isolate", "Succeeded", 18, requestor=app, requestorComment=said)]
    assert containment_state(actions, ActionType.UNISOLATE) == (
        "isolated since 2026-12-07 18:00 UTC by an application: "
        '"prefect-defender contain-device (incident 7, approved by alice)"'
    )


def test_released_pending_failed_and_nothing_on_record() -> None:
    released = [_action("Unisolate", "Succeeded", 19), _action("Isolate", "Succeeded", 18)]
    assert containment_state(released, ActionType.UNISOLATE) == (
        "not isolated now (released 2026-12-07 19:00 UTC by soc-app)"
    )
    pending = [_action("Isolate", "Pending", 18)]
    assert containment_state(pending, ActionType.UNISOLATE).startswith(
        "isolation requested 2026-12-07 18:00 UTC by soc-app, not done yet (Pending)"
    )
    failed = [_action("Isolate", "Failed", 18)]  # a failed isolation is no isolation
    assert containment_state(failed, ActionType.UNISOLATE) == "no isolation on record"
    restricted = [_action("RestrictCodeExecution", "Succeeded", 17)]
    assert containment_state(restricted, ActionType.UNRESTRICT_CODE_EXECUTION) == (
        "app execution restricted since 2026-12-07 17:00 UTC by soc-app"
    )
    assert containment_state(restricted, ActionType.UNISOLATE) == "no isolation on record"


async def test_the_history_asks_only_for_containing_and_releasing_actions() -> None:
    """A machine scanned daily has hundreds of actions and the list has no documented order:
    the history asks Defender for the isolation and restriction actions only (the emulator's
    filter engine, written from the OData contract, keeps exactly those of that machine)."""
    from types import SimpleNamespace
    from typing import Any

    from prefect_defender.api.resources.machine_actions import MachineActionsAPI
    from prefect_defender.emulator.odata import compile_filter
    from prefect_defender.tasks.action_history import _PAIRS

    mid = "a" * 40
    sent: list[str] = []

    class Transport:
        async def request_json(self, ep: Any, **kw: Any) -> Any:
            sent.append(kw["params"]["$filter"])
            return {"value": []}

    api = MachineActionsAPI(SimpleNamespace(transport=Transport()))  # type: ignore[arg-type]
    kinds = [k for pair in _PAIRS.values() for k in pair[:2]]
    assert await api.list(machine_id=mid, action_types=kinds, limit=10) == []
    keep = compile_filter(sent[0], ["machineId", "type"])
    rows = [
        {"machineId": m, "type": t}
        for m in (mid, "b" * 40)
        for t in ("Isolate", "Unisolate", "RunAntiVirusScan", "RestrictCodeExecution")
    ]
    assert [(r["machineId"][0], r["type"]) for r in rows if keep(r)] == [
        ("a", "Isolate"),
        ("a", "Unisolate"),
        ("a", "RestrictCodeExecution"),
    ]
