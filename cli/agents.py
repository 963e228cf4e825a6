"""``prefect-defender mcp serve``: the MCP server for AI agents (``prefect_defender.agents``)."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Annotated

import typer

from prefect_defender.cli.errors import USAGE, CliError

__all__ = ["mcp_app"]

mcp_app = typer.Typer(help="The MCP server for AI agents (read tools; writes only propose).")


@mcp_app.callback()
def _group() -> None:
    """The MCP server for AI agents."""


@mcp_app.command("serve")
def serve(
    credentials: Annotated[
        str, typer.Option(help="Credentials block, e.g. defender-partner-credentials/mssp.")
    ],
    policy: Annotated[
        str | None,
        typer.Option(help="Name of a DefenderAgentPolicy block (default: the built-in policy)."),
    ] = None,
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")
    ] = False,
    host: Annotated[str, typer.Option(help="HTTP: the address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP: the port (0 picks a free one).")] = 8765,
    token_secret: Annotated[
        str | None,
        typer.Option(
            help="HTTP: a Prefect Secret block holding the bearer token (else the "
            "PREFECT_DEFENDER_MCP_TOKEN environment variable)."
        ),
    ] = None,
) -> None:
    """Serve the MCP server over stdio (default) or streamable HTTP (``--http``)."""
    if importlib.util.find_spec("mcp") is None:
        raise CliError("the MCP server needs the MCP SDK", "pip install 'prefect-defender[agents]'")
    from prefect_defender.agents.http import TOKEN_ENV, load_token, serve_http, serve_stdio
    from prefect_defender.agents.runtime import AgentRuntime

    async def main() -> None:
        token = await load_token(token_secret) if http else None
        if http and token is None:
            raise CliError(
                "mcp serve --http needs a bearer token (no anonymous HTTP)",
                f"give --token-secret BLOCK or set {TOKEN_ENV}",
                code=USAGE,
            )
        runtime = await AgentRuntime.load(credentials, policy)
        if token is None:
            await serve_stdio(runtime)
        else:
            await serve_http(runtime, token, host, port)

    asyncio.run(main())
