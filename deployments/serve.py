"""The playbook deployments of ``deployments/prefect.yaml``, served from one process.

``prefect.yaml`` is the one table of deployments: ``prefect deploy --all`` registers it for a
process worker, and this module builds the same deployments (names, entrypoints, descriptions,
parameters, schedules, event triggers, concurrency limits, tags) from it and serves them:

    python -m prefect_defender.deployments.serve --credentials defender-application-credentials/soc

The table's credential blocks (``defender-application-credentials/soc``, and
``defender-partner-credentials/mssp`` for the MSSP fan-out) are placeholders that
``--credentials`` and ``--partner-credentials`` replace, in parameters and trigger parameters
alike; a deployment that needs a partner block is served only when one is given. The one
difference is the work pool: a served deployment runs in the serving process, not in the table's
pool, and that process runs its playbooks in the working directory ``prefect.yaml``'s pull step
names (``$PREFECT_DEFENDER_HOME``, else the checkout this package is installed from), so relative
paths such as the Sigma hunt's ``examples/sigma`` mean the same in both.
``tests/unit/test_deployment_triggers.py`` checks that the two agree.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron, Interval, Schedule

__all__ = [
    "APP_BLOCK",
    "DEPLOYMENTS_FILE",
    "PARTNER_BLOCK",
    "build_deployments",
    "declared_deployments",
    "serving_directory",
]

#: the one table of deployments (package data, next to this module)
DEPLOYMENTS_FILE = Path(__file__).resolve().with_name("prefect.yaml")
#: the credential blocks the table names, replaced by the blocks given to ``serve``
APP_BLOCK = "defender-application-credentials/soc"
PARTNER_BLOCK = "defender-partner-credentials/mssp"
#: the slug of the poller's schedule, whose interval ``--poll-seconds`` sets
POLL_SLUG = "poll"


def declared_deployments(path: Path = DEPLOYMENTS_FILE) -> list[dict[str, Any]]:
    """The ``deployments`` of a ``prefect.yaml``, its YAML anchors resolved."""
    return list(yaml.safe_load(path.read_text())["deployments"])


def serving_directory() -> Path:
    """Where the playbooks run: ``prefect.yaml``'s pull step (``$PREFECT_DEFENDER_HOME``), else
    the checkout holding ``deployments/``."""
    home = os.environ.get("PREFECT_DEFENDER_HOME")
    return Path(home) if home else DEPLOYMENTS_FILE.parents[1]


def _flow(entrypoint: str) -> Flow[Any, Any]:
    """The flow ``flows/<module>.py:<name>`` names, imported as ``prefect_defender.flows``."""
    path, _, attr = entrypoint.rpartition(":")
    module = "prefect_defender." + path.removesuffix(".py").replace("/", ".")
    value = getattr(importlib.import_module(module), attr)
    if not isinstance(value, Flow):
        raise TypeError(f"{entrypoint} is not a flow")
    return value


def _blocks(value: Any, blocks: dict[str, str | None]) -> Any:
    """``value`` with each placeholder block replaced (``None`` where none was given)."""
    if isinstance(value, str):
        return blocks.get(value, value)
    if isinstance(value, list):
        return [_blocks(v, blocks) for v in value]
    if isinstance(value, dict):
        return {k: _blocks(v, blocks) for k, v in value.items()}
    return value


def _missing(value: Any) -> bool:
    """True when a placeholder was left without its block."""
    if isinstance(value, list):
        return any(_missing(v) for v in value)
    if isinstance(value, dict):
        return any(_missing(v) for v in value.values())
    return value is None


def _schedule(spec: dict[str, Any], poll_every: timedelta) -> Schedule:
    """One ``schedules`` entry (``interval`` seconds or ``cron``)."""
    slug = spec.get("slug")
    if "interval" in spec:
        every = poll_every if slug == POLL_SLUG else timedelta(seconds=spec["interval"])
        return Interval(every, slug=slug)
    if "cron" in spec:
        return Cron(spec["cron"], slug=slug)
    raise ValueError(f"unsupported schedule {spec}")


def _trigger(spec: dict[str, Any], blocks: dict[str, str | None]) -> DeploymentEventTrigger:
    """One ``triggers`` entry, its parameters' blocks replaced."""
    return DeploymentEventTrigger.model_validate(_blocks(spec, blocks))


def _extra(flow: Flow[Any, Any], spec: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The ``--contain-parameters`` a deployment takes: those its flow has, for the deployments
    that incident events start and that ask for approval (the containments)."""
    names = inspect.signature(flow.fn).parameters
    if not spec.get("triggers") or "approval" not in names:
        return {}
    return {k: v for k, v in extra.items() if k in names}


def build_deployments(
    credentials: str,
    partner_credentials: str | None = None,
    poll_every: timedelta = timedelta(minutes=1),
    contain_parameters: dict[str, Any] | None = None,
    path: Path = DEPLOYMENTS_FILE,
) -> list[Any]:
    """Runner deployments for every deployment of ``prefect.yaml``, with the given blocks.

    ``poll_every`` sets the poller's interval; ``contain_parameters`` (approval, safety ...) are
    added to the containment deployments incident events start, each taking those its flow has.

    Example:
        ```python
        deployments = build_deployments("defender-application-credentials/soc")
        ```
    """
    blocks = {APP_BLOCK: credentials, PARTNER_BLOCK: partner_credentials}
    out = []
    for spec in declared_deployments(path):
        parameters = _blocks(spec.get("parameters") or {}, blocks)
        if _missing(parameters):
            continue
        flow = _flow(spec["entrypoint"])
        out.append(
            flow.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                parameters={**parameters, **_extra(flow, spec, contain_parameters or {})},
                schedules=[_schedule(s, poll_every) for s in spec.get("schedules") or []],
                triggers=[_trigger(t, blocks) for t in spec.get("triggers") or []],
                concurrency_limit=spec.get("concurrency_limit"),
                tags=spec.get("tags"),
            )
        )
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m prefect_defender.deployments.serve --credentials <block>``."""
    parser = argparse.ArgumentParser(description="Serve the deployments of prefect.yaml.")
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--partner-credentials", default=None)
    parser.add_argument("--poll-seconds", type=float, default=60.0)
    parser.add_argument(
        "--contain-parameters",
        default=None,
        help="JSON with extra parameters (approval, safety) of the containments events start",
    )
    args = parser.parse_args(argv)
    os.chdir(serving_directory())
    serve(
        *build_deployments(
            args.credentials,
            args.partner_credentials,
            timedelta(seconds=args.poll_seconds),
            json.loads(args.contain_parameters) if args.contain_parameters else None,
        )
    )


if __name__ == "__main__":
    main()
