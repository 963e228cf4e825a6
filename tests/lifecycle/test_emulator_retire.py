"""The emulator's retire switch: a retired surface answers every endpoint with 404 and its own
error body, the others keep working, and the requests are counted per surface.

Real msal and httpx against the HTTPS emulator; the CLI's option through typer's runner and
``python -m prefect_defender.emulator serve --retire`` as a child process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.cli.errors import run
from prefect_defender.cli.main import app
from tests.conftest import emulator_server


@pytest.fixture(scope="module")
def retired_emulator(
    tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path
) -> Iterator[Any]:
    """An emulator with the XDR API retired (the config key tests and the demo use)."""
    with emulator_server(
        tmp_path_factory, emulator_keys, {"retired_surfaces": ["XDR"]}, "retired"
    ) as emu:
        yield emu


def _token(emu: Any, scope: str) -> str:
    creds = DefenderApplicationCredentials.from_emulator(emu.connection)
    client = creds.get_client()
    try:
        return asyncio.run(client.transport.provider.get_token(scope)).token
    finally:
        asyncio.run(client.aclose())


def _http(ca_bundle: str) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=ca_bundle), trust_env=False)


def _get(emu: Any, path: str, token: str, method: str = "GET", **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with _http(emu.connection["ca_bundle"]) as http:
        return http.request(method, emu.base_url + path, headers=headers, **kw)


def test_every_xdr_endpoint_answers_404_in_the_xdr_error_shape(retired_emulator: Any) -> None:
    emu = retired_emulator
    emu.admin.reset_stats()
    xdr = _token(emu, "https://api.security.microsoft.com/.default")
    for method, path, body in [
        ("GET", "/api/incidents", None),
        ("GET", "/api/incidents/1", None),
        ("PATCH", "/api/incidents/1", {"status": "Resolved"}),
        ("POST", "/api/advancedhunting/run", {"Query": "DeviceInfo | take 1"}),
    ]:
        resp = _get(emu, path, xdr, method, json=body)
        assert resp.status_code == 404, (method, path)
        err = resp.json()["error"]
        # the XDR error body (api-error-codes): code, message, target; no Graph innerError
        assert set(err) == {"code", "message", "target"}
        assert err["code"] == "NotFound"
        assert "retired" in err["message"] and "Graph security API" in err["message"]
    # without a token too: the route itself is gone
    assert _get(emu, "/api/incidents", "").status_code == 404
    counts = emu.admin.surface_counts()
    assert counts["xdr"] == 5 and counts["graph"] == 0 and counts["mde"] == 0
    assert emu.admin.stats()["retired_surfaces"] == ["xdr"]


def test_graph_and_mde_keep_working_and_are_counted(retired_emulator: Any) -> None:
    emu = retired_emulator
    emu.admin.reset_stats()
    graph = _token(emu, "https://graph.microsoft.com/.default")
    mde = _token(emu, "https://api.securitycenter.microsoft.com/.default")
    assert _get(emu, "/v1.0/security/incidents?$top=1", graph).status_code == 200
    assert _get(emu, "/api/machines?$top=1", mde).status_code == 200
    missing = _get(emu, "/api/machines/does-not-exist", mde)
    # a missing resource on a working surface still names it (ResourceNotFound)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    counts = emu.admin.surface_counts()
    assert (counts["graph"], counts["mde"], counts["xdr"]) == (1, 2, 0)


def test_entra_requests_are_counted_apart(retired_emulator: Any) -> None:
    emu = retired_emulator
    emu.admin.reset_stats()
    from prefect_defender.api import auth

    auth.REGISTRY.clear()  # a new token: msal asks Entra ID (discovery and token endpoint)
    _token(emu, "https://graph.microsoft.com/.default")
    counts = emu.admin.surface_counts()
    assert counts["entra"] >= 1 and counts["graph"] == 0


def test_the_knob_can_be_changed_at_run_time_and_is_checked(retired_emulator: Any) -> None:
    emu = retired_emulator
    mde = _token(emu, "https://api.securitycenter.microsoft.com/.default")
    try:
        emu.admin.patch_config(retired_surfaces=["xdr", "mde"])
        resp = _get(emu, "/api/machines", mde)
        assert resp.status_code == 404
        assert "Defender for Endpoint API has been retired" in resp.json()["error"]["message"]
        with pytest.raises(httpx.HTTPStatusError) as bad:
            emu.admin.patch_config(retired_surfaces=["graph"])
        assert "cannot be retired" in bad.value.response.json()["error"]
        assert emu.admin.config()["retired_surfaces"] == ["xdr", "mde"]
    finally:
        emu.admin.patch_config(retired_surfaces=["xdr"])
    assert _get(emu, "/api/machines?$top=1", mde).status_code == 200


def test_cli_refuses_a_surface_that_cannot_be_retired_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(app, ["emulator", "serve", "--retire", "graph"]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("prefect-defender: --retire: 'graph' cannot be retired (one of")
    assert "Traceback" not in out + err


def test_serve_retire_as_a_child_process(tmp_path: Path, emulator_keys: Path) -> None:
    import shutil

    for f in emulator_keys.iterdir():
        shutil.copy2(f, tmp_path / f.name)
    cmd = [sys.executable, "-m", "prefect_defender.emulator", "serve", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [*cmd, "--retire", "xdr", "--retire", "mde"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        conn_file = tmp_path / "connection.json"
        deadline = time.monotonic() + 60
        while not conn_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        conn = json.loads(conn_file.read_text())
        with _http(conn["ca_bundle"]) as http:
            stats = http.get(conn["admin_url"] + "/stats").json()
            assert stats["retired_surfaces"] == ["xdr", "mde"]
            assert http.get(conn["base_url"] + "/api/machines").status_code == 404
    finally:
        os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
        proc.wait(timeout=15)
    assert b"retired: xdr, mde" in (proc.stdout.read() if proc.stdout else b"")
