"""``prefect-defender mcp serve``: the MCP server for AI agents (``prefect_defender.agents``)."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Annotated

import typer

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
        typer.echo("the MCP server needs the SDK: pip install 'prefect-defender[agents]'", err=True)
        raise typer.Exit(2)
    from prefect_defender.agents.http import TOKEN_ENV, load_token, serve_http, serve_stdio
    from prefect_defender.agents.runtime import AgentRuntime
    from prefect_defender.api.errors import DefenderError

    async def main() -> int:
        try:
            runtime = await AgentRuntime.load(credentials, policy)
            token = await load_token(token_secret) if http else None
        except (DefenderError, ValueError) as exc:
            typer.echo(f"mcp serve: {exc}", err=True)
            return 2
        if not http:
            await serve_stdio(runtime)
            return 0
        if token is None:
            typer.echo(
                f"mcp serve --http needs a bearer token: --token-secret BLOCK or {TOKEN_ENV}",
                err=True,
            )
            await runtime.aclose()
            return 2
        await serve_http(runtime, token, host, port)
        return 0

    raise typer.Exit(asyncio.run(main()))
