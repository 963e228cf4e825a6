"""The layers' import contract, read from the source (every import, also inside functions).

* ``emulator`` imports nothing of the client: only ``prefect_defender.emulator``.
* ``api`` (the client) imports no Prefect and nothing above it: only ``prefect_defender.api``.
* ``blocks`` import the client only (no tasks, flows, CLI, deployments, emulator).
* ``tasks`` import no flows, CLI, deployments or emulator.
* ``flows`` speak through tasks: besides flows, tasks and blocks they import only the public
  shared types (``api.errors``, ``api.input_types``, ``api.models``, ``api.validation``, and
  the Sigma conversion's types and checks in ``api.sigma``, which makes no request), and they
  build no client themselves (``defender_client``/``get_client`` belong to tasks).
* ``agents`` (the MCP server) sit on flows, tasks and blocks (and the shared types, as flows
  do), never on the emulator, deployments or CLI; nothing but ``cli`` imports ``agents``.

A checker that finds nothing proves nothing, so it is also run on synthetic violations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
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


#: the public shared types flows and agents may import from the client
SHARED_TYPES = ("api.errors", "api.input_types", "api.models", "api.validation", "api.sigma")

RULES: dict[str, Rule] = {
    "emulator": Rule(allowed=("emulator",)),
    "api": Rule(allowed=("api",), third_party_forbidden=("prefect",)),
    "blocks": Rule(allowed=("api", "blocks")),
    "tasks": Rule(allowed=None, forbidden=("flows", "cli", "deployments", "emulator", "agents")),
    "flows": Rule(
        allowed=("flows", "tasks", "blocks", *SHARED_TYPES),
        names_forbidden=("defender_client", "get_client", "DefenderClient"),
    ),
    "deployments": Rule(allowed=None, forbidden=("cli", "emulator", "agents")),
    "agents": Rule(
        allowed=("agents", "flows", "tasks", "blocks", *SHARED_TYPES),
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
        ("flows", "from prefect_defender.api import transport", "flows imports"),
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


# --------------------------------------------------------------------------- one home per name
# A family of modules split for size is a package: its ``__init__`` is its public face, its
# parts are ``_private`` modules. So every public name has one public import path (the module
# that lists it in ``__all__``), a module that is not a package ``__init__`` lists in
# ``__all__`` only what it defines, and nothing outside a package imports its private parts.
OWN_ROOTS = ("package", *LAYERS)
# where the project's modules are imported from: the layers and everything that uses them
IMPORTERS = (*OWN_ROOTS, "tests", "benchmarks", "docs", "examples", "scripts")
# tests that must reach a private part, each for a private helper no public name exposes
TESTS_OF_PRIVATE_PARTS = {
    "tests/notify/test_notify.py": f"{PKG}.flows.notify._delivery",  # _secret_values
}


@dataclass(frozen=True)
class ModuleInfo:
    """What one module's source says about its names."""

    name: str  # dotted, "prefect_defender..."
    is_init: bool
    defines: frozenset[str]
    imports: dict[str, tuple[str, str]]  # local name -> (module, name there)
    all_: tuple[str, ...] | None


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else []
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run at import, also inside top-level ``if``/``try`` blocks."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + node.orelse + node.finalbody)
        else:
            yield node


def _all_names(node: ast.stmt) -> list[str]:
    value = getattr(node, "value", None)
    if not isinstance(value, (ast.List, ast.Tuple)):
        return []
    return [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def module_info(name: str, source: str, is_init: bool = False) -> ModuleInfo:
    """Read one module: its top-level definitions, its ``from`` imports and its ``__all__``."""
    tree = ast.parse(source)
    defines: set[str] = set()
    imports: dict[str, tuple[str, str]] = {}
    all_: list[str] | None = None
    for node in _top_level(tree.body):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.update({a.asname or a.name: (node.module, a.name) for a in node.names})
            continue
        targets = _targets(node)
        if "__all__" in targets:
            all_ = ([] if all_ is None or isinstance(node, ast.Assign) else all_) + _all_names(node)
        defines.update(t for t in targets if t != "__all__")
    return ModuleInfo(
        name, is_init, frozenset(defines), imports, None if all_ is None else tuple(all_)
    )


def _dotted(root: str, path: Path) -> str:
    rel = path.relative_to(ROOT / root).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PKG, *([] if root == "package" else [root]), *parts])


