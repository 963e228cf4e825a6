"""Pydantic models of Defender's resources (unknown fields kept, enums as open strings)."""

from prefect_defender.api.models.common import DefenderModel, ODataCollection
from prefect_defender.api.models.incidents import (
    GraphAlert,
    GraphIncident,
    Incident,
    IncidentAlert,
    IncidentComment,
    IncidentDevice,
    IncidentEntity,
)
from prefect_defender.api.models.machines import Machine, MachineIp

__all__ = [
    "DefenderModel",
    "GraphAlert",
    "GraphIncident",
    "Incident",
    "IncidentAlert",
    "IncidentComment",
    "IncidentDevice",
    "IncidentEntity",
    "Machine",
    "MachineIp",
    "ODataCollection",
]
