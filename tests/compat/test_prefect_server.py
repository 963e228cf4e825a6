"""The Prefect releases we support, with the server packages installed beside them.

`make test` runs this module twice: in ``.venv`` (what ``pip`` resolves today: Prefect 3.9.1) and
in ``.venv-prefect-floor`` (Prefect 3.8.8 installed with ``constraints/prefect-3.8.8.txt``).
The scheduler test is the one that caught SQLAlchemy 2.1 with Prefect 3.8.8 and 3.9.0: a
deployment's schedule created no run at all, and nothing failed loudly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from prefect_defender import prefect_compat
from prefect_defender.cli.servers import PrefectServer
from prefect_defender.prefect_compat import dependency_problems, parse_version


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=5))
def test_parse_version_reads_release_numbers(numbers: list[int]) -> None:
    text = ".".join(map(str, numbers))
    assert parse_version(text) == tuple(numbers)
    assert parse_version(text + "rc1") == tuple(numbers)
    assert parse_version(text + ".dev3+local") == tuple(numbers)


@pytest.mark.parametrize(
    ("versions", "broken"),
    [
        ({"prefect": "3.8.8", "sqlalchemy": "2.1.9", "fastapi": "0.150.0"}, ["sqlalchemy"]),
        ({"prefect": "3.9.0", "sqlalchemy": "2.1.0", "fastapi": "0.150.0"}, ["sqlalchemy"]),
        ({"prefect": "3.8.8", "sqlalchemy": "2.0.58", "fastapi": "0.151.0"}, ["fastapi"]),
        (
            {"prefect": "3.8.8", "sqlalchemy": "2.1.9", "fastapi": "0.165.0"},
            ["sqlalchemy", "fastapi"],
        ),
        ({"prefect": "3.8.8", "sqlalchemy": "2.0.58", "fastapi": "0.150.0"}, []),
        ({"prefect": "3.9.1", "sqlalchemy": "2.1.9", "fastapi": "0.150.0"}, []),
        ({"prefect": "3.10.0", "sqlalchemy": "2.1.9"}, []),
        ({"sqlalchemy": "2.1.9", "fastapi": "0.165.0"}, []),
    ],
)
def test_known_breaks_are_named_with_their_fix(versions: dict[str, str], broken: list[str]) -> None:
    problems = dependency_problems(versions)
    assert [p.split(" with ")[1].split()[0] for p in problems] == broken
    for problem in problems:
        assert problem.startswith(f"prefect {versions['prefect']} with ")
        assert "fix: pip install '" in problem


def test_the_installed_pairing_has_no_known_break() -> None:
    """Whatever this environment resolved (today's Prefect, or the floor with its constraints)."""
    assert dependency_problems() == []


def test_the_command_line_warns_about_a_known_break(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_defender.cli.main import app

    monkeypatch.setattr(
        prefect_compat,
        "installed_versions",
        lambda *a: {"prefect": "3.8.8", "sqlalchemy": "2.1.9", "fastapi": "0.150.0"},
    )
    result = CliRunner().invoke(app, ["emulator", "--help"])
    assert result.exit_code == 0
    assert "warning: prefect 3.8.8 with sqlalchemy 2.1.9: " in result.stderr
    assert "fix: pip install 'sqlalchemy<2.1'" in result.stderr

    monkeypatch.setattr(prefect_compat, "installed_versions", lambda *a: {"prefect": "3.9.1"})
    quiet = CliRunner().invoke(app, ["emulator", "--help"])
    assert quiet.exit_code == 0
    assert "warning" not in quiet.stderr


@pytest.fixture(scope="module")
def scheduling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``prefect server start`` on 127.0.0.1 with its scheduler looping every second."""
    home = tmp_path_factory.mktemp("prefect-home")
    scheduler = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}
    with PrefectServer(home, extra_env=scheduler, startup_timeout=120) as server:
        yield server.api_url


def test_a_schedule_creates_runs(scheduling_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment with an interval schedule gets scheduled runs from the server's scheduler."""
    monkeypatch.setenv("PREFECT_API_URL", scheduling_server)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def scheduled_runs() -> int:
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("defender-schedule-check")
            await client.create_deployment(
                flow_id=flow_id,
                name="every-minute",
                schedules=[
                    DeploymentScheduleCreate(
                        schedule=IntervalSchedule(interval=timedelta(minutes=1)), active=True
                    )
                ],
            )
            for _ in range(60):
                runs = await client.read_flow_runs()
                if runs:
                    return len(runs)
                await asyncio.sleep(1)
            return 0

    with temporary_settings({PREFECT_API_URL: scheduling_server}):
        assert asyncio.run(scheduled_runs()) > 0
