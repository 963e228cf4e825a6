"""``defender-api-readiness``: is this SOC ready for the MDE and XDR API retirement?

For each deployment (``deployments/prefect.yaml`` and, when a Prefect server is configured, the
server's) the report lists the deprecated and retired endpoints its playbook can call, when they
retire and what replaces them; for each credentials block and tenant, the Microsoft Graph
permissions its token lacks for the Graph paths, by name. See
:mod:`~prefect_defender.tasks.readiness` for how endpoints are classified. The same
report is printed by ``prefect-defender readiness`` (exit code 1 when a deployment depends on a
retiring endpoint with no replacement configured).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import BlockRef, LocalFile
from prefect_defender.flows.readiness_markdown import render
from prefect_defender.flows.readiness_sources import (
    DEFAULT_DEPLOYMENTS,
    server_configured,
    server_deployments,
    yaml_deployments,
)
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.readiness import (
    CredentialReadiness,
    DeploymentReadiness,
    ReadinessReport,
)
from prefect_defender.tasks.readiness_tokens import check_credentials

__all__ = ["ARTIFACT_KEY", "api_readiness", "build_readiness_report"]

ARTIFACT_KEY = "defender-api-readiness"


def _merge(base: list[DeploymentReadiness], server: list[DeploymentReadiness]) -> list[Any]:
    """The server's deployments replace the file's ones of the same name (they hold the
    parameters actually used); the others are kept."""
    names = {d.name for d in server}
    return [*(d for d in base if d.name not in names), *server]


async def build_readiness_report(
    credentials: str | None = None,
    deployments_file: str | Path | None = None,
    include_server: bool = True,
    allow_no_successor: bool = False,
) -> ReadinessReport:
    """The readiness report (``ValidationError`` for a file that cannot be read, or an explicit
    ``credentials`` block that does not exist).

    Example:
        ```python
        report = await build_readiness_report("defender-application-credentials/soc")
        print(render(report))
        exit_code = report.exit_code  # what `prefect-defender readiness` exits with
        ```
    """
    path = Path(deployments_file) if deployments_file else DEFAULT_DEPLOYMENTS
    deployments = yaml_deployments(path)
    notes = [f"{path}: {len(deployments)} deployment(s)"]
    if include_server:
        server, note = await server_deployments()
        deployments = _merge(deployments, server)
        notes.append(note)
    named = {d.credentials for d in deployments if d.credentials}
    refs = [credentials] if credentials else sorted(named)
    if not credentials and named and not server_configured():
        # loading a block would start a temporary local server: only when asked for by name
        notes.append("credentials not checked: no Prefect server configured (use --credentials)")
        refs = []
    checked: list[CredentialReadiness] = []
    for ref in refs:
        try:
            checked += await check_credentials(ref, deployments)
        except ValidationError as exc:
            if credentials:  # asked for by name: say so, do not report around it
                raise
            checked.append(
                CredentialReadiness(block=ref, tenant_id="", context="", error=exc.message)
            )
    return ReadinessReport(
        deployments=deployments,
        credentials=checked,
        notes=notes,
        allow_no_successor=allow_no_successor,
    )


@flow(name="defender-api-readiness", log_prints=True)
@checked_parameters
async def api_readiness(
    credentials: BlockRef | None = None,
    deployments_file: LocalFile | None = None,
    allow_no_successor: bool = False,
) -> dict[str, Any]:
    """Report which deployments depend on retiring Defender APIs and which Graph permissions
    each credentials block lacks (markdown artifact ``defender-api-readiness``).

    Parameters:
        credentials: check only this block (``<block-type-slug>/<name>``); default: every block
            the deployments name.
        deployments_file: a ``prefect.yaml`` (default: the package's ``deployments/prefect.yaml``);
            the server's deployments are read too.
        allow_no_successor: do not count endpoints Microsoft documents no Graph successor for
            (device actions, indicators, live response ...) as not ready; they stay listed.

    Returns the report (``exit_code`` 1 when a deployment is not ready).

    Example:
        ```python
        import asyncio

        from prefect_defender.flows.readiness import api_readiness

        result = asyncio.run(api_readiness(credentials="defender-application-credentials/soc"))
        print(result["exit_code"], [d["name"] for d in result["not_ready"]])
        ```
    """
    report = await build_readiness_report(
        credentials, deployments_file, allow_no_successor=allow_no_successor
    )
    await acreate_markdown_artifact(
        markdown=render(report), key=ARTIFACT_KEY, description="Defender API readiness"
    )
    not_ready = report.not_ready()
    task_logger().info(
        "%d deployment(s), %d not ready; %d credentials check(s)",
        len(report.deployments),
        len(not_ready),
        len(report.credentials),
    )
    return {
        **report.model_dump(mode="json"),
        "exit_code": report.exit_code,
        "not_ready": [d.model_dump(mode="json") for d in not_ready],
    }
