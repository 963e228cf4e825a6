"""Live response: the commands a session runs, a script's result, library files."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.validation import check_choice, check_comment

__all__ = [
    "COMMAND_KEYS",
    "CommandType",
    "LibraryFile",
    "LiveCommand",
    "ScriptResult",
    "check_library_name",
]


class CommandType(StrEnum):
    """Live response command types (the API spells them exactly so)."""

    PUT_FILE = "PutFile"
    RUN_SCRIPT = "RunScript"
    GET_FILE = "GetFile"


#: the parameter keys each command takes; the first one is required
COMMAND_KEYS: dict[CommandType, tuple[str, ...]] = {
    CommandType.PUT_FILE: ("FileName",),
    CommandType.RUN_SCRIPT: ("ScriptName", "Args"),
    CommandType.GET_FILE: ("Path",),
}

_LIBRARY_NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,200}$")


def check_library_name(value: Any, field: str = "file_name") -> str:
    """A live response library file name (no path separators, no traversal)."""
    if (
        not isinstance(value, str)
        or not _LIBRARY_NAME.match(value)
        or value.strip(". ") == ""
        or value != value.strip()
    ):
        raise ValidationError(
            f"{field}: {str(value)[:60]!r} is not a library file name "
            "(letters, digits, '_', '-', '.', spaces; no path)",
            field=field,
        )
    return value


class LiveCommand(BaseModel):
    """One live response command, e.g. ``LiveCommand(type="RunScript", params={...})``.

    ``params`` is a plain mapping (``{"ScriptName": "triage.ps1", "Args": "-Days 2"}``); the
    API's ``[{"key", "value"}]`` list is produced by :meth:`to_api`.
    """

    type: CommandType
    params: dict[str, str] = Field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The documented command shape, with parameters checked per type (case-sensitive)."""
        kind = check_choice(self.type, CommandType, "commands.type")
        allowed = COMMAND_KEYS[kind]
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise ValidationError(
                f"commands: {kind.value} takes {', '.join(allowed)}; unknown {unknown}",
                field="commands",
            )
        required = allowed[0]
        if not str(self.params.get(required) or "").strip():
            raise ValidationError(f"commands: {kind.value} needs '{required}'", field="commands")
        params = []
        for key in allowed:  # documented order
            if key in self.params:
                value = check_comment(self.params[key], f"commands.{key}", 2000)
                if key in ("FileName", "ScriptName"):
                    check_library_name(value, f"commands.{key}")
                params.append({"key": key, "value": value})
        return {"type": kind.value, "params": params}


class ScriptResult(BaseModel):
    """The transcript of a ``RunScript`` command (the result file of its download link)."""

    script_name: str | None = None
    exit_code: int | None = None
    script_output: str | None = None
    script_errors: str | None = None

    # the transcript's keys are snake_case already
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class LibraryFile(DefenderModel):
    """A file in the live response library (``GET /api/libraryfiles``)."""

    file_name: str
    sha256: str | None = None
    description: str | None = None
    creation_time: datetime | None = None
    last_updated_time: datetime | None = None
    created_by: str | None = None
    has_parameters: bool | None = None
    parameters_description: str | None = None
