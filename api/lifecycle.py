"""The lifecycle of a catalog endpoint: current, deprecated (with its retirement date and source)
or retired, and what replaces it.

Sources (read before relying on a date; these move):

* **MC1220762**, Message Center, "Retirement notice: MDE and XDR APIs retiring; migrate to
  Microsoft Graph Security API" (22 January 2026): retirement started 6 February 2026 and
  "after February 1, 2027, the MDE and XDR APIs will no longer function"; no automatic
  migration. Read in third-party copies of the post (Message Center needs a tenant sign-in):
  https://m365admin.handsontek.net/?p=18755 and
  https://pupuweb.com/mc1220762-retirement-notice-mde-and-xdr-apis-retiring-migrate-to-microsoft-graph-security-api/
* **MC1411577**, Message Center (1 July 2026): from 1 September 2026 automated investigation and
  response (AIR) in Defender for Endpoint "will no longer support manual triggering"; "For
  on-demand investigations, administrators can use full antivirus scans." Read in a
  third-party copy:
  https://m365admin.handsontek.net/microsoft-defender-automated-investigation-response-air-integrated-antivirus-manual-triggering-removed/
  Microsoft's API page (https://learn.microsoft.com/defender-endpoint/api/initiate-autoir-investigation,
  ms.date 03/01/2025) carries no notice yet.

What the client does with it (:func:`check_call`, :func:`retired_answer`, called by the
transport):

* a **retired** endpoint raises :class:`~prefect_defender.api.errors.ApiRetiredError` naming its
  replacement before any request (or token request) leaves the process;
* a **deprecated** one logs one warning per endpoint and process (logger
  ``prefect_defender.lifecycle``) naming the date, the source and the replacement, and is called;
  its date passing does not stop the call (Microsoft has moved such dates before), but
* an answer 410, or 404 in a retired API's shape, from a deprecated or retired endpoint raises
  :class:`~prefect_defender.api.errors.ApiRetiredError`, not ``NotFoundError``: see
  :func:`retired_answer`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from prefect_defender.api.errors import ApiRetiredError, DefenderError

if TYPE_CHECKING:
    from prefect_defender.api.catalog import Endpoint

__all__ = [
    "AIR_RETIREMENT",
    "CURRENT",
    "MDE_XDR_RETIREMENT",
    "SOURCES",
    "Lifecycle",
    "Status",
    "check_call",
    "retired_answer",
]

logger = logging.getLogger("prefect_defender.lifecycle")


class Status(StrEnum):
    """Where an endpoint is in its life."""

    CURRENT = "current"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


#: the announcements the catalog cites, with where they were read
SOURCES: dict[str, str] = {
    "MC1220762": "https://m365admin.handsontek.net/?p=18755",
    "MC1411577": (
        "https://m365admin.handsontek.net/microsoft-defender-automated-investigation-response-"
        "air-integrated-antivirus-manual-triggering-removed/"
    ),
}

#: "after February 1, 2027, the MDE and XDR APIs will no longer function" (MC1220762)
MDE_XDR_RETIREMENT = date(2027, 2, 1)
#: AIR can no longer be triggered manually from this day (MC1411577)
AIR_RETIREMENT = date(2026, 9, 1)


@dataclass(frozen=True)
class Lifecycle:
    """An endpoint's status, its date and source, and its replacement.

    ``retires`` is the announced retirement date of a deprecated endpoint, or the day a retired
    one stopped. ``replacements`` names catalog entries; when there is none, ``note`` says why
    ("none documented: ..."), and it may add how to use the replacement.
    """

    status: Status = Status.CURRENT
    retires: date | None = None
    source: str = ""
    replacements: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_current(self) -> bool:
        """True for an endpoint with no announced end."""
        return self.status is Status.CURRENT

    @property
    def source_url(self) -> str:
        """Where the source announcement was read."""
        return SOURCES.get(self.source, "")

    def replacement_text(self) -> str:
        """The replacement in words: catalog names and the note, or "none documented: why"."""
        if not self.replacements:
            return self.note or "none documented"
        names = " and ".join(self.replacements)
        return f"{names} ({self.note})" if self.note else names

    def summary(self) -> str:
        """``deprecated: retires 2027-02-01 (MC1220762); replacement: ...`` (or ``current``)."""
        if self.is_current:
            return "current"
        when = "retires" if self.status is Status.DEPRECATED else "retired"
        dated = f" {self.retires.isoformat()}" if self.retires else ""
        return (
            f"{self.status.value}: {when}{dated} ({self.source}); "
            f"replacement: {self.replacement_text()}"
        )


CURRENT = Lifecycle()

_warned: set[str] = set()
_warned_lock = threading.Lock()


def check_call(ep: Endpoint) -> None:
    """Before sending ``ep``: raise for a retired endpoint, warn once for a deprecated one."""
    life = ep.lifecycle
    if life.status is Status.RETIRED:
        raise ApiRetiredError(
            f"{ep.name} ({ep.method} {ep.path}, {ep.api_name}) was retired on "
            f"{life.retires} ({life.source}); nothing was sent. Use instead: "
            f"{life.replacement_text()}",
            endpoint=ep.name,
            replacement=life.replacements,
            retired_on=life.retires,
        )
    if life.status is Status.DEPRECATED:
        with _warned_lock:
            if ep.name in _warned:
                return
            _warned.add(ep.name)
        logger.warning(
            "%s (%s %s, %s) is deprecated: Microsoft retires it on %s (%s); use instead: %s",
            ep.name,
            ep.method,
            ep.path,
            ep.api_name,
            life.retires,
            life.source,
            life.replacement_text(),
        )


def forget_warnings() -> None:
    """Warn again for every deprecated endpoint (tests)."""
    with _warned_lock:
        _warned.clear()


#: words a retired API's message carries (the emulator's, and Azure's "retired"/"deprecated")
_RETIRED_WORDS = ("retired", "deprecated", "decommissioned", "no longer")


def retired_answer(ep: Endpoint, err: DefenderError, today: date | None = None) -> bool:
    """Whether the error answer ``err`` to ``ep`` means the API is gone, not a missing resource.

    Only for a deprecated or retired endpoint: a 410; or a 404 whose message says the API is
    retired; or, from the retirement date on, a 404 that does not name a missing resource.
    Microsoft documents no post-retirement answer. Its error tables list ``NotFound`` and
    ``ResourceNotFound`` for 404
    (https://learn.microsoft.com/defender-endpoint/api/common-errors,
    https://learn.microsoft.com/defender-xdr/api-error-codes), and a missing resource answers
    ``ResourceNotFound`` naming it ("Machine 123123123 was not found"), so a generic
    ``NotFound``, or a 404 with no error body, after the date is the route itself gone.
    """
    life = ep.lifecycle
    if life.is_current or err.status not in (404, 410):
        return False
    if err.status == 410:
        return True
    text = (err.message or "").lower()
    if any(word in text for word in _RETIRED_WORDS):
        return True
    day = today or datetime.now(UTC).date()
    return life.retires is not None and day >= life.retires and err.code != "ResourceNotFound"


def retired_error(ep: Endpoint, err: DefenderError) -> ApiRetiredError:
    """The :class:`ApiRetiredError` for ``ep``'s retired-API answer ``err`` (its status, code,
    target and URL kept)."""
    life = ep.lifecycle
    return ApiRetiredError(
        f"the {ep.api_name} API answered {ep.name} ({ep.method} {ep.path}) as a retired API: "
        f"{err.message} ({life.summary()})",
        endpoint=ep.name,
        replacement=life.replacements,
        retired_on=life.retires,
        status=err.status,
        code=err.code,
        target=err.target,
        request_id=err.request_id,
        method=err.method,
        url=err.url,
    )