def project_modules() -> dict[str, ModuleInfo]:
    """Every module of the package, by dotted name."""
    found: dict[str, ModuleInfo] = {}
    for root in OWN_ROOTS:
        for path in sorted((ROOT / root).rglob("*.py")):
            if root == "package" and path.parent != ROOT / root:
                continue
            name = _dotted(root, path)
            found[name] = module_info(name, path.read_text(), path.name == "__init__.py")
    return found


def is_public(module: str) -> bool:
    return not any(part.startswith("_") for part in module.split("."))


def home(modules: dict[str, ModuleInfo], module: str, name: str) -> tuple[str, str]:
    """Where ``name`` (as seen in ``module``) is defined: followed through ``from`` imports."""
    seen: set[tuple[str, str]] = set()
    while (module, name) not in seen:
        seen.add((module, name))
        info = modules.get(module)
        if info is None or name in info.defines or name not in info.imports:
            return module, name
        module, name = info.imports[name]
    return module, name


def public_paths(modules: dict[str, ModuleInfo]) -> dict[tuple[str, str], set[str]]:
    """Each public name's home -> the public modules that list it in ``__all__``."""
    paths: dict[tuple[str, str], set[str]] = {}
    for module, info in modules.items():
        if is_public(module):
            for name in info.all_ or ():
                paths.setdefault(home(modules, module, name), set()).add(module)
    return paths


def names_with_many_paths(modules: dict[str, ModuleInfo]) -> dict[str, list[str]]:
    """``module.name`` (its home) -> its public import paths, where there is more than one."""
    return {
        f"{where}.{name}": sorted(paths)
        for (where, name), paths in public_paths(modules).items()
        if len(paths) > 1
    }


def foreign_exports(info: ModuleInfo) -> list[str]:
    """Names a module that is not a package ``__init__`` lists in ``__all__`` without
    defining them (re-exports belong to a package's public face only)."""
    if info.is_init:
        return []
    return [n for n in info.all_ or () if n not in info.defines]


def private_imports(source: str, where: str, modules: set[str] | frozenset[str]) -> list[str]:
    """The ``_private`` project modules (of ``modules``) that a file at ``where`` (a dotted
    module, or a dotted file name outside the package) imports from outside their package."""
    found: list[str] = []
    for line, module, names in imports_of(source):
        if module.split(".")[0] != PKG:
            continue
        full = [module, *(f"{module}.{n}" for n in names)]
        for target in (t for t in full if t in modules):
            parts = target.split(".")
            for i, part in enumerate(parts):
                owner = ".".join(parts[:i])
                if part.startswith("_") and not _under(where, (owner,)):
                    found.append(f"{line}: {target}")
                    break
    return found


def _importer_name(path: Path) -> str:
    root = path.relative_to(ROOT).parts[0]
    if root in OWN_ROOTS:
        return _dotted(root, path)
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _importer_files() -> list[Path]:
    return [p for root in IMPORTERS for p in sorted((ROOT / root).rglob("*.py"))]


def test_every_public_name_has_one_public_path() -> None:
    many = names_with_many_paths(project_modules())
    assert not many, "names importable from more than one public module:\n" + "\n".join(
        f"{name}: {paths}" for name, paths in sorted(many.items())
    )


def test_only_a_package_init_re_exports() -> None:
    found = {m: foreign_exports(i) for m, i in project_modules().items() if foreign_exports(i)}
    assert not found, f"modules listing names they do not define in __all__: {found}"


