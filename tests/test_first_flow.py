"""The README's "Your first flow", as a newcomer runs it, from a fresh clone.

The repository is cloned (``git clone`` of this checkout's committed ``HEAD``) into a temporary
folder, and the README's shell lines and Python block run there, in the clone's folder, as
written: the emulator started with ``--data-dir .emulator``, a Prefect server kept running, the
``PREFECT_API_URL`` export, then the script (save a block from the emulator, two tasks in a flow,
one playbook).

Installing the clone into a venv of its own (what ``make`` does) would download and install
Prefect and every dependency: minutes, and a registry, in every CI run. Instead the clone's
``.venv/bin`` gets the README's two commands as thin wrappers around this test's interpreter
(its dependencies are the ones ``make`` installs from the same ``pyproject.toml``), and
``prefect_defender`` is imported from the clone's own files: a package tree built from the
clone's ``pyproject.toml`` ``package-dir`` mapping (what a wheel would hold) comes first on
``PYTHONPATH``, and the run checks that the package it imported lives in the clone. So the
README's commands, the clone's code and the clone's committed files (README, examples, package
layout) are what is tested, and a file left uncommitted or a mapping left out fails it.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_defender.cli.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def readme_first_flow(readme: str) -> tuple[list[str], str]:
    """The shell lines and the Python block of the README's "Your first flow" section."""
    section = readme.split("## Your first flow", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```bash\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert shell and python, "the README's first flow has a bash and a python block"
    lines = [line.split("  #")[0].strip() for line in shell.group(1).splitlines()]
    return [line for line in lines if line], python.group(1)


def package_tree(clone: Path, into: Path) -> Path:
    """``prefect_defender`` as the clone's ``pyproject.toml`` maps it, as symlinks."""
    mapping = tomllib.loads((clone / "pyproject.toml").read_text())["tool"]["setuptools"]
    top = into / "prefect_defender"
    top.mkdir(parents=True)
    for name, folder in mapping["package-dir"].items():
        parts = name.split(".")
        if len(parts) == 1:  # the root package: its files
            for f in (clone / folder).iterdir():
                (top / f.name).symlink_to(f)
        elif len(parts) == 2:  # a top-level subpackage (its own subpackages come with it)
            (top / parts[1]).symlink_to(clone / folder)
    return into


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = tmp_path / "prefect-defender"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=120)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", head], check=True)
    bin_dir = target / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    commands = {"prefect-defender": ("prefect_defender.cli.main", "main")}
    commands["prefect"] = ("prefect.cli", "app")
    for name, (module, func) in commands.items():
        code = f"import sys; sys.argv[0] = {name!r}; from {module} import {func}; {func}()"
        script = bin_dir / name
        script.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)} "$@"\n'
        )
        script.chmod(0o755)
    return target


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:  # only what this test started, by process group
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_readme_first_flow_from_a_fresh_clone(
    clone: Path, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    shell, script = readme_first_flow((clone / "README.md").read_text())
    port = str(free_port())  # the README's 4200 may be taken on a CI host
    env = {
        **os.environ,
        "PYTHONPATH": str(package_tree(clone, tmp_path / "site")),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_PORT": port,  # `prefect server start` then listens where 4200 was
    }
    env.pop("PREFECT_API_URL", None)
    for line in shell:
        line = line.replace("4200", port)
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
            continue
        background = line.endswith("&")
        argv = shlex.split(line.rstrip("&").strip())
        log = (tmp_path / f"{Path(argv[0]).name}.log").open("wb")
        proc = subprocess.Popen(
            argv, cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append(proc)
        assert background, f"the README's shell line runs in the background: {line}"
    _wait_for(clone / ".emulator" / "connection.json", started, tmp_path)
    _wait_for_health(env["PREFECT_API_URL"], started, tmp_path)

    check = "import prefect_defender, sys; print(prefect_defender.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", check], cwd=clone, env=env, capture_output=True, text=True
    )
    assert Path(where.stdout.strip()).resolve().is_relative_to(clone.resolve()), where

    (clone / "first_flow.py").write_text(script)
    out = subprocess.run(
        [sys.executable, "first_flow.py"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "coroutine" not in out.stderr, out.stderr[-3000:]
    counts = re.search(r"(\d+) machines, incidents \[(\d+)", out.stdout)
    assert counts and int(counts.group(1)) == 5, out.stdout[-2000:]
    last = out.stdout.strip().splitlines()[-1].split()
    assert int(last[0]) > 0 and last[1] in ("True", "False"), out.stdout[-2000:]  # the triage


def _logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log"))


def _wait_for(path: Path, procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert time.monotonic() < deadline, _logs(tmp_path)
        assert all(p.poll() is None for p in procs), _logs(tmp_path)
        time.sleep(0.2)


def _wait_for_health(api: str, procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, _logs(tmp_path)
        assert all(p.poll() is None for p in procs), _logs(tmp_path)
        time.sleep(0.5)
