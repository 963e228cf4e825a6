"""Live response: run scripts, get and put files, fetch results; manage the library.

A session is a machine action of type ``LiveResponse``; only one may run per machine. A second
request answers 400 ``ActiveRequestAlreadyExists``, which is reported as ``already_in_progress``
with the running session, exactly like other duplicate actions.
"""

from __future__ import annotations

import builtins
import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect_defender.api.answers import link_value, read_model, read_models
from prefect_defender.api.body import loads
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ServerError, TransportError, ValidationError
from prefect_defender.api.models.live_response import (
    LibraryFile,
    LiveCommand,
    ScriptResult,
    check_library_name,
)
from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.resources.action_requests import ActionRequest
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_comment, check_guid

__all__ = ["MAX_LIBRARY_BYTES", "LiveResponseAPI"]

#: documented upload limit of the live response library
MAX_LIBRARY_BYTES = 20 * 1024 * 1024


def _library_name(name: str) -> str:
    return check_library_name(name, "file_name")


def _index(index: Any) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValidationError("index: a command index (0, 1, ...)", field="index")
    return index


class LiveResponseAPI(Resource):
    """Live response sessions and the script library."""

    @staticmethod
    def commands_body(commands: Sequence[LiveCommand | dict[str, Any]]) -> dict[str, Any]:
        """The validated ``Commands`` body field (raises before anything is sent)."""
        if isinstance(commands, str | bytes | dict) or not isinstance(commands, Sequence):
            raise ValidationError("commands: expected a list of commands", field="commands")
        if not commands:
            raise ValidationError("commands: at least one command", field="commands")
        cmds: builtins.list[LiveCommand] = []
        for i, c in enumerate(commands):
            if isinstance(c, LiveCommand):
                cmds.append(c)
                continue
            try:
                cmds.append(LiveCommand.model_validate(c))
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise ValidationError(
                    f"commands[{i}]: expected {{'type': 'PutFile'|'RunScript'|'GetFile', "
                    f"'params': {{...}}}} ({str(exc).splitlines()[0]})",
                    field="commands",
                ) from None
        return {"Commands": [c.to_api() for c in cmds]}

    async def run(
        self, machine_id: str, commands: Sequence[LiveCommand | dict[str, Any]], comment: str
    ) -> ActionRequest:
        """Start a session running ``commands`` in order (one failed command stops the rest).

        A session already running on the machine (400 ``ActiveRequestAlreadyExists``) is
        returned with ``already_in_progress=True``; a lost answer is reconciled like every
        machine action (never blindly re-sent).
        """
        body = self.commands_body(commands)
        return await self.client.machine_actions.request(
            machine_id, ActionType.LIVE_RESPONSE, comment, body
        )

    async def result_link(self, action_id: str, index: int = 0) -> str:
        """The 30-minute download link of command ``index``'s result."""
        body = await self.transport.request_json(
            endpoint("mde.live_response.result_link"),
            path_params={"id": check_guid(action_id, "action_id"), "index": _index(index)},
        )
        return link_value(body, "mde.live_response.result_link")

    async def download_result(self, action_id: str, index: int, dest: str | Path) -> int:
        """Download one command's result to ``dest`` (without the bearer token)."""
        url = await self.result_link(action_id, index)
        return await self.transport.download(url, Path(dest))

    async def fetch_result(self, action_id: str, index: int = 0) -> bytes:
        """One command's result in memory (fetched without the bearer token)."""
        url = await self.result_link(action_id, index)
        with tempfile.TemporaryDirectory(prefix="defender-lr-") as tmp:
            dest = Path(tmp) / "result"
            await self.transport.download(url, dest)
            return dest.read_bytes()

    async def script_result(self, action_id: str, index: int = 0) -> ScriptResult:
        """The transcript of a ``RunScript`` command (``script_output``, ``exit_code`` ...)."""
        raw = await self.fetch_result(action_id, index)
        try:
            return ScriptResult.model_validate(loads(raw, self.transport.body_limits.max_depth))
        except ValueError:
            raise ValidationError(
                f"index: command {index} of action {action_id} did not return a script "
                "transcript (is it a RunScript command?)",
                field="index",
            ) from None

    async def list_library(self) -> builtins.list[LibraryFile]:
        """Files in the live response library."""
        body = await self.transport.request_json(endpoint("mde.library.list"))
        items = body.get("value", []) if isinstance(body, dict) else []
        return read_models(LibraryFile, items, "mde.library.list")

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
        if not isinstance(content, bytes | bytearray):
            raise ValidationError("content: expected bytes", field="content")
        if len(content) > MAX_LIBRARY_BYTES:
            raise ValidationError(
                f"content: {len(content)} bytes; the library takes at most 20 MB", field="content"
            )
        data = {
            "Description": check_comment(description, "description"),
            "OverrideIfExists": "true" if override else "false",
        }
        if parameters_description:
            data["ParametersDescription"] = check_comment(
                parameters_description, "parameters_description"
            )
            data["HasParameters"] = "true"
        try:
            body = await self.transport.request_json(
                endpoint("mde.library.upload"),
                files={"File": (name, bytes(content), "application/octet-stream")},
                data=data,
                idempotent=override,  # replacing with the same bytes twice is harmless
            )
        except (TransportError, ServerError) as exc:
            if isinstance(exc, TransportError) and not exc.applied_unknown:
                raise
            # the answer was lost: the upload went through if the library now holds these bytes
            digest = hashlib.sha256(content).hexdigest()
            for f in await self.list_library():
                if f.file_name == name and (f.sha256 or "").lower() == digest:
                    return f
            raise
        return read_model(LibraryFile, body, "mde.library.upload")

    async def delete_library(self, file_name: str) -> None:
        """Delete a library file (404 :class:`~prefect_defender.api.errors.NotFoundError` if
        there is none by that name)."""
        await self.transport.request(
            endpoint("mde.library.delete"), path_params={"name": _library_name(file_name)}
        )
