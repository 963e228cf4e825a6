"""The generated tables of ``docs/api-lifecycle.md``: which API surface each playbook and task
uses, every MDE and XDR endpoint with its Graph successor (or why there is none), and the Graph
permissions the Graph paths need. Written between the page's :data:`MARKERS` by
``prefect-defender capabilities --write-docs``; ``tests/lifecycle/test_lifecycle_docs.py`` fails
when the page and the code disagree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prefect_defender.flows.readiness_sources import DEFAULT_DEPLOYMENTS, resolve_playbook
from prefect_defender.tasks import all_tasks
from prefect_defender.tasks.playbook_endpoints import playbook_endpoints
from prefect_defender.tasks.readiness import (
    endpoint_status,
    graph_permission_rows,
    successor_rows,
)

__all__ = ["MARKERS", "lifecycle_markdown"]

#: the lines around the generated part of ``docs/api-lifecycle.md``
MARKERS = ("<!-- lifecycle:start -->", "<!-- lifecycle:end -->")


def _by_surface(names: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for name in sorted(names):
        out[name.split(".", 1)[0]].append(name)
    return out


def _names(names: list[str]) -> str:
    return "<br>".join(f"`{n}`{endpoint_status(n)}" for n in names) or "-"


def _playbooks() -> list[str]:
    import yaml

    doc: Any = yaml.safe_load(DEFAULT_DEPLOYMENTS.read_text())
    rows = [
        "| deployment | playbook | Graph | Defender for Endpoint | Defender XDR |",
        "|---|---|---|---|---|",
    ]
    for item in doc["deployments"]:
        playbook = resolve_playbook(item["entrypoint"])
        if playbook is None:
            continue
        found = _by_surface(playbook_endpoints(playbook).endpoints)
        rows.append(
            f"| {item['name']} | `{playbook.name}` | {_names(found['graph'])} "
            f"| {_names(found['mde'])} | {_names(found['xdr'])} |"
        )
    return rows


def _tasks() -> list[str]:
    rows = [
        "| area | task | Graph | Defender for Endpoint | Defender XDR |",
        "|---|---|---|---|---|",
    ]
    for area, t in all_tasks():
        if getattr(t, "defender_generic", False):
            rows.append(f"| {area} | `{t.fn.__name__}` | any catalog endpoint | | |")
            continue
        found = _by_surface(set(getattr(t, "defender_endpoints", ())))
        rows.append(
            f"| {area} | `{t.fn.__name__}` | {_names(found['graph'])} "
            f"| {_names(found['mde'])} | {_names(found['xdr'])} |"
        )
    return rows


def lifecycle_markdown() -> str:
    """The generated part of ``docs/api-lifecycle.md`` (between :data:`MARKERS`).

    Example:
        ```python
        from prefect_defender.flows.lifecycle_docs import lifecycle_markdown

        assert "## Every MDE and XDR endpoint" in lifecycle_markdown()
        ```
    """
    lines = [
        "## Playbooks: the API each deployment calls",
        "",
        "Endpoints a playbook's tasks declare, by surface (⚠ deprecated, ⛔ retired).",
        "",
        *_playbooks(),
        "",
        "## Tasks: the API each task calls",
        "",
        *_tasks(),
        "",
        "## Every MDE and XDR endpoint and its Graph successor",
        "",
        *successor_rows(),
        "",
        "## Graph permissions to grant",
        "",
        "What the Graph paths need: every Graph endpoint a task calls, and every Graph successor "
        "above. Grant the least privileged one; any one listed allows the call.",
        "",
        "| Graph endpoint | call | application (least privileged first) | delegated |",
        "|---|---|---|---|",
        *graph_permission_rows(),
    ]
    return "\n".join(lines)
