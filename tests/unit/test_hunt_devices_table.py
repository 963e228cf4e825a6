"""The hunt-and-respond approval table matches hunting rows to planned devices by device id.

A hunting answer may hold a device on several rows, or a device the plan no longer has (gone
from Defender since): the table adds the hits per device and never fails on the mismatch (it
ended in a builtin ``ValueError`` from ``zip(strict=True)`` before the form was shown).
"""

from __future__ import annotations

from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.flows.hunt_respond import _devices_table
from prefect_defender.tasks.action_fan_out import PlannedAction

A, B = "a" * 40, "b" * 40


def _planned(machine_id: str, name: str) -> PlannedAction:
    return PlannedAction(machine_id=machine_id, computer_dns_name=name, action=ActionType.ISOLATE)


def test_duplicate_rows_add_their_hits() -> None:
    plan = [_planned(A, "ws1"), _planned(B, "ws2")]
    rows = [
        {"DeviceId": A.upper(), "DeviceName": "ws1", "Hits": 2},
        {"DeviceId": B, "DeviceName": "ws2", "Hits": 5},
        {"DeviceId": A, "DeviceName": "WS1", "Hits": 1},
    ]
    table = _devices_table(plan, rows, ActionType.ISOLATE)
    assert "| ws1 | 3 | Isolate |" in table
    assert "| ws2 | 5 | Isolate |" in table


def test_rows_without_a_planned_device_and_devices_without_rows() -> None:
    plan = [_planned(A, "ws1")]
    rows = [{"DeviceId": B, "Hits": 4}, {"DeviceId": None, "Hits": None}]
    table = _devices_table(plan, rows, ActionType.ISOLATE)
    assert "ws1" in table and "4" not in table
    assert _devices_table([_planned(B, "ws2")], [], ActionType.ISOLATE).count("ws2") == 1