def test_nothing_outside_a_package_imports_its_private_parts() -> None:
    modules = set(project_modules())
    found = []
    for path in _importer_files():
        where = _importer_name(path)
        bad = private_imports(path.read_text(), where, modules)
        allowed = TESTS_OF_PRIVATE_PARTS.get(path.relative_to(ROOT).as_posix())
        bad = [v for v in bad if v.split(": ", 1)[1] != allowed]
        found += [f"{path.relative_to(ROOT)}:{v}" for v in bad]
    assert not found, "private modules imported from outside their package:\n" + "\n".join(found)


def test_a_re_export_counts_as_a_second_path() -> None:
    modules = {
        f"{PKG}.api.parts": module_info(f"{PKG}.api.parts", "X = 1\n__all__ = ['X']\n"),
        f"{PKG}.api.face": module_info(
            f"{PKG}.api.face", f"from {PKG}.api.parts import X as X\n__all__ = ['X']\n"
        ),
        f"{PKG}.api.other": module_info(f"{PKG}.api.other", "X = 2\n__all__ = ['X']\n"),
        f"{PKG}.api._hidden": module_info(f"{PKG}.api._hidden", "Y = 1\n__all__ = ['Y']\n"),
    }
    many = names_with_many_paths(modules)
    # the same object twice counts; another object of the same name is another name
    assert many == {f"{PKG}.api.parts.X": [f"{PKG}.api.face", f"{PKG}.api.parts"]}
    assert foreign_exports(modules[f"{PKG}.api.face"]) == ["X"]
    face = module_info(f"{PKG}.api", f"from {PKG}.api.parts import X\n__all__ = ['X']\n", True)
    assert foreign_exports(face) == []


@pytest.mark.parametrize(
    "where,source,bad",
    [
        (f"{PKG}.flows.x", f"from {PKG}.api.auth._tokens import AccessToken", True),
        (f"{PKG}.api.client", f"from {PKG}.api.auth import _tokens", True),
        ("tests.unit.test_x", f"import {PKG}.api.auth._tokens", True),
        (f"{PKG}.api.auth", f"from {PKG}.api.auth._tokens import AccessToken", False),
        (f"{PKG}.api.auth._app", f"from {PKG}.api.auth._tokens import AccessToken", False),
        (f"{PKG}.flows.x", f"from {PKG}.api.auth import AccessToken", False),
        (f"{PKG}.api.client", f"from {PKG}.api.errors import _fail", False),
    ],
)
def test_private_import_checker(where: str, source: str, bad: bool) -> None:
    modules = {f"{PKG}.api.auth._tokens", f"{PKG}.api.auth", f"{PKG}.api.errors"}
    assert bool(private_imports(source, where, modules)) is bad


def alias_re_exports(source: str) -> list[str]:
    """Names a module imports "as themselves" at its top level (``from m import x as x``, the
    idiom that tells type checkers a name is re-exported): a second import path even when
    ``__all__`` does not list it. Imports under ``if TYPE_CHECKING:`` are not top level."""
    tree = ast.parse(source)
    return [
        a.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom | ast.Import)
        for a in node.names
        if a.asname is not None and a.asname == a.name.rsplit(".", 1)[-1]
    ]


def test_no_module_but_a_package_init_re_exports_by_alias() -> None:
    found = {}
    for root in OWN_ROOTS:
        for path in sorted((ROOT / root).rglob("*.py")):
            if path.name != "__init__.py" and (names := alias_re_exports(path.read_text())):
                found[path.relative_to(ROOT).as_posix()] = names
    assert not found, f"modules re-exporting names by 'import x as x': {found}"


@pytest.mark.parametrize(
    "source,names",
    [
        (
            f"from {PKG}.flows.accounts import act_on_accounts as act_on_accounts\n",
            ["act_on_accounts"],
        ),
        ("import msal as msal\n", ["msal"]),
        (f"from {PKG}.flows.accounts import act_on_accounts\n", []),
        (f"from {PKG}.flows.accounts import act_on_accounts as act\n", []),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import msal as msal\n", []),
    ],
)
def test_alias_re_export_checker(source: str, names: list[str]) -> None:
    assert alias_re_exports(source) == names
