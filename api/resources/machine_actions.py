"""Machine actions: request, de-duplicate, reconcile lost answers, wait, cancel, download.

Two rules make actions safe to automate:

* **Duplicates are not failures.** When an action of the same type is already pending on the
  machine, Defender answers 400 "Action is already in progress"; the existing action is looked
  up and returned with ``already_in_progress=True``.
* **No blind retry.** When the answer to a request is lost (connection reset, timeout, 5xx), the
  action may have been created. Every request carries a unique reference in its ``Comment``; the
  client searches the machine's recent actions of that type for it and returns the one it finds.
  Only when none exists is the request sent again.
"""

from __future__ import annotations

import asyncio
import builtins
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import (
    ActionAlreadyInProgressError,
    DefenderError,
    ServerError,
    TransportError,
)
from prefect_defender.api.models.machine_actions import ActionType, MachineAction
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_comment, check_machine_id

__all__ = ["ActionRequest", "ActionWaitTimeoutError", "MachineActionsAPI"]

ACTION_FILTERS = ODataFilter(
    {"id", "status", "machineId", "type", "requestor", "creationDateTimeUtc"}
)
MAX_RECONCILE = 3


class ActionWaitTimeoutError(DefenderError):
    """The action did not reach a final state in time; ``action`` is its last known state."""

    def __init__(self, message: str, action: MachineAction) -> None:
        self.action = action
        super().__init__(message, code="WaitTimeout")


@dataclass(frozen=True)
class ActionRequest:
    """What a request ended with: the action, and whether it was already in progress."""

    action: MachineAction
    already_in_progress: bool = False
    reconciled: bool = False


def tagged_comment(comment: str, ref: str) -> str:
    """The comment with the client's correlation reference appended."""
    return f"{comment} [ref:{ref}]"


class MachineActionsAPI(Resource):
    """Requesting and following machine actions."""

    async def request(
        self,
        machine_id: str,
        action: ActionType | str,
        comment: str,
        body: dict[str, Any] | None = None,
    ) -> ActionRequest:
        """Request ``action`` on a machine (see the module docstring for the safety rules)."""
        mid = check_machine_id(machine_id)
        kind = ActionType(action)
        text = check_comment(comment, "comment")
        if not text:
            raise_missing_comment()
        ref = uuid.uuid4().hex[:12]
        payload = {"Comment": tagged_comment(text, ref), **(body or {})}
        ep = endpoint(kind.endpoint)
        since = datetime.now(UTC) - timedelta(minutes=5)
        for attempt in range(MAX_RECONCILE + 1):
            try:
                data = await self.transport.request_json(ep, path_params={"id": mid}, json=payload)
                return ActionRequest(MachineAction.model_validate(data))
            except ActionAlreadyInProgressError as exc:
                existing = await self.find_active(mid, kind)
                if existing is None:
                    raise
                exc.existing = existing
                return ActionRequest(existing, already_in_progress=True)
            except (TransportError, ServerError) as exc:
                if isinstance(exc, TransportError) and not exc.applied_unknown:
                    raise
                found = await self.find_by_ref(mid, kind, ref, since)
                if found is not None:
                    return ActionRequest(found, reconciled=True)
                if attempt == MAX_RECONCILE:
                    raise
                await asyncio.sleep(min(2.0**attempt, 10.0))
        raise AssertionError("unreachable")

    async def find_active(self, machine_id: str, action: ActionType | str) -> MachineAction | None:
        """The newest Pending or InProgress action of this type on the machine."""
        f = ACTION_FILTERS
        expr = f.and_(
            f.eq("machineId", check_machine_id(machine_id)),
            f.eq("type", ActionType(action).value),
            "(status eq 'Pending' or status eq 'InProgress')",
        )
        async for a in self.iterate(odata_filter=expr, limit=50):
            return a
        return None

    async def find_by_ref(
        self, machine_id: str, action: ActionType, ref: str, since: datetime
    ) -> MachineAction | None:
        """The action this client requested with correlation ``ref``, if it exists."""
        f = ACTION_FILTERS
        expr = f.and_(
            f.eq("machineId", machine_id),
            f.eq("type", action.value),
            f.ge("creationDateTimeUtc", since),
        )
        async for a in self.iterate(odata_filter=expr, limit=200):
            if a.requestor_comment and f"[ref:{ref}]" in a.requestor_comment:
                return a
        return None

    def iterate(
        self, *, odata_filter: str | None = None, page_size: int = 10_000, limit: int | None = None
    ) -> AsyncIterator[MachineAction]:
        """Machine actions matching ``odata_filter`` (newest first)."""
        params = {"$filter": odata_filter} if odata_filter else None
        return self._models(
            iterate_skip(
                self.transport,
                endpoint("mde.actions.list"),
                page_size=page_size,
                params=params,
                limit=limit,
            )
        )

    async def list(
        self,
        *,
        machine_id: str | None = None,
        action_type: ActionType | str | None = None,
        status: str | None = None,
        limit: int | None = 1000,
    ) -> builtins.list[MachineAction]:
        """Machine actions filtered by machine, type and status."""
        f = ACTION_FILTERS
        expr = f.and_(
            f.eq("machineId", check_machine_id(machine_id)) if machine_id else None,
            f.eq("type", ActionType(action_type).value) if action_type else None,
            f.eq("status", status) if status else None,
        )
        return [a async for a in self.iterate(odata_filter=expr or None, limit=limit)]

    async def get(self, action_id: str) -> MachineAction:
        """One machine action."""
        aid = _check_action_id(action_id)
        data = await self.transport.request_json(
            endpoint("mde.actions.get"), path_params={"id": aid}
        )
        return MachineAction.model_validate(data)

    async def cancel(self, action_id: str, comment: str) -> MachineAction:
        """Cancel an action that is not final yet."""
        aid = _check_action_id(action_id)
        data = await self.transport.request_json(
            endpoint("mde.actions.cancel"),
            path_params={"id": aid},
            json={"Comment": check_comment(comment)},
            idempotent=True,  # cancelling twice is harmless
        )
        return MachineAction.model_validate(data)

    async def wait(
        self,
        action_id: str,
        *,
        timeout: float = 3600.0,
        poll_interval: float = 10.0,
        max_interval: float = 60.0,
    ) -> MachineAction:
        """Poll until the action is final; raise :class:`ActionWaitTimeoutError` on timeout."""
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            action = await self.get(action_id)
            if action.is_final:
                return action
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ActionWaitTimeoutError(
                    f"action {action_id} still {action.status} after {timeout:.0f}s", action
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(max_interval, interval * 1.5)

    async def package_uri(self, action_id: str) -> str:
        """The short-lived download link of a completed investigation package."""
        data = await self.transport.request_json(
            endpoint("mde.actions.package_uri"), path_params={"id": _check_action_id(action_id)}
        )
        return str(data["value"])

    async def download_package(self, action_id: str, dest: str | Path) -> int:
        """Download a completed investigation package (without the bearer token)."""
        url = await self.package_uri(action_id)
        return await self.transport.download(url, Path(dest))

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[MachineAction]:
        async for item in items:
            yield MachineAction.model_validate(item)


def _check_action_id(value: Any) -> str:
    from prefect_defender.api.validation import check_guid

    return check_guid(value, "action_id")


def raise_missing_comment() -> None:
    """Every machine action needs a comment (the API requires ``Comment``)."""
    from prefect_defender.api.errors import ValidationError

    raise ValidationError("comment: every machine action needs a comment", field="comment")
