"""Count the Defender clients a playbook run builds, and where (flow body or inside a task).

A playbook opens one :class:`~prefect_defender.tasks.scope.TenantScope` per tenant and hands
``scope.client`` to every task, so a run builds exactly one client per tenant, in the flow; a
task that builds its own client from a credentials block shows up as built in a ``task``.
"""

from __future__ import annotations

from typing import Any

import pytest


def count_clients(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """A list that fills with ``(tenant_id, "flow" | "task")`` for every client built."""
    from prefect.context import TaskRunContext

    from prefect_defender.api.client import DefenderClient

    built: list[tuple[str, str]] = []
    original = DefenderClient.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        built.append((self.tenant_id, "task" if TaskRunContext.get() is not None else "flow"))

    monkeypatch.setattr(DefenderClient, "__init__", counting)
    return built
