"""The layers' import contract, read from the source (every import, also inside functions).

* ``emulator`` imports nothing of the client: only ``prefect_defender.emulator``.
* ``api`` (the client) imports no Prefect and nothing above it: only ``prefect_defender.api``.
* ``blocks`` import the client only (no tasks, flows, CLI, deployments, emulator).
* ``tasks`` import no flows, CLI, deployments or emulator.
* ``flows`` speak through tasks: besides flows, tasks and blocks they import only the public
  shared types (``api.errors``, ``api.models``, ``api.validation``), and they build no client
  themselves (``defender_client``/``get_client`` belong to tasks).
* ``agents`` (the MCP server) sit on flows, tasks and blocks (and the shared types, as flows
  do), never on the emulator, deployments or CLI; nothing but ``cli`` imports ``agents``.

A checker that finds nothing proves nothing, so it is also run on synthetic violations.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("api", "blocks", "tasks", "flows", "deployments", "emulator", "agents", "cli")
PKG = "prefect_defender"


@dataclass(frozen=True)
class Rule:
    """What one layer may import: prefixes of ``prefect_defender`` modules, third-party roots
    it must not import, and names it must not use."""

    allowed: tuple[str, ...] | None  # None: any prefect_defender module
    forbidden: tuple[str, ...] = ()
    third_party_forbidden: tuple[str, ...] = ()
    names_forbidden: tuple[str, ...] = ()


RULES: dict[str, Rule] = {
    "emulator": Rule(allowed=("emulator",)),
    "api": Rule(allowed=("api",), third_party_forbidden=("prefect",)),
    "blocks": Rule(allowed=("api", "blocks")),
    "tasks": Rule(allowed=None, forbidden=("flows", "cli", "deployments", "emulator", "agents")),
    "flows": Rule(
        allowed=("flows", "tasks", "blocks", "api.errors", "api.models", "api.validation"),
        names_forbidden=("defender_client", "get_client", "DefenderClient"),
    ),
    "deployments": Rule(allowed=None, forbidden=("cli", "emulator", "agents")),
    "agents": Rule(
        allowed=(
            "agents",
            "flows",
            "tasks",
            "blocks",
            "api.errors",
            "api.models",
            "api.validation",
        ),
        names_forbidden=("defender_client", "DefenderClient"),
    ),
}


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def imports_of(source: str) -> list[tuple[int, str, list[str]]]:
    """``(line, module, imported names)`` for every import; ``prefect_defender.`` stripped
    from the project's own modules (``""`` for ``from prefect_defender import x``)."""
    out: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
    return out


def violations(layer: str, source: str, where: str = "<source>") -> list[str]:
    """Every import in ``source`` (a module of ``layer``) that its rule does not allow."""
    rule = RULES.get(layer)
    if rule is None:
        return []
    found: list[str] = []
    for line, module, names in imports_of(source):
        at = f"{where}:{line}"
        root = module.split(".")[0]
        if root in rule.third_party_forbidden:
            found.append(f"{at}: {layer} imports {module}")
        if root != PKG:
            continue
        own = module[len(PKG) + 1 :] if module != PKG else ""
        targets = [f"{own}.{n}".strip(".") for n in names] if not own else [own]
        for target in targets:
            if rule.allowed is not None and not _under(target, rule.allowed):
                found.append(f"{at}: {layer} imports {PKG}.{target}")
            if _under(target, rule.forbidden):
                found.append(f"{at}: {layer} imports {PKG}.{target}")
        for name in names:
            if name in rule.names_forbidden:
                found.append(f"{at}: {layer} uses {name} (build clients in tasks)")
    return found


def _modules() -> list[tuple[str, Path]]:
    return [(layer, p) for layer in LAYERS for p in sorted((ROOT / layer).rglob("*.py"))]


def test_the_layers_keep_the_contract() -> None:
    found: list[str] = []
    for layer, path in _modules():
        found += violations(layer, path.read_text(), str(path.relative_to(ROOT)))
    assert not found, "import contract broken:\n" + "\n".join(found)


def test_every_layer_has_modules() -> None:
    counts = {layer: sum(1 for lay, _ in _modules() if lay == layer) for layer in RULES}
    assert all(n > 0 for n in counts.values()), counts


@pytest.mark.parametrize(
    "layer,source,needle",
    [
        ("emulator", "from prefect_defender.api.auth import ssl_context", "emulator imports"),
        ("emulator", "import prefect_defender.blocks", "emulator imports"),
        ("api", "from prefect import task", "api imports prefect"),
        ("api", "def f():\n    import prefect.flows\n", "api imports prefect.flows"),
        ("api", "from prefect_defender.tasks.base import run_bulk", "api imports"),
        ("blocks", "from prefect_defender.tasks import all_tasks", "blocks imports"),
        ("tasks", "from prefect_defender.flows.reports import write_report", "tasks imports"),
        ("tasks", "from prefect_defender import flows", "tasks imports prefect_defender.flows"),
        ("flows", "from prefect_defender.api.resources.hunting import x", "flows imports"),
        ("flows", "from prefect_defender.api.client import DefenderClient", "flows imports"),
        ("flows", "from prefect_defender.tasks.base import defender_client", "uses"),
        ("flows", "from prefect_defender.api import sigma", "flows imports"),
        ("tasks", "from prefect_defender.agents.server import build_server", "tasks imports"),
        ("flows", "from prefect_defender.agents import runtime", "flows imports"),
        ("deployments", "import prefect_defender.agents.http", "deployments imports"),
        ("agents", "from prefect_defender.emulator import EmulatorServer", "agents imports"),
        ("agents", "from prefect_defender.api.client import DefenderClient", "agents imports"),
        ("agents", "from prefect_defender.cli.main import app", "agents imports"),
    ],
)
def test_checker_flags_a_violation(layer: str, source: str, needle: str) -> None:
    found = violations(layer, source)
    assert found and needle in found[0], found


@pytest.mark.parametrize(
    "layer,source",
    [
        ("flows", "from prefect_defender.api.models.machines import Machine"),
        ("flows", "from prefect_defender.api.validation import check_guid"),
        ("flows", "from prefect_defender.tasks.action_plans import plan_actions"),
        ("api", "from prefect_defender.api.errors import DefenderError\nimport httpx"),
        ("emulator", "from prefect_defender.emulator.state import State\nimport starlette"),
        ("tasks", "from prefect import task\nfrom prefect_defender.api.client import X"),
        ("agents", "from prefect_defender.tasks.scope import TenantScope"),
        ("agents", "from prefect_defender.flows.contain import contain_device"),
        ("cli", "from prefect_defender.agents.http import serve_stdio"),
    ],
)
def test_checker_allows_what_the_contract_allows(layer: str, source: str) -> None:
    assert violations(layer, source) == []
