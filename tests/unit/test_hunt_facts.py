"""What the hunt-and-respond approval form says a hunt saw, matched to devices by device id.

A hunting answer may hold a device on several rows, or a device the plan no longer has (gone
from Defender since): the rows are folded per device (hits added, the earliest first and the
latest last sighting) and never fail on the mismatch (a ``zip(strict=True)`` of plan and rows
once ended in a builtin ``ValueError`` before the form was shown).
"""

from __future__ import annotations

from prefect_defender.flows.hunt_facts import looked_for, seen_by_device, seen_on

A, B = "a" * 40, "b" * 40


def test_duplicate_rows_add_their_hits_and_widen_the_span() -> None:
    rows = [
        {"DeviceId": A.upper(), "Hits": 2, "FirstSeen": "2026-12-02T10:00:00Z"},
        {"DeviceId": B, "Hits": 5, "FirstSeen": "2026-12-01T09:00:00Z"},
        {
            "DeviceId": A,
            "Hits": 1,
            "FirstSeen": "2026-12-01T08:00:00",  # naive: UTC, as hunting answers are
            "LastSeen": "2026-12-07T09:12:00Z",
        },
    ]
    seen = seen_by_device(rows)
    assert seen[A]["Hits"] == 3 and seen[B]["Hits"] == 5
    assert seen_on(seen[A], "ip 203.0.113.66") == (
        "saw ip 203.0.113.66: 3 events, 2026-12-01 08:00 UTC to 2026-12-07 09:12 UTC"
    )
    assert seen_on(seen[B], "ip 203.0.113.66") == "saw ip 203.0.113.66: 5 events"


def test_rows_without_a_device_and_devices_without_rows() -> None:
    rows = [{"DeviceId": B, "Hits": 4}, {"DeviceId": None, "Hits": None}, {"Hits": "x"}]
    seen = seen_by_device(rows)
    assert list(seen) == [B]
    assert seen_on(seen.get(A), "ip 203.0.113.66") is None  # a planned device no row names
    one = {"Hits": 1, "FirstSeen": "2026-12-07T20:10:00Z", "LastSeen": "2026-12-07T20:10:00Z"}
    assert seen_on(seen_by_device([{"DeviceId": A, **one}])[A], "ip x") == (
        "saw ip x: 1 event, at 2026-12-07 20:10 UTC"
    )


def test_a_hunt_for_several_values_does_not_say_a_device_saw_them_all() -> None:
    assert looked_for(("ip", ["203.0.113.66"])) == ("ip 203.0.113.66", "ip 203.0.113.66")
    full, seen = looked_for(("domain", ["a.example", "b.example", "c.example"]))
    assert full == "domain a.example, b.example, c.example"
    assert seen == "one or more of the 3 domain values"
