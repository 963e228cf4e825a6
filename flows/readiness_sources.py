"""Where the readiness report reads its deployments from: ``deployments/prefect.yaml`` and the
Prefect server's deployments (when a server is configured), each resolved to its playbook."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow

from prefect_defender.api.errors import ValidationError
from prefect_defender.tasks.readiness import DeploymentReadiness, deployment_readiness

__all__ = [
    "DEFAULT_DEPLOYMENTS",
    "server_configured",
    "server_deployments",
    "yaml_deployments",
]

#: the deployments shipped with the package
DEFAULT_DEPLOYMENTS = Path(__file__).resolve().parents[1] / "deployments" / "prefect.yaml"


def _flows_by_name() -> dict[str, Flow[Any, Any]]:
    import prefect_defender.flows as package

    found: dict[str, Flow[Any, Any]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        try:
            mod = importlib.import_module(f"{package.__name__}.{info.name}")
        except ImportError:  # an optional dependency missing: that module's flows are unknown
            continue
        for value in vars(mod).values():
            if isinstance(value, Flow):
                found.setdefault(value.name, value)
    return found


def resolve_playbook(entrypoint: str, flow_name: str | None = None) -> Flow[Any, Any] | None:
    """The prefect-defender flow an entrypoint names (``flows/poller.py:incident_poller``,
    ``prefect_defender.flows.poller:incident_poller``), else the one called ``flow_name``."""
    path, _, attr = entrypoint.rpartition(":")
    module = path.replace("\\", "/")
    if module.endswith(".py"):
        module = module[:-3].replace("/", ".")
    if ".flows." in f".{module}":
        module = "prefect_defender.flows." + module.split("flows.", 1)[1].lstrip(".")
        try:
            value = getattr(importlib.import_module(module), attr, None)
        except ImportError:
            value = None
        if isinstance(value, Flow):
            return value
    return _flows_by_name().get(flow_name or "") if flow_name else None


def yaml_deployments(path: Path) -> list[DeploymentReadiness]:
    """The deployments of a ``prefect.yaml`` (``ValidationError`` when it cannot be read)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"deployments file {path}: {exc}", field="deployments_file") from None
    items = doc.get("deployments") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValidationError(
            f"deployments file {path}: no 'deployments' list", field="deployments_file"
        )
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("entrypoint"), str):
            continue
        out.append(_one(item.get("name", "?"), "prefect.yaml", item["entrypoint"], item, None))
    return out


def _one(
    name: str, origin: str, entrypoint: str, item: dict[str, Any], flow_name: str | None
) -> DeploymentReadiness:
    params = item.get("parameters") or {}
    playbook = resolve_playbook(entrypoint, flow_name)
    if playbook is None:
        return DeploymentReadiness(
            name=str(name),
            origin=origin,
            entrypoint=entrypoint,
            credentials=params.get("credentials") if isinstance(params, dict) else None,
            note="not a prefect-defender playbook: its endpoints are not known",
        )
    return deployment_readiness(str(name), origin, entrypoint, dict(params), playbook)


def server_configured() -> str | None:
    """The configured Prefect API URL (``PREFECT_API_URL``), if any."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


async def server_deployments() -> tuple[list[DeploymentReadiness], str]:
    """The configured Prefect server's deployments, and a note on what was read.

    Nothing is read (and no temporary server started) when no ``PREFECT_API_URL`` is set.
    """
    from prefect.client.orchestration import get_client

    url = server_configured()
    if not url:
        return [], "no Prefect server configured (PREFECT_API_URL): prefect.yaml only"
    async with get_client() as client:
        if await client.api_healthcheck() is not None:
            return [], f"Prefect server {url} not reachable: prefect.yaml only"
        deployments = await client.read_deployments()
        flow_names: dict[Any, str] = {}
        out = []
        for dep in deployments:
            if dep.flow_id not in flow_names:
                flow_names[dep.flow_id] = (await client.read_flow(dep.flow_id)).name
            item = {"parameters": dict(dep.parameters or {})}
            out.append(
                _one(dep.name, "server", dep.entrypoint or "", item, flow_names[dep.flow_id])
            )
    return out, f"Prefect server {url}: {len(out)} deployment(s)"
