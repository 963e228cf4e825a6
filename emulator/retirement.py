"""Retiring API surfaces: the ``retired_surfaces`` knob and the answer a retired API gives.

Microsoft retires the Defender for Endpoint (MDE) and Defender XDR APIs: Message Center
MC1220762, "Retirement notice: MDE and XDR APIs retiring; migrate to Microsoft Graph Security
API" (posted 22 January 2026): "after February 1, 2027, the MDE and XDR APIs will no longer
function". No page documents what a retired endpoint answers. The emulator answers every
endpoint of a retired surface with HTTP 404 and that surface's documented error body,
``{"error": {"code", "message", "target"}}``:

* https://learn.microsoft.com/defender-endpoint/api/common-errors (MDE)
* https://learn.microsoft.com/defender-xdr/api-error-codes (XDR)

Both tables list ``NotFound`` and ``ResourceNotFound`` for 404. A missing *resource* answers
``ResourceNotFound`` naming it (common-errors' example: "Machine 123123123 was not found"); a
route that no longer exists answers the generic ``NotFound`` and names no resource, so a client
can tell "the API is gone" from "that incident does not exist".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "RETIRABLE",
    "RETIRED_CODE",
    "SURFACES",
    "retired_message",
    "retired_surfaces",
]

#: the surfaces Microsoft retires (MC1220762); Graph is their replacement and is not retirable
RETIRABLE: tuple[str, ...] = ("mde", "xdr")

#: the surfaces the emulator counts requests for (``/_emulator/stats`` ``surfaces``)
SURFACES: tuple[str, ...] = ("graph", "mde", "xdr", "entra")

#: the error code of a route that does not exist (the tables' generic 404)
RETIRED_CODE = "NotFound"

_NAMES = {"mde": "Microsoft Defender for Endpoint", "xdr": "Microsoft Defender XDR"}


def retired_surfaces(value: Any) -> list[str]:
    """The ``retired_surfaces`` knob checked: a list of ``mde``/``xdr`` (any case, no repeats).

    Raises ``ValueError`` naming the allowed values for anything else.
    """
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(
            f"retired_surfaces: expected a list of {', '.join(RETIRABLE)}, got {value!r}"
        )
    out: list[str] = []
    for item in value:
        name = str(item).strip().lower()
        if name not in RETIRABLE:
            raise ValueError(
                f"retired_surfaces: {item!r} cannot be retired (one of {', '.join(RETIRABLE)})"
            )
        if name not in out:
            out.append(name)
    return out


def retired_message(surface: str) -> str:
    """The message of a retired surface's 404 (names no resource: the route itself is gone)."""
    return (
        f"The {_NAMES.get(surface, surface)} API has been retired and no longer serves this "
        "request. Use the Microsoft Graph security API "
        "(https://learn.microsoft.com/graph/api/resources/security-api-overview)."
    )
