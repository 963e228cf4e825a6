"""Automated investigation (AIR) models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import field_validator

from prefect_defender.api.models.common import DefenderModel

__all__ = ["FINAL_STATES", "Investigation", "InvestigationState"]


class InvestigationState(StrEnum):
    """Documented investigation states (investigation.md), for filters. Responses keep ``state``
    as an open string: Microsoft adds states."""

    UNKNOWN = "Unknown"
    TERMINATED = "Terminated"
    SUCCESSFULLY_REMEDIATED = "SuccessfullyRemediated"
    BENIGN = "Benign"
    FAILED = "Failed"
    PARTIALLY_REMEDIATED = "PartiallyRemediated"
    RUNNING = "Running"
    PENDING_APPROVAL = "PendingApproval"
    PENDING_RESOURCE = "PendingResource"
    PARTIALLY_INVESTIGATED = "PartiallyInvestigated"
    TERMINATED_BY_USER = "TerminatedByUser"
    TERMINATED_BY_SYSTEM = "TerminatedBySystem"
    QUEUED = "Queued"
    INNER_FAILURE = "InnerFailure"
    PREEXISTING_ALERT = "PreexistingAlert"
    UNSUPPORTED_OS = "UnsupportedOs"
    UNSUPPORTED_ALERT_TYPE = "UnsupportedAlertType"
    SUPPRESSED_ALERT = "SuppressedAlert"


#: states after which an investigation no longer changes
FINAL_STATES = frozenset(
    {
        "Terminated",
        "SuccessfullyRemediated",
        "Benign",
        "Failed",
        "PartiallyRemediated",
        "PartiallyInvestigated",
        "TerminatedByUser",
        "TerminatedBySystem",
        "InnerFailure",
        "PreexistingAlert",
        "UnsupportedOs",
        "UnsupportedAlertType",
        "SuppressedAlert",
    }
)


class Investigation(DefenderModel):
    """An automated investigation (``/api/investigations``)."""

    id: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    state: str | None = None
    cancelled_by: str | None = None
    status_details: str | None = None
    machine_id: str | None = None
    computer_dns_name: str | None = None
    triggering_alert_id: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @property
    def is_final(self) -> bool:
        """True once the investigation has ended (any final state)."""
        return self.state in FINAL_STATES
