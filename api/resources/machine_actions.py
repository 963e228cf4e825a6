"""Machine actions: request, de-duplicate, reconcile lost answers, wait, cancel, download.

Two rules make actions safe to automate:

* **Duplicates are not failures.** When an action of the same type is already pending on the
  machine, Defender answers 400 "Action is already in progress"; the existing action is looked
  up and returned with ``already_in_progress=True``.
* **No blind retry.** When the answer to a request is lost (connection reset, timeout, 5xx), the
  action may have been created. Every request carries a unique reference in its ``Comment``; the
  client searches the machine's recent actions of that type for it and returns the one it finds.
  Only when none exists is the request sent again.

The MachineAction resource has an ``externalID`` "the customer can submit in the request", but no
request page names the body field, and the API rejects unknown (case-sensitive) body fields with
``InvalidRequestBody``; so the correlation reference travels in ``Comment``, which every action
documents and Defender returns as ``requestorComment``.
"""

from __future__ import annotations

import asyncio
import builtins
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect_defender.api.answers import link_value, read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import (
    ActionAlreadyInProgressError,
    BadRequestError,
    DefenderError,
    ServerError,
    TransportError,
    ValidationError,
)
from prefect_defender.api.models.machine_actions import (
    ActionType,
    MachineAction,
)
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect, skip_models
from prefect_defender.api.resources.action_requests import (
    ActionRequest,
    action_comment,
    tagged_comment,
)
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    check_choice,
    check_guid,
    check_machine_id,
)

__all__ = ["ActionWaitTimeoutError", "MachineActionsAPI"]

ACTION_FILTERS = ODataFilter(
    {"id", "status", "machineId", "type", "requestor", "creationDateTimeUtc"}
)
MAX_RECONCILE = 3


class ActionWaitTimeoutError(DefenderError):
    """The action did not reach a final state in time; ``action`` is its last known state."""

    def __init__(self, message: str, action: MachineAction) -> None:
        self.action = action
        super().__init__(message, code="WaitTimeout")


