"""The README's main command: the demo runs end to end and reports a contained device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect_defender.cli.main",
            "demo",
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_demo_runs_end_to_end_and_again_in_the_same_place(tmp_path: Path) -> None:
    """Run twice in one data directory on one day: the second run contains the account again
    (the emulator's world is new each run, so are the demo's identity run records)."""
    out = _demo(tmp_path / "demo")
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "contain-incident: Completed; isolations on the emulator: " in text
    # told: the waiting-approval message reached the local receiver, with the run's link
    assert "waiting-approval message sent to custom-webhook/demo-approvals" in text
    assert "Approval needed by " in text and "Approve or reject: http://127.0.0.1:" in text
    assert "Succeeded" in text and "event-to-action latency" in text
    assert "no consent (expected)" in text  # the partner block's unconsented tenant
    assert "emulator and Prefect server stopped" in text
    assert "accounts disabled: jdoe@contoso.example" in text

    again = _demo(tmp_path / "demo")
    text = again.stdout + again.stderr
    assert again.returncode == 0, text[-3000:]
    assert "forgot 1 identity run record(s) of earlier demo runs" in text
    assert "accounts disabled: jdoe@contoso.example; identity actions on the emulator: 3" in text
