"""One-line answers to mistakes, for every ``prefect-defender`` command.

A command raises :class:`CliError` (what is wrong; what to do next) or lets any exception
through; :func:`run` turns it into **one line** on standard error and exit status 2 (a usage
mistake: a bad flag, argument or block name) or 1 (a failure: a missing or invalid block, an
unreachable server, a refused sign-in, a missing permission). No traceback, unless ``--debug``
is given anywhere on the command line. Any Typer app of ``cli/`` can run through :func:`run`.

Example:
    ```python
    import typer

    from prefect_defender.cli.errors import CliError, run

    app = typer.Typer()


    @app.command()
    def hello(name: str) -> None:
        if not name.isidentifier():
            raise CliError(f"{name!r} is not a name", "give letters and digits", code=2)
        typer.echo(f"hello {name}")


    assert run(app, ["--bogus", "x"], prog="hello") == 2  # unknown option: usage, exit 2
    assert run(app, ["?"], prog="hello") == 2  # CliError with code 2
    assert run(app, ["ada"], prog="hello") == 0
    ```
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["FAILURE", "USAGE", "CliError", "explain", "run", "validation_reason"]

USAGE = 2
FAILURE = 1
DEBUG_FLAG = "--debug"


class CliError(Exception):
    """A mistake a command answers in one line: ``what`` is wrong, ``fix`` says what to do next.

    ``code`` is :data:`USAGE` (2) for a mistake in the command line, :data:`FAILURE` (1) for
    anything else.
    """

    def __init__(self, what: str, fix: str = "", *, code: int = FAILURE) -> None:
        self.what, self.fix, self.code = what, fix, code
        super().__init__(self.line)

    @property
    def line(self) -> str:
        """``what; fix`` on one line."""
        what = self.what.rstrip(". ")
        text = f"{what}; {self.fix}" if self.fix else what
        return " ".join(text.split())


def _is(exc: BaseException, name: str) -> bool:
    """``exc`` is click's exception class ``name``: by name, because Typer may carry its own
    copy of click (``typer._click``) beside the ``click`` package."""
    return any(k.__name__ == name and "click" in k.__module__ for k in type(exc).__mro__)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _usage(exc: Any, prog: str) -> CliError:
    path = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else prog
    return CliError(exc.format_message(), f"see `{path} --help`", code=USAGE)


def validation_reason(exc: Any) -> str:
    """The first reason of a pydantic ``ValidationError``: ``field: message``."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
    msg = str(first.get("msg", _first_line(exc))).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where + ': ' if where else ''}{msg}{more}"


def _pydantic(exc: Any) -> CliError:
    return CliError(
        f"invalid {exc.title}: {validation_reason(exc)}",
        "fix the block in the Prefect UI (Blocks) or save it again",
    )


def _defender(exc: Any) -> CliError:
    from prefect_defender.api import errors as e

    # one line, without Entra's tracking ids (trace, correlation, timestamp): not for a reader
    text = re.sub(r"\s*Trace ID: .*?Timestamp: \S+", "", " ".join(str(exc).split()))
    if isinstance(exc, e.ValidationError):
        return CliError(exc.message, "check the value and try again", code=USAGE)
    if isinstance(exc, e.PermissionDeniedError):
        grant = " or ".join(exc.required) or "the permission named above"
        api = f" on {exc.api}" if exc.api else ""
        return CliError(
            f"permission missing: {text}",
            f"grant {grant}{api} to the app and consent (docs/permissions.md)",
        )
    if isinstance(exc, e.SignInRequiredError | e.ConsentRequiredError):
        return CliError(text)  # their message names the command or link
    if isinstance(exc, e.TransportError):
        return CliError(
            text,
            "is the emulator running (prefect-defender emulator serve --data-dir DIR) or the "
            "tenant's host reachable? check the block's hosts, proxy and CA bundle",
        )
    if isinstance(exc, e.AuthenticationError):
        return CliError(
            f"sign-in refused: {text}", "check the block's tenant id, client id and credential"
        )
    return CliError(f"{type(exc).__name__}: {text}")


def _prefect_api_unreachable(exc: BaseException) -> CliError | None:
    import httpx

    if not isinstance(exc, httpx.TransportError):
        return None
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value() or "the temporary Prefect server"
    return CliError(
        f"cannot reach the Prefect API at {url} ({type(exc).__name__})",
        "start one with `prefect server start` and export PREFECT_API_URL",
    )


def explain(exc: BaseException, prog: str = "prefect-defender") -> CliError:
    """The one-line answer to ``exc``."""
    from pydantic import ValidationError as PydanticValidationError

    from prefect_defender.api.errors import DefenderError

    if isinstance(exc, CliError):
        return exc
    if _is(exc, "UsageError"):
        return _usage(exc, prog)
    if isinstance(exc, DefenderError):
        return _defender(exc)
    if isinstance(exc, PydanticValidationError):
        return _pydantic(exc)
    if _is(exc, "ClickException"):
        return CliError(exc.format_message())  # type: ignore[attr-defined]
    unreachable = _prefect_api_unreachable(exc)
    if unreachable is not None:
        return unreachable
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return CliError(f"{exc.strerror}{where}")
    if isinstance(exc, KeyboardInterrupt) or _is(exc, "Abort"):
        return CliError("interrupted")
    return CliError(
        f"{type(exc).__name__}: {_first_line(exc)}",
        f"run again with {DEBUG_FLAG} for the traceback",
    )


def _split_debug(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug`` (anywhere before a ``--``), and whether it was there."""
    args, debug, rest = [], False, False
    for arg in argv:
        if arg == "--":
            rest = True
        if arg == DEBUG_FLAG and not rest:
            debug = True
            continue
        args.append(arg)
    return args, debug


def run(app: typer.Typer, argv: Sequence[str] | None = None, prog: str = "prefect-defender") -> int:
    """Run ``app`` on ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Every error ends as one line ``PROG: what; what to do next`` on standard error; with
    ``--debug`` the exception propagates with its traceback.
    """
    args, debug = _split_debug(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name=prog, standalone_mode=False)
    except (Exception, KeyboardInterrupt) as exc:
        if _is(exc, "Exit"):  # typer.Exit raised outside click's own handling
            return int(getattr(exc, "exit_code", 0))
        if _is(exc, "NoArgsIsHelpError"):  # the help text, as click prints it
            shown: Any = exc
            typer.echo(shown.format_message(), err=True)
            return USAGE
        if debug:
            raise
        err = explain(exc, prog)
        typer.echo(f"{prog}: {err.line}", err=True)
        return err.code
    return result if isinstance(result, int) else 0
