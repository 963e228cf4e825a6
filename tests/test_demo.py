"""The README's main command: the demo runs end to end and reports a contained device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect_defender.cli.main",
            "demo",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "contain-device: Completed; isolations on the emulator: " in text
    assert "Succeeded" in text and "event-to-action latency" in text
    assert "no consent (expected)" in text  # the partner block's unconsented tenant
    assert "emulator and Prefect server stopped" in text
