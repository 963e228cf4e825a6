"""The one fan-out every machine action goes through: planned actions in, one outcome each out.

:class:`PlannedAction` is one action on one machine; :func:`fan_out_actions` requests a list of
them with bounded concurrency, asking an optional ``admit`` hook first (the playbooks' safety
rails, ``tasks.action_plans``); the bulk tasks (``tasks.machine_actions``) call it without one.
The body of each request comes from the action's row in ``ACTION_SPECS`` (``action_body``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.models.machines import Machine
from prefect_defender.api.resources.action_requests import ActionRequest, action_body
from prefect_defender.api.validation import CarriedMachineId
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, run_bulk

__all__ = ["Admit", "PlannedAction", "fan_out_actions"]


class PlannedAction(BaseModel):
    """One proposed action on one machine (``options``: the action's own body options).

    A machine id checked when the plan was made is carried as checked; the body is validated
    once for the plan's options (:meth:`body`).
    """

    machine_id: CarriedMachineId
    computer_dns_name: str | None = None
    machine_tags: list[str] = Field(default_factory=list)
    action: ActionType
    options: dict[str, Any] = Field(default_factory=dict)
    protected: str | None = Field(default=None, description="Why the machine is protected.")
    link: str | None = None
    machine: Machine | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="The machine as read when planning (OS, health, risk ... for the approval "
        "form); not sent anywhere.",
    )

    #: the options the body was validated for, and the body
    _body: tuple[dict[str, Any], dict[str, Any]] | None = PrivateAttr(default=None)

    def body(self) -> dict[str, Any]:
        """The validated type-specific body fields (see ``action_body``): validated once for
        the plan's options, again only when they change (an approval form may change them)."""
        if self._body is None or self._body[0] != self.options:
            self._body = (dict(self.options), action_body(self.action, **self.options))
        return self._body[1]

    def with_body(self, body: dict[str, Any]) -> PlannedAction:
        """This plan with ``body``, already validated for its action and options."""
        self._body = (dict(self.options), dict(body))
        return self


#: decides before a request whether it is sent: an outcome to record instead, or None to send
Admit = Callable[[PlannedAction], Awaitable[ItemOutcome | None]]


def _outcome(machine_id: str, req: ActionRequest, full: bool) -> ItemOutcome:
    status = (
        OutcomeStatus.ALREADY_IN_PROGRESS if req.already_in_progress else OutcomeStatus.SUCCEEDED
    )
    if not full:
        result = {"action_id": req.action.id, "status": req.action.status, "type": req.action.type}
        return ItemOutcome(item=machine_id, status=status, result=result)
    return ItemOutcome(
        item=machine_id,
        status=status,
        result=req.action.model_dump(mode="json", by_alias=True),
        reason="answer lost; the created action was found by its reference"
        if req.reconciled
        else "an action of this type was already pending"
        if req.already_in_progress
        else None,
    )


async def fan_out_actions(
    client: Any,
    plan: list[PlannedAction],
    comment: str,
    *,
    concurrency: int = 10,
    admit: Admit | None = None,
    full_result: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[ItemOutcome]:
    """Request every planned action with bounded concurrency; one outcome per plan, in order.

    ``admit`` runs before each request and may record an outcome instead (a guard, a cap, a dry
    run). A Defender error fails only its own item. ``full_result`` puts the whole action in
    ``result`` (the bulk tasks); otherwise its id, status and type (the playbooks' reports).

    Example:
        ```python
        from prefect_defender.api.models.machine_actions import ActionType
        from prefect_defender.tasks.action_plans import plan_actions
        from prefect_defender.tasks.base import defender_client

        plan = await plan_actions(creds, ids, [ActionType.RUN_ANTIVIRUS_SCAN])
        async with defender_client(creds) as client:
            outcomes = await fan_out_actions(client, plan, "IR-7", concurrency=10)
        ```
    """

    async def one(p: PlannedAction) -> ItemOutcome:
        if admit is not None and (decided := await admit(p)) is not None:
            return decided
        req = await client.machine_actions.request(p.machine_id, p.action, comment, p.body())
        return _outcome(p.machine_id, req, full_result)

    return await run_bulk(
        plan, one, concurrency=concurrency, progress=progress, key=lambda p: p.machine_id
    )
