"""The API readiness report: playbooks' endpoints read from their tasks, deployments from a
prefect.yaml and from the Prefect server, credentials blocks' Graph tokens from the emulator
(real msal over HTTPS), the flow's artifact and the CLI's exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.cli.errors import run
from prefect_defender.cli.main import app
from prefect_defender.flows.contain import contain_device
from prefect_defender.flows.readiness import ARTIFACT_KEY, api_readiness, build_readiness_report
from prefect_defender.flows.readiness_markdown import render
from prefect_defender.flows.sigma import sigma_hunt
from prefect_defender.tasks.playbook_endpoints import playbook_endpoints, surface_parameters
from prefect_defender.tasks.readiness import classify
from tests.flows.conftest import latest_artifact

SOC = "defender-application-credentials/ready-soc"
READONLY = "defender-application-credentials/ready-ro"


def test_a_playbooks_endpoints_come_from_its_tasks() -> None:
    contain = playbook_endpoints(contain_device)
    assert {"mde.actions.isolate", "mde.actions.unisolate"} <= contain.endpoints
    assert "apply-machine-actions" in contain.tasks
    hunt = playbook_endpoints(sigma_hunt)
    assert {"graph.hunting.run", "xdr.hunting.run", "mde.hunting.run"} <= hunt.endpoints
    assert surface_parameters(sigma_hunt, {}) == {"surface": "graph"}
    assert surface_parameters(sigma_hunt, {"surface": "XDR"}) == {"surface": "xdr"}


def test_xdr_hunting_chosen_by_a_parameter_is_flagged_with_its_date() -> None:
    hunt = playbook_endpoints(sigma_hunt)
    by_default = {f.endpoint: f for f in classify(hunt, {"surface": "graph"})}
    assert by_default["xdr.hunting.run"].use == "optional"
    assert not by_default["xdr.hunting.run"].blocking
    chosen = {f.endpoint: f for f in classify(hunt, {"surface": "xdr"})}
    xdr = chosen["xdr.hunting.run"]
    assert xdr.use == "selected" and xdr.blocking and xdr.fix == "set surface to graph"
    assert str(xdr.retires) == "2027-02-01" and xdr.source == "MC1220762"
    assert xdr.replacement == ["graph.hunting.run"]
    assert chosen["mde.hunting.run"].use == "optional"


@pytest.fixture
def blocks(prefect_harness, conn: dict) -> dict[str, str]:
    DefenderApplicationCredentials.from_emulator(conn).save("ready-soc", overwrite=True)
    DefenderApplicationCredentials.from_emulator(conn, app="readonly").save(
        "ready-ro", overwrite=True
    )
    return {"soc": SOC, "ro": READONLY}


@pytest.fixture
def deployments_file(tmp_path: Path, blocks: dict[str, str]) -> Path:
    doc = {
        "deployments": [
            {
                "name": "sigma-on-xdr",
                "entrypoint": "flows/sigma.py:sigma_hunt",
                "parameters": {"credentials": SOC, "surface": "xdr"},
            },
            {
                "name": "identity-readonly",
                "entrypoint": "flows/contain_identity.py:contain_identity",
                "parameters": {"credentials": READONLY},
            },
            {"name": "own-flow", "entrypoint": "mine/flow.py:main", "parameters": {}},
        ]
    }
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_report_flags_xdr_hunting_and_a_missing_graph_permission(
    fresh: Any, deployments_file: Path
) -> None:
    report = await build_readiness_report(deployments_file=deployments_file, include_server=False)
    deps = {d.name: d for d in report.deployments}
    sigma = deps["sigma-on-xdr"]
    [xdr] = [f for f in sigma.findings if f.endpoint == "xdr.hunting.run"]
    assert xdr.use == "selected" and sigma.blocking()
    assert deps["own-flow"].note and not deps["own-flow"].findings
    assert report.exit_code == 1 and "sigma-on-xdr" in {d.name for d in report.not_ready()}
    creds = {c.block: c for c in report.credentials}
    assert set(creds) == {SOC, READONLY}
    assert creds[SOC].context == "application" and not creds[SOC].missing
    assert "ThreatHunting.Read.All" in creds[SOC].granted  # read from the token's roles
    missing = {g.permission: g for g in creds[READONLY].missing}
    gap = missing["SecurityIdentitiesActions.ReadWrite.All"]
    assert gap.endpoints == ["graph.identity_accounts.invoke_action"]
    assert gap.deployments == ["identity-readonly"]
    text = render(report)
    assert "### sigma-on-xdr: NOT READY" in text and "retires 2027-02-01 (MC1220762)" in text
    assert "set surface to graph" in text and "**SecurityIdentitiesActions.ReadWrite.All**" in text
    # no API request was made: tokens only
    assert not fresh.admin.stats()["requests"]


async def test_server_deployments_are_read(fresh: Any, blocks: dict[str, str]) -> None:
    deployment = await sigma_hunt.ato_deployment(
        name="server-sigma-mde", parameters={"credentials": SOC, "surface": "mde"}
    )
    await deployment.apply()
    report = await build_readiness_report(credentials=SOC)
    [server] = [d for d in report.deployments if d.name == "server-sigma-mde"]
    assert server.origin == "server" and server.surfaces == {"surface": "mde"}
    assert [f.endpoint for f in server.findings if f.use == "selected"] == ["mde.hunting.run"]
    assert any(n.startswith("Prefect server") for n in report.notes)
    assert {c.block for c in report.credentials} == {SOC}


async def test_the_flow_writes_its_artifact(fresh: Any, deployments_file: Path) -> None:
    result = await api_readiness(credentials=SOC, deployments_file=str(deployments_file))
    assert result["exit_code"] == 1
    assert "sigma-on-xdr" in [d["name"] for d in result["not_ready"]]
    assert "# Defender API readiness" in await latest_artifact(ARTIFACT_KEY)


def test_cli_exit_codes_and_one_line_errors(
    deployments_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(app, ["readiness", "--deployments-file", str(deployments_file), "--no-server"])
    out = capsys.readouterr()
    assert code == 1 and "sigma-on-xdr: NOT READY" in out.out
    ready = tmp_path / "ready.yaml"
    ready.write_text(
        yaml.safe_dump(
            {
                "deployments": [
                    {
                        "name": "sigma-graph",
                        "entrypoint": "flows/sigma.py:sigma_hunt",
                        "parameters": {"credentials": SOC},
                    }
                ]
            }
        )
    )
    args = ["readiness", "--deployments-file", str(ready), "--no-server", "--json"]
    assert run(app, [*args, "--credentials", SOC]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 0 and report["credentials"][0]["missing"] == []
    for bad, expected in [
        (["--credentials", "defender-application-credentials/nope"], "no saved block"),
        (["--deployments-file", str(tmp_path / "missing.yaml")], "missing.yaml"),
        (["--bogus"], "No such option"),
    ]:
        assert run(app, ["readiness", "--no-server", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0]
