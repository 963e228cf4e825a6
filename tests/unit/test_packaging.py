"""Every Python folder of the source tree ships: pyproject.toml lists setuptools packages one by one
(the top-level folders are mapped into ``prefect_defender``), so a new subpackage that is not
listed works in the editable install the tests use and is missing from a wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("api", "blocks", "tasks", "flows", "deployments", "emulator", "agents", "cli")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_source_package_is_listed_and_mapped() -> None:
    config = _setuptools()
    listed, mapped = set(config["packages"]), config["package-dir"]
    for layer in LAYERS:
        for init in sorted((ROOT / layer).rglob("__init__.py")):
            folder = init.parent.relative_to(ROOT)
            name = "prefect_defender." + ".".join(folder.parts)
            assert name in listed, f"{folder}/ is not in [tool.setuptools] packages"
            assert mapped.get(name) == folder.as_posix(), f"{name} is not mapped to {folder}"


def test_every_listed_package_exists() -> None:
    config = _setuptools()
    for name in config["packages"]:
        folder = ROOT / config["package-dir"][name]
        assert (folder / "__init__.py").is_file(), f"{name}: no {folder}/__init__.py"


def test_license_is_an_spdx_expression() -> None:
    """PEP 639: ``license`` is an SPDX string (the table form made setuptools warn on every
    install), which needs setuptools 77 or newer to build."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in meta["build-system"]["requires"]
