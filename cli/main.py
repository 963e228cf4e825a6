"""``prefect-defender``: the emulator, the demo, delegated sign-in and consent links."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from prefect_defender.cli.agents import mcp_app
from prefect_defender.cli.errors import USAGE, CliError, run
from prefect_defender.cli.readiness import readiness


def _tenant(value: str | None, option: str = "--tenant-id") -> str | None:
    """A tenant option's value, checked (a GUID) before anything else happens."""
    from prefect_defender.api.validation import check_guid

    return None if value is None else check_guid(value, option)


def _emulator_connection(data_dir: Path) -> dict[str, Any]:
    """The emulator's ``connection.json`` in ``data_dir``, or a one-line answer."""
    from prefect_defender.blocks import load_emulator_connection

    try:
        return load_emulator_connection(data_dir)
    except (OSError, ValueError):
        raise CliError(
            f"no emulator connection in {data_dir}",
            f"start one with `prefect-defender emulator serve --data-dir {data_dir}`",
        ) from None


#: block arguments take either form (cli/block_refs.py)
BLOCK_HELP = "Block as <block-type-slug>/<name>, or a bare name when only one block has it."

app = typer.Typer(
    name="prefect-defender",
    help="Microsoft Defender response playbooks for Prefect.",
    no_args_is_help=True,
    add_completion=False,
)
emulator_app = typer.Typer(help="The local Entra ID + Defender emulator.", no_args_is_help=True)


@app.callback()
def check_install(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error (anywhere on the line).")
    ] = False,
) -> None:
    """Warn (on standard error) when Prefect is installed beside a package known to break it."""
    from prefect_defender.prefect_compat import warn_about_dependencies

    warn_about_dependencies(lambda line: typer.echo(line, err=True))


app.add_typer(emulator_app, name="emulator")
app.add_typer(mcp_app, name="mcp")
app.command("readiness")(readiness)

#: what the emulator needs beyond the library (the ``emulator`` extra)
EMULATOR_PACKAGES = ("starlette", "uvicorn", "trustme")


def require_emulator() -> None:
    """Exit with the install command when the ``emulator`` extra is missing."""
    import importlib.util

    missing = [p for p in EMULATOR_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        raise CliError(
            f"the emulator needs {', '.join(missing)}",
            "pip install 'prefect-defender[emulator]'",
        )


@emulator_app.command("serve")
def emulator_serve(
    port: Annotated[
        int | None,
        typer.Option(
            help="Port on 127.0.0.1. Default: the port DATA_DIR had (so saved blocks keep "
            "working), a free one when that is taken or new; 0 always picks a free one.",
            show_default=False,
        ),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(help="Where connection.json and keys go.", file_okay=False)
    ] = Path(".emulator"),
    config: Annotated[
        Path | None,
        typer.Option(
            help="JSON file with emulator knobs (docs/emulator.md).", exists=True, dir_okay=False
        ),
    ] = None,
    retire: Annotated[
        list[str] | None,
        typer.Option(
            help="Answer every endpoint of this surface (xdr or mde) as a retired API "
            "(404); repeatable."
        ),
    ] = None,
) -> None:
    """Serve the emulator over HTTPS on 127.0.0.1 until interrupted."""
    require_emulator()
    from prefect_defender.emulator.retirement import retired_surfaces
    from prefect_defender.emulator.server import serve

    try:
        retired = retired_surfaces(retire or [])
    except ValueError as exc:
        raise CliError(
            f"--retire: {str(exc).split(': ', 1)[1]}",
            "see `prefect-defender emulator serve --help`",
            code=USAGE,
        ) from None
    if config is not None:
        try:
            json.loads(config.read_text())
        except ValueError as exc:
            raise CliError(
                f"--config {config} is not JSON ({exc})", "see docs/emulator.md", code=USAGE
            ) from None
    serve(
        port=port,
        data_dir=str(data_dir),
        config_path=str(config) if config else None,
        retire=retired,
    )


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Scratch directory for the demo.")] = Path(".demo"),
    auto_approve: Annotated[
        bool, typer.Option(help="Approve the containment as an operator would, automatically.")
    ] = True,
    keep_running: Annotated[
        bool, typer.Option(help="Keep the emulator and Prefect server up until Ctrl-C.")
    ] = False,
    retire: Annotated[
        list[str] | None,
        typer.Option(
            help="Retire this surface in the emulator (xdr, mde; repeatable; 'none' retires "
            "nothing). Default: xdr, as Microsoft does on 1 February 2027."
        ),
    ] = None,
) -> None:
    """Run the demo playbook against the emulator (no tenant needed)."""
    require_emulator()
    from prefect_defender.cli.demo import DEFAULT_RETIRED, run_demo
    from prefect_defender.emulator.retirement import retired_surfaces

    asked = list(DEFAULT_RETIRED) if retire is None else [r for r in retire if r != "none"]
    try:
        retired = retired_surfaces(asked)
    except ValueError as exc:
        raise CliError(
            f"--retire: {str(exc).split(': ', 1)[1]}",
            "see `prefect-defender demo --help`",
            code=USAGE,
        ) from None
    code = run_demo(data_dir, auto_approve=auto_approve, keep_running=keep_running, retire=retired)
    raise typer.Exit(code)


