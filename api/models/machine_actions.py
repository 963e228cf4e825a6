"""Machine actions of Defender for Endpoint (isolate, scan, collect ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field

from prefect_defender.api.models.common import DefenderModel

__all__ = [
    "ACTION_SPECS",
    "FINAL_STATUSES",
    "ActionOption",
    "ActionSpec",
    "ActionType",
    "IsolationType",
    "MachineAction",
    "ScanType",
    "action_endpoints",
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
    """Machine action types; :data:`ACTION_SPECS` says how each is requested."""

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
    def spec(self) -> ActionSpec:
        """How this action is requested (endpoint, body options)."""
        return ACTION_SPECS[self]

    @property
    def endpoint(self) -> str:
        """The catalog entry that requests this action."""
        return ACTION_SPECS[self].endpoint


@dataclass(frozen=True)
class ActionOption:
    """One type-specific body field of a machine action request.

    ``name`` is the task parameter (``isolation_type``), ``field`` the body field as the
    request page spells it (``IsolationType``, case-sensitive). ``choices`` is the enum of
    allowed values (``None`` for a SHA-1); ``default`` is sent when the option is not given
    (``None``: the option is required).
    """

    name: str
    field: str
    choices: type[StrEnum] | None = None
    default: str | None = None


@dataclass(frozen=True)
class ActionSpec:
    """How one machine action type is requested: its catalog endpoint and body options.

    The endpoint carries the path, method, permissions and rate-limit group
    (``prefect_defender.api.catalog``); ``bulk`` says whether the bulk tasks and the playbooks'
    fan-out may request it (live response has its own session tasks).
    """

    type: ActionType
    endpoint: str
    options: tuple[ActionOption, ...] = ()
    bulk: bool = True

    def option(self, name: str) -> ActionOption | None:
        """The option called ``name``, if the action has one."""
        return next((o for o in self.options if o.name == name), None)


#: every machine action: one row per type. The body builder (``action_body``), the endpoint
#: map (``ActionType.endpoint``), the tasks' declared endpoints and the bulk fan-out read it;
#: ``tests/machines/test_action_specs.py`` checks each row against the catalog and the emulator.
ACTION_SPECS: dict[ActionType, ActionSpec] = {
    s.type: s
    for s in (
        ActionSpec(
            ActionType.ISOLATE,
            "mde.actions.isolate",
            (ActionOption("isolation_type", "IsolationType", IsolationType, IsolationType.FULL),),
        ),
        ActionSpec(ActionType.UNISOLATE, "mde.actions.unisolate"),
        ActionSpec(ActionType.RESTRICT_CODE_EXECUTION, "mde.actions.restrict"),
        ActionSpec(ActionType.UNRESTRICT_CODE_EXECUTION, "mde.actions.unrestrict"),
        ActionSpec(
            ActionType.RUN_ANTIVIRUS_SCAN,
            "mde.actions.av_scan",
            (ActionOption("scan_type", "ScanType", ScanType, ScanType.QUICK),),
        ),
        ActionSpec(ActionType.COLLECT_INVESTIGATION_PACKAGE, "mde.actions.collect_package"),
        ActionSpec(
            ActionType.STOP_AND_QUARANTINE_FILE,
            "mde.actions.stop_and_quarantine",
            (ActionOption("sha1", "Sha1"),),
        ),
        ActionSpec(ActionType.OFFBOARD, "mde.actions.offboard"),
        ActionSpec(ActionType.LIVE_RESPONSE, "mde.live_response.run", bulk=False),
    )
}


def action_endpoints(*kinds: ActionType) -> tuple[str, ...]:
    """The catalog endpoints a task requesting ``kinds`` calls (every bulk type when none is
    given), with the action list it reads to de-duplicate and reconcile."""
    chosen = kinds or tuple(k for k, s in ACTION_SPECS.items() if s.bulk)
    return (*(ACTION_SPECS[k].endpoint for k in chosen), "mde.actions.list")


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
