"""Machine actions of Defender for Endpoint (isolate, scan, collect ...)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field

from prefect_defender.api.models.common import DefenderModel

__all__ = [
    "FINAL_STATUSES",
    "ActionType",
    "IsolationType",
    "MachineAction",
    "ScanType",
]

#: statuses after which an action never changes (documented: Pending, InProgress, Succeeded,
#: Failed, TimeOut, Cancelled)
FINAL_STATUSES = frozenset({"Succeeded", "Failed", "TimeOut", "Cancelled"})


class IsolationType(StrEnum):
    """How a machine is isolated."""

    FULL = "Full"
    SELECTIVE = "Selective"
    UNMANAGED_DEVICE = "UnManagedDevice"


class ScanType(StrEnum):
    """Antivirus scan kind."""

    QUICK = "Quick"
    FULL = "Full"


class ActionType(StrEnum):
    """Machine action types, with the path segment that requests each."""

    ISOLATE = "Isolate"
    UNISOLATE = "Unisolate"
    RESTRICT_CODE_EXECUTION = "RestrictCodeExecution"
    UNRESTRICT_CODE_EXECUTION = "UnrestrictCodeExecution"
    RUN_ANTIVIRUS_SCAN = "RunAntiVirusScan"
    COLLECT_INVESTIGATION_PACKAGE = "CollectInvestigationPackage"
    STOP_AND_QUARANTINE_FILE = "StopAndQuarantineFile"
    OFFBOARD = "Offboard"
    LIVE_RESPONSE = "LiveResponse"

    @property
    def endpoint(self) -> str:
        """The catalog entry that requests this action."""
        return {
            "Isolate": "mde.actions.isolate",
            "Unisolate": "mde.actions.unisolate",
            "RestrictCodeExecution": "mde.actions.restrict",
            "UnrestrictCodeExecution": "mde.actions.unrestrict",
            "RunAntiVirusScan": "mde.actions.av_scan",
            "CollectInvestigationPackage": "mde.actions.collect_package",
            "StopAndQuarantineFile": "mde.actions.stop_and_quarantine",
            "Offboard": "mde.actions.offboard",
            "LiveResponse": "mde.live_response.run",
        }[self.value]


class MachineAction(DefenderModel):
    """A machine action and its state (``status`` is an open string)."""

    id: str
    type: str | None = None
    scope: str | None = None
    title: str | None = None
    requestor: str | None = None
    requestor_comment: str | None = None
    status: str | None = None
    machine_id: str | None = None
    computer_dns_name: str | None = None
    creation_date_time_utc: datetime | None = None
    # the schema page says lastUpdateDateTimeUtc, its examples lastUpdateTimeUtc: accept both
    last_update_date_time_utc: datetime | None = Field(
        default=None,
        validation_alias=AliasChoices("lastUpdateDateTimeUtc", "lastUpdateTimeUtc"),
    )
    cancellation_requestor: str | None = None
    cancellation_comment: str | None = None
    cancellation_date_time_utc: datetime | None = None
    error_h_result: int | None = None
    external_id: str | None = Field(
        default=None, validation_alias=AliasChoices("externalId", "externalID")
    )
    related_file_info: dict[str, Any] | None = None
    commands: list[dict[str, Any]] = []

    @property
    def is_final(self) -> bool:
        """True once the action reached Succeeded, Failed, TimeOut or Cancelled."""
        return (self.status or "") in FINAL_STATUSES
