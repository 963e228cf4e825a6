"""Task calls as mypy sees them: checked by ``make typecheck``, never run.

Each wrong call below carries ``# type: ignore[<code>]`` and this module is checked with
``warn_unused_ignores`` (``pyproject.toml``): if a task call stopped being checked against the
task's signature (``DefenderTask.__call__`` back to ``(*args: Any, **kwargs: Any) -> Any``),
the ignore would be unused and ``make typecheck`` would fail. ``assert_type`` pins what each
kind of call returns, in async and sync code (``prefect_defender.tasks.mypy_plugin``).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

from prefect import State, flow
from prefect.futures import PrefectFuture, PrefectFutureList

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.models.identities import IdentityAction
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.identities import invoke_identity_actions
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.machine_actions import ActionOutcome, isolate_machine
from prefect_defender.tasks.outcomes import ItemOutcome

creds = DefenderApplicationCredentials(tenant_id="t", client_id="c", client_secret="s")


@flow
async def async_playbook(client: DefenderClient) -> None:
    """In an async flow a call is a coroutine of the task's result: awaited, it is the result."""
    assert_type(await isolate_machine(creds, "m1", "why"), ActionOutcome)
    pending = assert_type(isolate_machine(client, "m1", "why"), Coroutine[Any, Any, ActionOutcome])
    assert_type(await pending, ActionOutcome)
    await isolate_machine(creds, 42, "why")  # type: ignore[call-overload]
    await isolate_machine("not credentials", "m1", "why")  # type: ignore[call-overload]
    await isolate_machine(creds, "m1")  # type: ignore[call-overload]
    await isolate_machine(creds, "m1", "why", isolation=1)  # type: ignore[call-overload]
    await get_incident(creds, "12")  # type: ignore[call-overload]
    await invoke_identity_actions(creds, ["u"], ["disable"])  # type: ignore[list-item]
    assert_type(
        await invoke_identity_actions(creds, ["u"], [IdentityAction.DISABLE]), list[ItemOutcome]
    )
    isolate_machine(creds, "m1", "why")  # type: ignore[unused-coroutine]
    state = await isolate_machine(creds, "m1", "why", return_state=True)
    assert_type(state, State[ActionOutcome])


@flow
def sync_playbook() -> None:
    """In a sync flow a call returns the task's result; submit, map, fn and with_options."""
    assert_type(isolate_machine(creds, "m1", "why"), ActionOutcome)
    isolate_machine(creds, machine_id=42, comment="why")  # type: ignore[call-overload]
    assert_type(isolate_machine.submit(creds, "m1", "why"), PrefectFuture[ActionOutcome])
    isolate_machine.submit(creds, 42, "why")  # type: ignore[call-overload]
    assert_type(isolate_machine.map(creds, ["m1", "m2"], "why"), PrefectFutureList[ActionOutcome])
    body = assert_type(isolate_machine.fn(creds, "m1", "why"), Coroutine[Any, Any, ActionOutcome])
    body.close()
    isolate_machine.fn(creds, 42, "why")  # type: ignore[arg-type, unused-coroutine]
    quick = isolate_machine.with_options(name="isolate-quickly", timeout_seconds=60)
    assert_type(quick(creds, "m1", "why"), ActionOutcome)
    quick(creds, 42, "why")  # type: ignore[call-overload]
    isolate_machine.with_options(retires=3)  # type: ignore[call-arg]
