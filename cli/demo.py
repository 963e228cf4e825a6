"""``prefect-defender demo``: everything against the local emulator, no tenant needed.

Starts the emulator and a local Prefect server, creates the three credential blocks (the user
block through a real device-code sign-in, approved by the emulator), runs the playbooks and
prints what happened with links to the Prefect UI; then stops what it started.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import typer

__all__ = ["run_demo"]


def _say(msg: str) -> None:
    typer.echo(f"[demo] {msg}")


def create_demo_blocks(conn: dict[str, Any], time_scale: float = 1.0) -> dict[str, str]:
    """Create and save the three credential blocks for the emulator; return their slugs."""
    from prefect_defender.blocks import (
        DefenderApplicationCredentials,
        DefenderPartnerCredentials,
        DefenderUserCredentials,
    )

    app = DefenderApplicationCredentials.from_emulator(conn, time_scale=time_scale)
    app.save("demo-soc", overwrite=True)
    partner = DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], time_scale=time_scale
    )
    partner.save("demo-mssp", overwrite=True)
    user = DefenderUserCredentials.from_emulator(conn, time_scale=time_scale)
    user._block_document_name = "demo-analyst"
    signed_in = user.sign_in_with_device_code(show=lambda m: _say(f"device code: {m}"))
    user.save("demo-analyst", overwrite=True)
    _say(f"user block signed in as {signed_in}")
    return {
        "application": "defender-application-credentials/demo-soc",
        "partner": "defender-partner-credentials/demo-mssp",
        "user": "defender-user-credentials/demo-analyst",
    }


def run_demo(data_dir: Path, *, auto_approve: bool = True, keep_running: bool = False) -> int:
    """Run the demo; return a process exit code."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_defender.cli.servers import PrefectServer
    from prefect_defender.emulator import EmulatorServer

    started = time.monotonic()
    data_dir = data_dir.resolve()
    with EmulatorServer(data_dir=str(data_dir / "emulator"), port=0) as emu:
        _say(f"emulator on {emu.base_url} (connection: {data_dir / 'emulator/connection.json'})")
        with PrefectServer(data_dir / "prefect") as server:
            _say(f"Prefect server on {server.ui_url}")
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                code = _run(emu, server, auto_approve=auto_approve)
                if keep_running:
                    _say("Ctrl-C to stop")
                    try:
                        while True:
                            time.sleep(1)
                    except KeyboardInterrupt:
                        pass
    _say(f"finished in {time.monotonic() - started:.1f}s; emulator and Prefect server stopped")
    return code


def _run(emu: Any, server: Any, *, auto_approve: bool) -> int:
    from prefect_defender.flows.connectivity import defender_connectivity_check

    blocks = create_demo_blocks(dict(emu.connection))
    rows = asyncio.run(defender_connectivity_check(list(blocks.values())))
    ok = True
    for row in rows:
        status = "ok" if row["ok"] else "FAILED"
        _say(
            f"{row['block']:<48} tenant {row['tenant_id']}: {row.get('incidents')} incidents, "
            f"{row.get('machines')} machines [{status}]"
        )
        if not row["ok"]:
            for err in row.get("errors", []):
                _say(f"    {err[:160]}")
    # the non-consented tenant is expected to fail; everything else must work
    northwind = {t["tenant_id"] for t in emu.connection["tenants"] if t["name"] == "northwind"}
    ok = all(r["ok"] for r in rows if r["tenant_id"] not in northwind)
    _say(f"runs: {server.ui_url}/runs")
    return 0 if ok else 1
