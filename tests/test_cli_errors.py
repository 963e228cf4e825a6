"""Every ``prefect-defender`` command answers a mistake in one line, without a traceback.

A sweep of wrong invocations (bad flags and arguments, malformed, unknown, missing, ambiguous,
invalid and wrong-kind blocks, an unreachable emulator, a refused sign-in, an unreachable
Prefect API, bad files), run through the console script's own entry (``cli.errors.run``) on the
session's Prefect server and emulator: each ends with exactly one line on standard error naming
what is wrong and what to do next (``;``), exit status 2 for a usage mistake and 1 for a
failure, and no ``Traceback``. A few run as the installed console script in a subprocess;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from prefect_defender.cli.errors import CliError, explain, run
from prefect_defender.cli.main import app

T = "00000000-0000-0000-0000-0000000000c1"
APP = "defender-application-credentials"


@pytest.fixture(scope="module")
def saved(
    prefect_harness: None,
    conn: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    emulator_keys: Path,
) -> dict[str, Any]:
    """The blocks the sweep names: good ones, a shared name, an invalid one, one whose emulator
    is gone, one with a wrong secret."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import BlockDocumentCreate

    from tests.conftest import emulator_server

    DefenderApplicationCredentials.from_emulator(conn).save("cli-app", overwrite=True)
    DefenderApplicationCredentials.from_emulator(conn).save("cli-shared", overwrite=True)
    DefenderPartnerCredentials.from_emulator(conn, tenants=["contoso"]).save(
        "cli-shared", overwrite=True
    )
    DefenderPartnerCredentials.from_emulator(conn, tenants=["contoso"]).save(
        "cli-partner", overwrite=True
    )
    DefenderApplicationCredentials.from_emulator(conn, client_secret="wrong").save(
        "cli-wrong-secret", overwrite=True
    )
    with emulator_server(tmp_path_factory, emulator_keys, name="gone") as gone:
        DefenderApplicationCredentials.from_emulator(gone.connection).save(
            "cli-down", overwrite=True
        )
        down_url = gone.base_url

    async def invalid() -> None:  # saved the way the UI's form would, with no credential
        async with get_client() as client:
            ok = await client.read_block_document_by_name("cli-app", APP)
            data = {"tenant_id": T, "client_id": T}
            await client.create_block_document(
                BlockDocumentCreate(
                    name="cli-invalid",
                    data=data,
                    block_schema_id=ok.block_schema_id,
                    block_type_id=ok.block_type_id,
                )
            )

    asyncio.run(invalid())
    return {"down_url": down_url}


# (argv, exit status, a piece of the one line)
USAGE_CASES: list[tuple[list[str], str]] = [
    (["bogus"], "No such command"),
    (["whoami"], "Missing argument"),
    (["whoami", "cli-app", "extra"], "unexpected extra argument"),
    (["whoami", "cli-app", "--bogus"], "No such option"),
    (["whoami", "--tenant-id"], "requires an argument"),
    (["whoami", "Bad Name!"], "is not a block name"),
    (["whoami", "a/b/c"], "is not a block name"),
    (["whoami", "/cli-app"], "is not a block name"),
    (["whoami", "slack-webhook/cli-app"], "is not a Defender credential block type"),
    (["whoami", "cli-shared"], "names 2 blocks"),
    (["whoami", "cli-partner", "--tenant-id", "nope"], "--tenant-id"),
    (["login"], "Missing option"),
    (["login", "--block", "x", "--tenant-id", T], "create a block together"),
    (["login", "--block", f"{APP}/new", "--tenant-id", T, "--client-id", T], "is not a"),
    (["login", "--block", "cli-app"], "login needs a DefenderUserCredentials block"),
    (["login", "--block", "x", "--tenant-id", "nope", "--client-id", T], "--tenant-id"),
    (["consent-url", "--block", "cli-app", "--tenant-id", T], "needs a DefenderPartner"),
    (["consent-url", "--block", "cli-partner"], "Missing option"),
    (["consent-url", "--block", "cli-partner", "--tenant-id", "x"], "--tenant-id"),
    (["emulator", "bogus"], "No such command"),
    (["emulator", "serve", "--port", "abc"], "valid integer"),
    (["emulator", "serve", "--retire", "graph"], "--retire"),
    (["emulator", "serve", "--config", "/nonexistent/knobs.json"], "does not exist"),
    (["demo", "--bogus"], "No such option"),
    (["mcp", "bogus"], "No such command"),
    (["mcp", "serve", "--port", "x"], "valid integer"),
    (["mcp", "serve", "--credentials", f"{APP}/cli-app", "--http"], "needs a bearer token"),
    (
        ["mcp", "serve", "--credentials", f"{APP}/cli-missing"],
        f"no saved block '{APP}/cli-missing'",
    ),
    (["capabilities", "--write"], "No such option"),
]

