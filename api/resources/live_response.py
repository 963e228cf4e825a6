"""Live response: run scripts, get and put files, fetch results; manage the library.

A session is a machine action of type ``LiveResponse``; only one may run per machine. A second
request answers 400 ``ActiveRequestAlreadyExists``, which is reported as ``already_in_progress``
with the running session, exactly like other duplicate actions.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.entities import LibraryFile
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.resources.machine_actions import ActionRequest
from prefect_defender.api.validation import check_comment, check_guid

__all__ = ["LiveCommand", "LiveResponseAPI"]

MAX_LIBRARY_BYTES = 20 * 1024 * 1024
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,200}$")
_KEYS = {"PutFile": ("FileName",), "RunScript": ("ScriptName", "Args"), "GetFile": ("Path",)}


class LiveCommand(BaseModel):
    """One live response command."""

    type: Literal["PutFile", "RunScript", "GetFile"]
    params: dict[str, str]

    def to_api(self) -> dict[str, Any]:
        """The documented command shape, with parameters checked per type."""
        allowed = _KEYS[self.type]
        unknown = set(self.params) - set(allowed)
        if unknown:
            raise ValidationError(
                f"{self.type}: unknown parameter(s) {sorted(unknown)}; allowed: {allowed}",
                field="commands",
            )
        required = allowed[0]
        if not self.params.get(required):
            raise ValidationError(f"{self.type}: '{required}' is required", field="commands")
        for k, v in self.params.items():
            check_comment(v, f"commands.{k}", 2000)
        return {
            "type": self.type,
            "params": [{"key": k, "value": v} for k, v in self.params.items()],
        }


def _library_name(name: str) -> str:
    if not isinstance(name, str) or not _FILE_NAME.match(name):
        raise ValidationError(
            f"file_name: {str(name)[:60]!r} is not a library file name", field="file_name"
        )
    return name


class LiveResponseAPI(Resource):
    """Live response sessions and the script library."""

    async def run(
        self, machine_id: str, commands: Sequence[LiveCommand | dict[str, Any]], comment: str
    ) -> ActionRequest:
        """Start a session running ``commands`` in order (one failed command stops the rest)."""
        cmds = [c if isinstance(c, LiveCommand) else LiveCommand(**c) for c in commands]
        if not cmds:
            raise ValidationError("commands: at least one command", field="commands")
        body = {"Commands": [c.to_api() for c in cmds]}
        return await self.client.machine_actions.request(
            machine_id, ActionType.LIVE_RESPONSE, comment, body
        )

    async def result_link(self, action_id: str, index: int = 0) -> str:
        """The 30-minute download link of one command's result."""
        if isinstance(index, bool) or int(index) < 0:
            raise ValidationError("index: a command index (0, 1, ...)", field="index")
        body = await self.transport.request_json(
            endpoint("mde.live_response.result_link"),
            path_params={"id": check_guid(action_id, "action_id"), "index": int(index)},
        )
        return str(body["value"])

    async def download_result(self, action_id: str, index: int, dest: str | Path) -> int:
        """Download one command's result to ``dest`` (without the bearer token)."""
        url = await self.result_link(action_id, index)
        return await self.transport.download(url, Path(dest))

    async def list_library(self) -> builtins.list[LibraryFile]:
        """Files in the live response library."""
        body = await self.transport.request_json(endpoint("mde.library.list"))
        return [LibraryFile.model_validate(f) for f in body.get("value", [])]

    async def upload_library(
        self,
        file_name: str,
        content: bytes,
        *,
        description: str = "",
        parameters_description: str | None = None,
        override: bool = False,
    ) -> LibraryFile:
        """Upload a script or file (at most 20 MB)."""
        name = _library_name(file_name)
        if len(content) > MAX_LIBRARY_BYTES:
            raise ValidationError("content: at most 20 MB", field="content")
        data = {
            "Description": check_comment(description, "description"),
            "OverrideIfExists": "true" if override else "false",
        }
        if parameters_description:
            data["ParametersDescription"] = check_comment(
                parameters_description, "parameters_description"
            )
            data["HasParameters"] = "true"
        resp = await self.transport.request(
            endpoint("mde.library.upload"),
            files={"File": (name, content, "application/octet-stream")},
            data=data,
            idempotent=override,
        )
        return LibraryFile.model_validate(resp.json())

    async def delete_library(self, file_name: str) -> None:
        """Delete a library file."""
        await self.transport.request(
            endpoint("mde.library.delete"), path_params={"name": _library_name(file_name)}
        )
