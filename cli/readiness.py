"""``prefect-defender readiness``: which deployments depend on Defender APIs Microsoft retires,
and which Graph permissions each credentials block lacks (``flows.readiness``).

Exit status 0 (ready), 1 (a deployment depends on a retiring endpoint with no replacement
configured), 2 (a mistake on the command line: an unknown block or an unreadable file, one line
through ``cli.errors``; any other failure is one line too, exit 1)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["readiness"]


def readiness(
    credentials: Annotated[
        str | None,
        typer.Option(
            help="Check only this credentials block, e.g. defender-application-credentials/soc "
            "(default: every block the deployments name)."
        ),
    ] = None,
    deployments_file: Annotated[
        Path | None,
        typer.Option(help="A prefect.yaml (default: the package's deployments/prefect.yaml)."),
    ] = None,
    server: Annotated[
        bool, typer.Option(help="Also read the configured Prefect server's deployments.")
    ] = True,
    allow_no_successor: Annotated[
        bool,
        typer.Option(
            help="Do not fail on endpoints Microsoft documents no Graph successor for "
            "(device actions, indicators, live response); they stay listed."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Report the deployments that depend on the MDE and XDR APIs (retiring after 1 February
    2027) and the Graph permissions to grant; exit code 1 when a deployment depends on a
    retiring endpoint with no replacement configured."""
    from prefect_defender.api.errors import ValidationError
    from prefect_defender.cli.errors import USAGE, CliError
    from prefect_defender.flows.readiness import build_readiness_report
    from prefect_defender.flows.readiness_markdown import render

    try:
        report = asyncio.run(
            build_readiness_report(credentials, deployments_file, server, allow_no_successor)
        )
    except ValidationError as exc:  # a block or file named on the command line
        fix = (
            "give a readable prefect.yaml"
            if exc.field == "deployments_file"
            else "check the block with `prefect block ls`"
        )
        raise CliError(exc.message, fix, code=USAGE) from None
    if as_json:
        typer.echo(json.dumps({**report.model_dump(mode="json"), "exit_code": report.exit_code}))
    else:
        typer.echo(render(report))
    raise typer.Exit(report.exit_code)
