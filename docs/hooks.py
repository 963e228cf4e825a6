"""MkDocs hook: make the source tree Griffe reads before mkdocstrings looks for it.

The subpackages of ``prefect_defender`` live in top-level folders (setuptools ``package-dir``),
so Griffe cannot find them from the repository root. ``make typecheck`` builds the symlink tree
``.typecheck/prefect_defender`` for mypy; the docs use the same tree (``paths: [.typecheck]`` in
mkdocs.yml) and this hook creates whatever is missing of it, so a fresh clone builds the docs.
It runs first, because mkdocstrings drops search paths that do not exist yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("api", "blocks", "tasks", "flows", "deployments", "emulator", "agents", "cli")


def ensure_source_tree(root: Path = ROOT) -> Path:
    """Create ``.typecheck/prefect_defender`` (as ``make typecheck`` does) where it is missing."""
    tree = root / ".typecheck" / "prefect_defender"
    tree.mkdir(parents=True, exist_ok=True)
    links = {name: Path("..", "..", name) for name in SUBPACKAGES}
    for top in sorted((root / "package").iterdir()):  # __init__.py, py.typed, prefect_compat.py
        if top.suffix in (".py", ".typed"):
            links[top.name] = Path("..", "..", "package", top.name)
    for name, target in links.items():
        link = tree / name
        if not link.exists():
            if link.is_symlink():  # dangling
                link.unlink()
            link.symlink_to(target)
    return tree


@event_priority(100)
def on_config(config: Any) -> Any:
    ensure_source_tree(Path(config.config_file_path).resolve().parent)
    return config
