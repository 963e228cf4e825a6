"""The README's main command: the demo runs end to end and reports a contained device."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def _demo(data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect_defender.cli.main",
            "demo",
            "--data-dir",
            str(data_dir),
            *options,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _requests(text: str) -> dict[str, int]:
    """The demo's last line of requests per surface (``requests: graph N, mde N, xdr N``)."""
    line = re.findall(r"requests: graph (\d+), mde (\d+), xdr (\d+)", text)[-1]
    return dict(zip(("graph", "mde", "xdr"), map(int, line), strict=True))


@pytest.mark.timeout(1200)  # two demos (each subprocess bounded at 600 s): ~170 s in all
def test_demo_runs_end_to_end_and_again_in_the_same_place(tmp_path: Path) -> None:
    """Run twice in one data directory on one day: the second run contains the account again
    (the emulator's world is new each run, so are the demo's identity run records). Both run
    with the Defender XDR API retired in the emulator (the default, and ``make demo``'s
    ``--retire xdr``): incidents and hunting on Graph, device actions on Defender for Endpoint,
    not one XDR request."""
    out = _demo(tmp_path / "demo")
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "contain-incident: Completed; isolations on the emulator: " in text
    # told: the waiting-approval message reached the local receiver, with the run's link
    assert "waiting-approval message sent to custom-webhook/demo-approvals" in text
    assert "Approval needed by " in text and "Approve or reject: http://127.0.0.1:" in text
    assert "retired in the emulator (every call answers 404): xdr" in text
    counts = _requests(text)
    assert counts["xdr"] == 0 and counts["graph"] > 0 and counts["mde"] > 0, counts
    assert "Succeeded" in text and "event-to-action latency" in text
    # measured from the event's own time, the latency cannot be negative (it once was: -7.6 s)
    latency = float(re.search(r"event-to-action latency: (-?[\d.]+)s", text).group(1))  # type: ignore[union-attr]
    assert latency >= 0, latency
    assert "no consent (expected)" in text  # the partner block's unconsented tenant
    assert "emulator and Prefect server stopped" in text
    assert "accounts disabled: jdoe@contoso.example" in text

    again = _demo(tmp_path / "demo", "--retire", "xdr")
    text = again.stdout + again.stderr
    assert again.returncode == 0, text[-3000:]
    assert _requests(text)["xdr"] == 0
    assert "forgot 1 identity run record(s) of earlier demo runs" in text
    assert "accounts disabled: jdoe@contoso.example; identity actions on the emulator: 3" in text
