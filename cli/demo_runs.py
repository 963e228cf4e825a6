"""The demo's view of the Prefect server: the deployments it waits for, this demo run's flow
runs of the demo incident, approving them as an operator would, and the identity run records
earlier demo runs left behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import typer

__all__ = [
    "Approved",
    "DemoRuns",
    "deployments_ready",
    "forget_identity_runs",
    "say",
    "wait",
]


def say(msg: str) -> None:
    """Print a demo line."""
    typer.echo(f"[demo] {msg}")


def wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    """``pred()``'s first truthy value, asked every 0.5 s; ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


async def deployments_ready(names: list[str]) -> bool:
    """True once every named deployment is registered on the server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async with get_client() as client:
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names))
        )
    return {d.name for d in found} >= set(names)


async def _runs(deployment_name: str, since: datetime) -> list[Any]:
    """The deployment's runs created at or after ``since``, latest first.

    The Prefect server keeps the runs of earlier demo runs in the same data directory; only
    this demo run's runs count (an earlier, finished run must not stand in for one that the
    event has not started yet).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name])),
            limit=20,
            sort=FlowRunSort.START_TIME_DESC,
        )
    return [r for r in runs if r.created is not None and r.created >= since]


async def forget_identity_runs() -> int:
    """Delete the ``defender_identity_run_*`` variables earlier demo runs left on the server."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        names = [
            v.name
            for v in await client.read_variables()
            if v.name.startswith("defender_identity_run_")
        ]
        for name in names:
            await client.delete_variable_by_name(name)
    return len(names)


@dataclass
class Approved:
    """A playbook run the demo approved (or left for you to approve), and its end."""

    what: str
    run: Any
    url: str
    final: Any = None


@dataclass
class DemoRuns:
    """This demo run's flow runs of incident 1001: approving them and waiting for their end."""

    ui_url: str
    since: datetime
    auto_approve: bool

    def _latest(self, deployment: str) -> list[Any]:
        return asyncio.run(_runs(deployment, self.since))

    def _paused_or_done(self, deployment: str) -> Any:
        runs = [
            r for r in self._latest(deployment) if str(r.parameters.get("incident_id")) == "1001"
        ]
        if runs and (runs[0].state.is_paused() or runs[0].state.is_final()):
            return runs[0]
        return None

    def approve(
        self,
        deployment: str,
        what: str,
        run_input: dict[str, Any],
        told: Callable[[], None] | None = None,
    ) -> Approved:
        """Wait for the run to pause, call ``told`` (where the waiting message went), then
        approve it as an operator would (or say where)."""
        from prefect.flow_runs import resume_flow_run

        run = wait(lambda: self._paused_or_done(deployment), 180, f"{what} to ask for approval")
        url = f"{self.ui_url}/runs/flow-run/{run.id}"
        if told is not None and run.state.is_paused():
            told()
        if run.state.is_paused():
            if self.auto_approve:
                say(f"{what} is waiting for approval: {url}")
                say(f"approving {what} as operator 'demo-operator'")
                resume_flow_run(
                    run.id,
                    run_input={"approve": True, "approved_by": "demo-operator", **run_input},
                )
            else:
                say(f"approve {what} in the Prefect UI: {url}")
        return Approved(what, run, url)

    def finished(self, deployment: str, approved: Approved) -> Any:
        """The approved run once it has ended."""

        def final() -> Any:
            r = next((x for x in self._latest(deployment) if x.id == approved.run.id), None)
            return r if r is not None and r.state.is_final() else None

        return wait(final, 900, f"{approved.what} to finish")

    def triage_finished(self) -> Any:
        """The triage run of incident 1001 once it has ended."""
        return wait(
            lambda: next(
                (
                    x
                    for x in self._latest("triage-on-incident")
                    if str(x.parameters.get("incident_id")) == "1001" and x.state.is_final()
                ),
                None,
            ),
            120,
            "triage to finish",
        )
