"""``demo --keep-running``: it says how to use what it keeps up, and a SIGTERM stops all of it.

The demo's playbook run is replaced here by saving its blocks only (its end-to-end run is
``tests/test_demo.py``); what is tested is the real emulator and Prefect server the demo starts,
what it prints while it keeps them up (the ``PREFECT_API_URL`` export, with which another
process loads a block it lists as saved), and that a SIGTERM to the demo stops the Prefect
server too: no process with the demo's Prefect home is left (the server runs in its own process
group, and used to outlive the demo).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

SCRIPT = """
import sys
from pathlib import Path

import prefect_defender.cli.demo as demo


def blocks_only(emu, server, auto_approve):  # the demo's blocks, not its playbooks
    demo.create_demo_blocks(dict(emu.connection), demo.TIME_SCALE)
    return 0


demo._run = blocks_only
demo._surfaces_used = lambda emu, retire, code: code
sys.exit(demo.run_demo(Path(sys.argv[1]), keep_running=True))
"""

#: what ``create_demo_blocks`` saves
SAVED = (
    "defender-application-credentials/demo-soc",
    "defender-partner-credentials/demo-mssp",
    "defender-user-credentials/demo-analyst",
)


def _load_from_another_shell(api_url: str) -> str:
    """With only the printed export, a new process loads a block the demo saved."""
    code = (
        "from prefect_defender.blocks import DefenderApplicationCredentials as A; "
        "print(A.load('demo-soc').tenant_id)"
    )
    env = {**os.environ, "PREFECT_API_URL": api_url}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_sigterm_stops_the_kept_prefect_server(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while not any("saved blocks:" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        api = re.search(r"export PREFECT_API_URL=(\S+)", text)
        assert api, text
        assert httpx.get(f"{api.group(1)}/health", timeout=10).status_code == 200
        saved = re.search(r"saved blocks: (.*)", text)
        assert saved and set(SAVED) <= set(saved.group(1).split(", ")), text
        assert "connection.json" in text
        assert re.fullmatch(r"[0-9a-f-]{36}", _load_from_another_shell(api.group(1)))

        os.kill(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        home = tmp_path / "demo" / "prefect"
        left = _wait_until_gone(home)
        for pid in left:  # only what this test's demo started (its Prefect home is ours)
            os.kill(pid, signal.SIGKILL)
    assert "emulator and Prefect server stopped" in rest, text + rest
    assert left == [], f"processes of the demo's Prefect server outlived it: {left}"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{api.group(1)}/health", timeout=5)


def _with_home(home: Path) -> list[int]:
    """Processes whose environment has ``PREFECT_HOME=home`` (the demo's Prefect server)."""
    marker = f"PREFECT_HOME={home}".encode()
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            env = (proc_dir / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in env:
            found.append(int(proc_dir.name))
    return found


def _wait_until_gone(home: Path, timeout: float = 30) -> list[int]:
    """The processes with ``home`` still running after ``timeout`` seconds (none, normally)."""
    deadline = time.monotonic() + timeout
    while (left := _with_home(home)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left
