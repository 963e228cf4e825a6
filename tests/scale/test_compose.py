"""docker-compose.yml stays in step with the scale-out test (it cannot be run here: no Docker).

Same pool, worker and deploy commands, same PREFECT_* variables; the database URL only on the
server; secrets only from the environment (.env), never written into the file.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from tests.scale.test_scale_out import DEPLOY_COMMANDS, POOL, WORKER_ENV, WORKERS, worker_command

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _command(service: dict[str, Any]) -> str:
    cmd = service["command"]
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def test_services_are_the_tested_layout() -> None:
    services = _compose()["services"]
    assert {"postgres", "server", "deploy", *WORKERS} <= set(services)
    for name in WORKERS:
        assert _command(services[name]) == shlex.join(["prefect", *worker_command(name)])
        env = services[name]["environment"]
        for key, value in WORKER_ENV.items():
            assert env[key] == value
    deploy = _command(services["deploy"])
    for args in DEPLOY_COMMANDS:
        assert shlex.join(["prefect", *args]) in deploy
    prefect_yaml = (ROOT / "deployments" / "prefect.yaml").read_text()
    assert f"name: {POOL}" in prefect_yaml


def test_only_the_server_holds_the_database_url() -> None:
    services = _compose()["services"]
    url = services["server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://prefect:${POSTGRES_PASSWORD}@postgres:5432/")
    server_env = services["server"]["environment"]
    assert server_env["PREFECT_SERVER_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING")
    assert server_env["PREFECT_SERVER_ENCRYPTION_KEY"].startswith("${PREFECT_ENCRYPTION_KEY")
    for name in ("deploy", *WORKERS):
        env = services[name]["environment"]
        assert "PREFECT_API_DATABASE_CONNECTION_URL" not in env
        assert env["PREFECT_API_URL"] == "http://server:4200/api"
        assert env["PREFECT_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING")
        assert env["PREFECT_DEFENDER_HOME"] == "/opt/prefect-defender"
    assert "ports" not in services["postgres"]
    assert all(p.startswith("127.0.0.1:") for p in services["server"]["ports"])


def test_no_secret_is_written_into_the_file() -> None:
    secret_like = ("PASSWORD", "AUTH_STRING", "ENCRYPTION_KEY", "CONNECTION_URL")
    checked = 0
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in secret_like):
                checked += 1
                assert "${" in str(value), f"{name}: {key} must come from .env"
    assert checked >= 6
