"""The emulator's packages are an extra: the library imports without them, the CLI says what
to install when they are missing, and importing a task module loads neither msal nor them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from prefect_defender.cli import main
from prefect_defender.cli.errors import run


def test_emulator_commands_name_the_extra_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "trustme" else real(name, *a)
    )
    for args in (["emulator", "serve"], ["demo"]):
        assert run(main.app, args) == 1  # a failure (not a usage mistake), in one line
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert "prefect-defender[emulator]" in err and "trustme" in err


def test_a_task_module_loads_no_msal_and_no_emulator_package() -> None:
    code = (
        "import sys, prefect_defender.tasks.machines, prefect_defender.flows.contain; "
        "print(sorted(m for m in ('msal', 'requests', 'trustme', 'prefect_defender.emulator') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_library_does_not_depend_on_the_emulator_packages() -> None:
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    core = " ".join(meta["project"]["dependencies"])
    extra = " ".join(meta["project"]["optional-dependencies"]["emulator"])
    for pkg in ("starlette", "uvicorn", "trustme", "python-multipart"):
        assert pkg not in core and pkg in extra