@app.command()
def login(
    block: Annotated[
        str,
        typer.Option(
            help="The DefenderUserCredentials block (created when missing). " + BLOCK_HELP
        ),
    ],
    tenant_id: Annotated[str | None, typer.Option(help="Tenant, when creating the block.")] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Public client app id, when creating the block.")
    ] = None,
    emulator: Annotated[
        Path | None, typer.Option(help="Create/point the block at this emulator data dir.")
    ] = None,
) -> None:
    """Sign in with the device-code flow and store the token cache in a user block."""
    from prefect_defender.blocks import DefenderUserCredentials
    from prefect_defender.cli.block_refs import load_credentials_block, saved_as

    creds: DefenderUserCredentials
    if (tenant_id is None) != (client_id is None):
        raise CliError(
            "--tenant-id and --client-id create a block together",
            "give both, or neither to sign in again with the saved block",
            code=USAGE,
        )
    if emulator is not None:
        name = saved_as(block, DefenderUserCredentials)
        creds = DefenderUserCredentials.from_emulator(_emulator_connection(emulator))
    elif tenant_id and client_id:
        name = saved_as(block, DefenderUserCredentials)
        creds = DefenderUserCredentials(tenant_id=_tenant(tenant_id), client_id=client_id)
    else:
        creds = asyncio.run(load_credentials_block(block, (DefenderUserCredentials,), "login"))
        name = str(creds._block_document_name)
    creds._block_document_name = name  # the sign-in hint names this block
    user = creds.sign_in_with_device_code(show=typer.echo)
    creds.save(name, overwrite=True)
    typer.echo(f"Signed in as {user or 'the user'}; token cache stored in block {name!r}.")


@app.command("consent-url")
def consent_url(
    block: Annotated[str, typer.Option(help="The DefenderPartnerCredentials block. " + BLOCK_HELP)],
    tenant_id: Annotated[str, typer.Option(help="The customer tenant.")],
) -> None:
    """Print the admin-consent link a customer's administrator opens for the partner app."""
    from prefect_defender.blocks import DefenderPartnerCredentials
    from prefect_defender.cli.block_refs import load_credentials_block

    tenant = str(_tenant(tenant_id))
    partner = asyncio.run(
        load_credentials_block(block, (DefenderPartnerCredentials,), "consent-url")
    )
    typer.echo(partner.admin_consent_url(tenant))


def _signed_in_user(claims: dict[str, Any]) -> str | None:
    """Who a delegated token was issued to (Entra's ``upn``, ``preferred_username`` or
    ``unique_name`` claim)."""
    for claim in ("upn", "preferred_username", "unique_name"):
        if claims.get(claim):
            return str(claims[claim])
    return None


