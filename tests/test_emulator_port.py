"""A stable emulator: ``serve --data-dir DIR`` comes back on the port DIR had, so a block saved
against it keeps working; a new free port only when that one is taken (and it says so); a
connection error names the URL it tried."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prefect_defender.api.clouds import Surface
from prefect_defender.api.errors import TransportError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.emulator.server import port_to_reuse

CLI = (sys.executable, "-m", "prefect_defender.cli.main")


def _serve(data_dir: Path) -> tuple[subprocess.Popen[str], int, str]:
    """``prefect-defender emulator serve --data-dir`` as a user starts it; its port and output."""
    conn = data_dir / "connection.json"
    before = conn.stat().st_mtime_ns if conn.exists() else None
    proc = subprocess.Popen(
        [*CLI, "emulator", "serve", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while not (conn.exists() and conn.stat().st_mtime_ns != before):
        assert proc.poll() is None and time.monotonic() < deadline, "the emulator did not start"
        time.sleep(0.1)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if "taken" in first:  # the note comes before the "emulator on ..." line
        first += proc.stdout.readline()
    return proc, int(json.loads(conn.read_text())["port"]), first


def _stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_restart_reuses_the_port_and_a_saved_block_still_works(tmp_path: Path) -> None:
    data_dir = tmp_path / "emu"
    proc, port, _ = _serve(data_dir)
    creds = DefenderApplicationCredentials.from_emulator(data_dir)
    _stop(proc)
    proc, again, out = _serve(data_dir)
    try:
        assert again == port, out
        client = creds.get_client()  # the block made before the restart

        async def token() -> str:
            try:
                return (
                    await client.transport.provider.get_token(client.endpoints.scope(Surface.MDE))
                ).token
            finally:
                await client.aclose()

        assert asyncio.run(token())
    finally:
        _stop(proc)


def test_a_taken_port_gives_a_new_one_and_says_so(tmp_path: Path) -> None:
    data_dir = tmp_path / "emu"
    data_dir.mkdir()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        (data_dir / "connection.json").write_text(json.dumps({"port": taken}))
        port, note = port_to_reuse(data_dir)
        assert port == 0 and note is not None
        assert f"port {taken}" in note and "taken" in note and "save blocks" in note
    assert port_to_reuse(data_dir) == (taken, None)  # free again: reused
    assert port_to_reuse(tmp_path / "new") == (0, None)  # no connection.json yet


def test_an_unreachable_emulator_is_named_by_url(tmp_path: Path) -> None:
    data_dir = tmp_path / "emu"
    proc, port, _ = _serve(data_dir)
    _stop(proc)
    creds = DefenderApplicationCredentials.from_emulator(data_dir)
    client = creds.get_client()

    async def token() -> None:
        try:
            await client.transport.provider.get_token(client.endpoints.scope(Surface.MDE))
        finally:
            await client.aclose()

    with pytest.raises(TransportError) as err:
        asyncio.run(token())
    assert f"https://localhost:{port}/" in str(err.value)
