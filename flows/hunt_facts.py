"""What an IOC hunt saw, as the hunt-and-respond approval form says it.

The hunt (``tasks.hunting.hunt_ioc``) answers rows of ``DeviceId``, ``DeviceName``,
``FirstSeen``, ``LastSeen`` and ``Hits``. A device may come back on several rows, and a row may
name a device the plan no longer has (gone from Defender since): :func:`seen_by_device` folds
the rows per device id (hits added, the earliest first and the latest last sighting), and a
device's form block says what the hunt saw on it (:func:`seen_on`). Nothing here calls Defender.

Example:
    ```python
    rows = [
        {"DeviceId": machine_id, "Hits": 2, "FirstSeen": "2026-12-01T10:00:00Z"},
        {"DeviceId": machine_id.upper(), "Hits": 1, "LastSeen": "2026-12-07T09:12:00Z"},
    ]
    full, seen = looked_for(("ip", ["203.0.113.66"]))
    said = seen_on(seen_by_device(rows).get(machine_id.lower()), seen)
    assert said == "saw ip 203.0.113.66: 3 events, 2026-12-01 10:00 UTC to 2026-12-07 09:12 UTC"
    ```
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect_defender.flows.decision_context import utc

__all__ = ["devices_text", "looked_for", "seen_by_device", "seen_on"]


def _when(value: Any) -> datetime | None:
    """A hunting cell's time (a datetime, or ISO text with ``Z``; naive is UTC, as hunting
    answers are); ``None`` when unreadable."""
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _hits(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def seen_by_device(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{device id (lower case): {"Hits", "FirstSeen", "LastSeen"}}``: the rows of a device
    folded into one (hits added; the earliest first and latest last sighting).

    Examples:
        >>> seen_by_device([{"DeviceId": "A", "Hits": 2}, {"DeviceId": "a", "Hits": 1}])["a"]
        {'Hits': 3, 'FirstSeen': None, 'LastSeen': None}
    """
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = str(row.get("DeviceId") or "").lower()
        if not key:
            continue
        seen = out.setdefault(key, {"Hits": 0, "FirstSeen": None, "LastSeen": None})
        seen["Hits"] += _hits(row.get("Hits"))
        first = _when(row.get("FirstSeen")) if row.get("FirstSeen") else None
        last = _when(row.get("LastSeen")) if row.get("LastSeen") else None
        if first and (seen["FirstSeen"] is None or first < seen["FirstSeen"]):
            seen["FirstSeen"] = first
        if last and (seen["LastSeen"] is None or last > seen["LastSeen"]):
            seen["LastSeen"] = last
    return out


def seen_on(seen: dict[str, Any] | None, what: str) -> str | None:
    """``saw ip 203.0.113.66: 4 events, 2026-12-01 10:00 UTC to 2026-12-07 09:12 UTC`` (one
    time when they are the same); ``None`` for a device the hunt's rows do not name."""
    if not seen:
        return None
    first, last = utc(seen.get("FirstSeen")), utc(seen.get("LastSeen"))
    span = f", {first} to {last}" if first and last and first != last else ""
    span = f", at {first}" if first and first == last else span
    hits = seen.get("Hits", 0)
    return f"saw {what}: {hits} event{'' if hits == 1 else 's'}{span}"


def looked_for(iocs: tuple[str, list[str]]) -> tuple[str, str]:
    """What was looked for: in full (the form's why, bounded there) and as one device saw it
    (``ip 203.0.113.66``; of several values the hunt does not say which one a device saw).

    Examples:
        >>> looked_for(("domain", ["a.example", "b.example"]))[1]
        'one or more of the 2 domain values'
    """
    kind, values = iocs
    full = f"{kind} {', '.join(values)}"
    return full, full if len(values) == 1 else f"one or more of the {len(values)} {kind} values"


def devices_text(n: int) -> str:
    """``1 device``, ``3 devices``."""
    return f"{n} device{'s' if n != 1 else ''}"