class MachineActionsAPI(Resource):
    """Requesting and following machine actions."""

    @staticmethod
    def describe(
        machine_id: str,
        action: ActionType | str,
        comment: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The request :meth:`request` would send (validated; nothing is sent): for dry runs."""
        mid = check_machine_id(machine_id)
        kind = check_choice(action, ActionType, "action")
        ep = endpoint(kind.endpoint)
        return {
            "method": ep.method,
            "path": ep.path.replace("{id}", mid),
            "body": {"Comment": action_comment(comment), **(body or {})},
        }

    async def request(
        self,
        machine_id: str,
        action: ActionType | str,
        comment: str,
        body: dict[str, Any] | None = None,
    ) -> ActionRequest:
        """Request ``action`` on a machine (see the module docstring for the safety rules).

        Returns the created action, or the one already Pending/InProgress for this machine and
        type (``already_in_progress=True``), or the one a lost answer had created
        (``reconciled=True``).
        """
        mid = check_machine_id(machine_id)
        kind = check_choice(action, ActionType, "action")
        text = action_comment(comment)
        ref = uuid.uuid4().hex[:12]
        payload = {"Comment": tagged_comment(text, ref), **(body or {})}
        ep = endpoint(kind.endpoint)
        # a margin for clock skew between this host and Defender
        since = datetime.now(UTC) - timedelta(minutes=5)
        reposted_after_duplicate = False
        attempt = 0
        while True:
            try:
                data = await self.transport.request_json(ep, path_params={"id": mid}, json=payload)
                return ActionRequest(read_model(MachineAction, data, ep.name))
            except ActionAlreadyInProgressError as exc:
                existing = await self.find_active(mid, kind)
                if existing is not None and _has_ref(existing, ref):
                    # an earlier attempt of this very call, whose answer was lost, created it
                    return ActionRequest(existing, reconciled=True)
                if existing is not None:
                    exc.existing = existing
                    return ActionRequest(existing, already_in_progress=True)
                ours = await self.find_by_ref(mid, kind, ref, since) if attempt else None
                if ours is not None:
                    return ActionRequest(ours, reconciled=True)
                if reposted_after_duplicate:
                    raise
                # the blocking action ended between the answer and the lookup: ask once more
                reposted_after_duplicate = True
            except (TransportError, ServerError) as exc:
                if isinstance(exc, TransportError) and not exc.applied_unknown:
                    raise
                found = await self.find_by_ref(mid, kind, ref, since)
                if found is not None:
                    return ActionRequest(found, reconciled=True)
                if attempt >= MAX_RECONCILE:
                    raise
                attempt += 1
                await asyncio.sleep(min(2.0 ** (attempt - 1), 10.0))

    async def find_active(self, machine_id: str, action: ActionType | str) -> MachineAction | None:
        """The newest Pending or InProgress action of this type on the machine."""
        f = ACTION_FILTERS
        expr = f.and_(
            f.eq("machineId", check_machine_id(machine_id)),
            f.eq("type", check_choice(action, ActionType, "action").value),
            f.in_("status", ("Pending", "InProgress")),
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
            if _has_ref(a, ref):
                return a
        return None

    def iterate(
        self, *, odata_filter: str | None = None, page_size: int = 10_000, limit: int | None = None
    ) -> AsyncIterator[MachineAction]:
        """Machine actions matching ``odata_filter`` (newest first)."""
        params = {"$filter": odata_filter} if odata_filter else None
        return skip_models(
            MachineAction,
            self.transport,
            endpoint("mde.actions.list"),
            page_size=page_size,
            params=params,
            limit=limit,
        )

    async def list(
        self,
        *,
        machine_id: str | None = None,
        action_type: ActionType | str | None = None,
        status: str | None = None,
        limit: int | None = 1000,
        action_types: Iterable[ActionType | str] = (),
    ) -> builtins.list[MachineAction]:
        """Machine actions filtered by machine, type (``action_type``, or any of
        ``action_types``) and status."""
        f = ACTION_FILTERS
        kinds = [action_type] if action_type else list(action_types)
        values = [check_choice(k, ActionType, "action_type").value for k in kinds]
        expr = f.and_(
            f.eq("machineId", check_machine_id(machine_id)) if machine_id else None,
            f.in_("type", values) if values else None,
            f.eq("status", _status(status)) if status else None,
        )
        return await collect(self.iterate(odata_filter=expr or None, limit=limit))

    async def get(self, action_id: str) -> MachineAction:
        """One machine action."""
        aid = _check_action_id(action_id)
        data = await self.transport.request_json(
            endpoint("mde.actions.get"), path_params={"id": aid}
        )
        return read_model(MachineAction, data, "mde.actions.get")

    async def cancel(self, action_id: str, comment: str) -> MachineAction:
        """Cancel an action that is not final yet (400 from Defender once it is final).

        Cancelling is safe to repeat, so a lost answer is retried; when the repeat is refused
        because the action is already Cancelled, that Cancelled action is returned.
        """
        aid = _check_action_id(action_id)
        text = action_comment(comment)
        try:
            data = await self.transport.request_json(
                endpoint("mde.actions.cancel"),
                path_params={"id": aid},
                json={"Comment": text},
                idempotent=True,
            )
        except BadRequestError:
            current = await self.get(aid)
            if current.status == "Cancelled":
                return current
            raise
        return read_model(MachineAction, data, "mde.actions.cancel")

    async def wait(
        self,
        action_id: str,
        *,
        timeout: float = 3600.0,
        poll_interval: float = 10.0,
        max_interval: float = 60.0,
    ) -> MachineAction:
        """Poll until the action is final; raise :class:`ActionWaitTimeoutError` on timeout.

        The interval grows from ``poll_interval`` by half each poll up to ``max_interval``. The
        error carries the last state seen, so a caller never mistakes "still Pending" for done.
        """
        aid = _check_action_id(action_id)
        _check_polling(timeout, poll_interval, max_interval)
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            action = await self.get(aid)
            if action.is_final:
                return action
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                where = action.computer_dns_name or action.machine_id
                raise ActionWaitTimeoutError(
                    f"action {aid} ({action.type} on {where}) still {action.status} "
                    f"after {timeout:g}s",
                    action,
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(max_interval, interval * 1.5)

    async def wait_many(
        self,
        action_ids: Iterable[str],
        *,
        timeout: float = 3600.0,
        poll_interval: float = 10.0,
        max_interval: float = 60.0,
        chunk: int = 40,
    ) -> dict[str, MachineAction]:
        """Poll many actions until each is final or ``timeout`` passes; last state of each.

        One list call per round and per ``chunk`` ids (a ``$filter`` of ``id eq`` terms) instead
        of one ``GET`` per action: waiting for 1,000 isolations costs 25 calls a round, not
        1,000, which matters under the 100 calls/minute limit. Actions not final at the deadline
        come back in their last state (the caller decides what "still Pending" means); an id the
        service does not return is fetched once by ``GET``, so a typed 404 surfaces instead of a
        silent gap.

        Example:
            ```python
            async with creds.get_client() as client:
                final = await client.machine_actions.wait_many([action_id], timeout=900)
                print({i: a.status for i, a in final.items()})
            ```
        """
        ids = list(dict.fromkeys(_check_action_id(a) for a in action_ids))
        _check_polling(timeout, poll_interval, max_interval)
        if not 1 <= chunk <= 100:
            raise ValidationError("chunk: must be between 1 and 100", field="chunk")
        last: dict[str, MachineAction] = {}
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            pending = [i for i in ids if i not in last or not last[i].is_final]
            for start in range(0, len(pending), chunk):
                part = pending[start : start + chunk]
                expr = ACTION_FILTERS.in_("id", part)
                async for a in self.iterate(odata_filter=expr, limit=len(part)):
                    if a.id in part:
                        last[a.id] = a
                for missing in (i for i in part if i not in last):
                    last[missing] = await self.get(missing)
            if all(last[i].is_final for i in ids) or time.monotonic() >= deadline:
                return {i: last[i] for i in ids}
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(max_interval, interval * 1.5)

    async def package_uri(self, action_id: str) -> str:
        """The short-lived download link of a completed investigation package.

        Defender answers 404 (:class:`~prefect_defender.api.errors.NotFoundError`) until the
        collection has succeeded; this endpoint allows 2 calls per minute.
        """
        data = await self.transport.request_json(
            endpoint("mde.actions.package_uri"), path_params={"id": _check_action_id(action_id)}
        )
        return link_value(data, "mde.actions.package_uri")

    async def download_package(self, action_id: str, dest: str | Path) -> int:
        """Download a completed investigation package (without the bearer token)."""
        url = await self.package_uri(action_id)
        return await self.transport.download(url, Path(dest))


def _has_ref(action: MachineAction, ref: str) -> bool:
    return f"[ref:{ref}]" in (action.requestor_comment or "")


def _check_action_id(value: Any) -> str:
    return check_guid(value, "action_id")


_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "TimeOut", "Cancelled")


def _status(value: str) -> str:
    """A documented action status (any case), as Defender spells it."""
    for s in _STATUSES:
        if isinstance(value, str) and value.strip().lower() == s.lower():
            return s
    raise ValidationError(
        f"status: {str(value)[:40]!r} is not one of {', '.join(_STATUSES)}", field="status"
    )


def _check_polling(timeout: Any, poll_interval: Any, max_interval: Any) -> None:
    """The three durations of a wait: each a positive number of seconds."""
    for name, value in (
        ("timeout", timeout),
        ("poll_interval", poll_interval),
        ("max_interval", max_interval),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValidationError(f"{name}: must be a positive number of seconds", field=name)