FAILURE_CASES: list[tuple[list[str], str]] = [
    (["whoami", "cli-missing"], "no saved credential block is named 'cli-missing'"),
    (["whoami", f"{APP}/cli-missing"], f"no saved block {APP}/cli-missing"),
    (["whoami", "defender-user-credentials/cli-app"], "no saved block"),
    (["login", "--block", "cli-missing"], "no saved credential block"),
    (["consent-url", "--block", "cli-missing", "--tenant-id", T], "no saved credential block"),
    (["whoami", "cli-invalid"], "is invalid: give exactly one credential"),
    (["whoami", "cli-down"], "cannot reach the token endpoint"),
    (["whoami", "cli-wrong-secret"], "sign-in refused"),
    (["login", "--block", "x", "--emulator", "/nonexistent/emu"], "no emulator connection"),
]


def _sweep(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run(app, argv)
    out, err = capsys.readouterr()
    with capsys.disabled():  # the answers, for a reader of the test log (-s)
        print(f"\n$ prefect-defender {' '.join(argv)}  [exit {code}]\n{err.strip()}")
    return code, out, err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{err}"
    return lines[0]


@pytest.mark.parametrize(("argv", "piece"), USAGE_CASES, ids=[" ".join(a) for a, _ in USAGE_CASES])
def test_a_usage_mistake_is_one_line_and_exit_2(
    argv: list[str], piece: str, saved: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _sweep(argv, capsys)
    line = _one_line(err)
    assert code == 2, line
    assert line.startswith("prefect-defender: ") and piece in line, line
    assert ";" in line, f"no next step in: {line}"
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("argv", "piece"), FAILURE_CASES, ids=[" ".join(a) for a, _ in FAILURE_CASES]
)
def test_a_failure_is_one_line_and_exit_1(
    argv: list[str], piece: str, saved: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _sweep(argv, capsys)
    line = _one_line(err)
    assert code == 1, line
    assert line.startswith("prefect-defender: ") and piece in line, line
    assert ";" in line, f"no next step in: {line}"
    assert "Traceback" not in out + err


def test_an_unreachable_emulator_is_named_by_url(
    saved: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = _sweep(["whoami", "cli-down"], capsys)
    assert saved["down_url"] in _one_line(err)


def test_a_data_dir_that_is_a_file_and_a_config_that_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("{")
    for argv, piece in (
        (["emulator", "serve", "--data-dir", str(a_file)], "is a file"),
        (["emulator", "serve", "--data-dir", str(tmp_path), "--config", str(a_file)], "not JSON"),
    ):
        code, out, err = _sweep(argv, capsys)
        line = _one_line(err)
        assert code == 2 and piece in line and "Traceback" not in out + err, line


def test_capabilities_outside_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _sweep(["capabilities", "--write-docs"], capsys)
    assert code == 1 and "run this from the repository's root" in _one_line(err)


def test_an_unreachable_prefect_api_is_named(
    saved: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    closed = "http://127.0.0.1:9/api"
    with temporary_settings({PREFECT_API_URL: closed, PREFECT_CLIENT_MAX_RETRIES: 0}):
        code, out, err = _sweep(["whoami", "cli-app"], capsys)
    line = _one_line(err)
    assert code == 1 and f"cannot reach the Prefect API at {closed}" in line, line
    assert "prefect server start" in line and "Traceback" not in out + err


def test_missing_permissions_say_what_to_grant(conn: dict) -> None:
    """The answer to a 403 from the emulator (a read-only app isolating a machine)."""
    from prefect_defender.api.errors import PermissionDeniedError
    from prefect_defender.tasks.machine_actions import isolate_machine

    readonly = DefenderApplicationCredentials.from_emulator(conn, app="readonly")
    with pytest.raises(PermissionDeniedError) as denied:
        asyncio.run(isolate_machine.fn(readonly, "0" * 40, comment="cli test"))
    err = explain(denied.value)
    assert err.code == 1 and "\n" not in err.line
    assert err.line.startswith("permission missing:") and "grant Machine.Isolate" in err.line


def test_whoami_names_the_signed_in_user_of_a_user_block(
    saved: dict, conn: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    username, password = conn["users"][0]["username"], conn["users"][0]["password"]
    DefenderUserCredentials.from_emulator(conn, username=username, password=password).save(
        "cli-user", overwrite=True
    )
    code, out, err = _sweep(["whoami", "cli-user"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["user"] == username and report["credential"].startswith("user:")


def test_debug_shows_the_traceback(saved: dict) -> None:
    with pytest.raises(CliError, match="no saved credential block"):
        run(app, ["--debug", "whoami", "cli-missing"])
    with pytest.raises(CliError, match="no saved credential block"):
        run(app, ["whoami", "cli-missing", "--debug"])


@pytest.fixture(scope="module")
def console_script() -> Iterator[str]:
    beside = Path(sys.executable).with_name("prefect-defender")
    yield str(beside) if beside.exists() else str(shutil.which("prefect-defender"))


@pytest.mark.parametrize(
    ("argv", "code", "piece"),
    [
        (["whoami"], 2, "Missing argument"),
        (["nope"], 2, "No such command"),
        (["emulator", "serve", "--retire", "graph"], 2, "--retire"),
    ],
)
def test_the_console_script_answers_in_one_line(
    console_script: str, argv: list[str], code: int, piece: str
) -> None:
    proc = subprocess.run(
        [console_script, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == code, proc.stderr
    assert piece in _one_line(proc.stderr) and "Traceback" not in proc.stdout + proc.stderr