async def describe_credentials(creds: Any, tenant_id: str | None = None) -> dict[str, object]:
    """What a credential block signs in as: its kind, cloud, tenant and each token's permissions.

    Gets one token per surface (no API call). Nothing secret is in the result.

    Example:
        ```python
        from prefect_defender.blocks import DefenderApplicationCredentials

        creds = await DefenderApplicationCredentials.load("soc")
        report = await describe_credentials(creds)
        print(report["credential"])  # e.g. 'application: client secret'
        ```
    """
    from prefect_defender.api.clouds import Surface

    if tenant_id is None and hasattr(creds, "tenants"):
        tenant_id = creds.tenants[0].tenant_id
    client = creds.get_client(tenant_id)
    try:
        provider = client.transport.provider
        tokens: dict[str, object] = {}
        first_claims: dict[str, Any] = {}
        for surface in Surface:
            tok = await provider.get_token(client.endpoints.scope(surface))
            first_claims = first_claims or tok.claims
            tokens[surface.value] = {"tid": tok.tenant_id, "permissions": sorted(tok.permissions)}
    finally:
        await client.aclose()
    kind = provider.credential
    if hasattr(creds, "tenants"):
        kind = kind.replace("application:", "partner (multi-tenant application):", 1)
    user = _signed_in_user(first_claims) if kind.startswith("user") else None
    return {
        "block": type(creds).get_block_type_name(),
        "credential": kind,
        **({"user": user} if kind.startswith("user") else {}),
        "cloud": str(getattr(creds, "cloud", "")),
        "tenant_id": provider.tenant_id,
        "client_id": provider.client_id,
        "proxy": client.settings.proxy.display() if client.settings.proxy else None,
        "tokens": tokens,
    }


@app.command()
def whoami(
    block: Annotated[str, typer.Argument(help=BLOCK_HELP)],
    tenant_id: Annotated[
        str | None, typer.Option(help="Partner blocks: the customer tenant (default: the first).")
    ] = None,
) -> None:
    """Get a token with a saved block and print which credential kind it uses (and for a user
    block, the signed-in user), its tenant and the permissions each token carries (no API
    call)."""
    from prefect_defender.cli.block_refs import load_credentials_block

    tenant = _tenant(tenant_id)

    async def report() -> dict[str, object]:
        creds = await load_credentials_block(block, purpose="whoami")
        return await describe_credentials(creds, tenant)

    typer.echo(json.dumps(asyncio.run(report()), indent=2))


@app.command()
def capabilities(
    write_docs: Annotated[
        bool,
        typer.Option(
            help="Rewrite the tables between the markers of docs/permissions.md and "
            "docs/api-lifecycle.md."
        ),
    ] = False,
) -> None:
    """Print the capability -> task -> permission table (generated from the tasks)."""
    from prefect_defender.tasks.capabilities import (
        MARKERS,
        capability_table,
        permissions_markdown,
    )

    if not write_docs:
        typer.echo(capability_table())
        return
    from prefect_defender.flows import lifecycle_docs

    pages = [
        (Path("docs/permissions.md"), MARKERS, permissions_markdown),
        (Path("docs/api-lifecycle.md"), lifecycle_docs.MARKERS, lifecycle_docs.lifecycle_markdown),
    ]
    for page, (start, end), generate in pages:
        if not page.is_file():
            raise CliError(f"{page} is not here", "run this from the repository's root folder")
        head, _, rest = page.read_text().partition(start)
        _, _, tail = rest.partition(end)
        page.write_text(f"{head}{start}\n{generate()}\n{end}{tail}")
        typer.echo(f"{page} updated")


def main() -> None:
    """The ``prefect-defender`` console script: a mistake is answered in one line (exit 2 for
    a usage mistake, 1 for a failure); ``--debug`` shows the traceback."""
    raise SystemExit(run(app))


if __name__ == "__main__":
    main()
