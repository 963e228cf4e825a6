"""Pages of the docs site that are generated from the code, so they cannot drift.

mkdocs-gen-files runs this script at every ``mkdocs build`` / ``mkdocs serve``. It writes, as
virtual files (nothing lands in ``docs/``):

* ``playbooks.md``: every flow in ``flows/`` with its parameters (from the flow's signature and
  docstring, as the Prefect UI shows them) and the deployments in ``deployments/prefect.yaml``;
* ``benchmarks.md``: ``benchmarks/README.md`` and the newest ``benchmarks/results/*.md``;
* ``cli.md``: every ``prefect-defender`` command and option, from the Typer app;
* ``reference/``: one mkdocstrings page per public module of ``api``, ``blocks``, ``tasks``,
  ``flows`` and ``agents``: a package's ``_private`` parts are documented by its face (its
  ``__init__``); block pages start with a table of the block's fields. Plus the ``SUMMARY.md``
  that mkdocs-literate-nav turns into the reference navigation.

Griffe reads the sources through ``.typecheck/prefect_defender``, which ``docs/hooks.py`` makes.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import griffe
import mkdocs_gen_files
import yaml

from prefect_defender.blocks import ui_text

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "prefect_defender"
# the API reference covers the library's public layers; the emulator and CLI have their own pages
REFERENCE = (
    ("blocks", "Blocks"),
    ("tasks", "Tasks"),
    ("flows", "Flows"),
    ("api", "API client"),
    ("agents", "Agents (MCP server)"),
)


# --------------------------------------------------------------------------- links
def fix_links(markdown: str, base: str = "") -> str:
    """Make the relative links of a repository file (at ``base``) valid on the site.

    ``docs/x.md`` becomes ``x.md`` (a page of the site); any other relative link (a source file,
    a folder) and any ``#anchor`` (of the README, not of this page) becomes its text, followed by
    the path in code, since the site does not carry it.
    """

    def repl(m: re.Match[str]) -> str:
        text, target = m.group(1), m.group(2)
        if target.startswith("#"):
            return text
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            return m.group(0)
        path = posixpath.normpath(posixpath.join(base, target))
        if path.startswith("docs/") and not path.startswith("docs/dev/") and ".md" in path:
            return f"[{text}]({path.removeprefix('docs/')})"
        return text if text.strip("`") == path else f"{text} (`{path}`)"

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", repl, markdown)


def shift_headings(markdown: str, by: int) -> str:
    """Move every ATX heading ``by`` levels (negative: up), outside fenced code; 1 <= level <= 6."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#{1,6}) ", line)
        if m:
            level = min(6, max(2, len(m.group(1)) + by))
            line = "#" * level + line[len(m.group(1)) :]
        out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------- playbooks
def _flows() -> list[tuple[str, Any]]:
    from prefect import Flow

    pkg = importlib.import_module(f"{PACKAGE}.flows")
    found: list[tuple[str, Any]] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for obj in vars(mod).values():
            if isinstance(obj, Flow) and getattr(obj.fn, "__module__", None) == mod.__name__:
                found.append((info.name, obj))
    return found


def _deployments() -> dict[str, list[dict[str, Any]]]:
    """``"flows/x.py:fn"`` -> the deployments of prefect.yaml that run it."""
    path = ROOT / "deployments" / "prefect.yaml"
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if path.exists():
        for dep in yaml.safe_load(path.read_text()).get("deployments") or []:
            out[dep.get("entrypoint", "")].append(dep)
    return out


def _when(dep: dict[str, Any]) -> str:
    parts = []
    for s in dep.get("schedules") or []:
        if "interval" in s:
            parts.append(_seconds(s["interval"]))
        elif "cron" in s:
            parts.append(f"cron `{s['cron']}`")
        elif "rrule" in s:
            parts.append(f"rrule `{s['rrule']}`")
    for t in dep.get("triggers") or []:
        expect = ", ".join(f"`{e}`" for e in t.get("expect") or [])
        parts.append(f"on {expect}" if expect else "on an event")
    return "; ".join(parts) or "on demand"


def _cell(text: Any) -> str:
    """One table cell of prose (pipes escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code_cell(text: Any) -> str:
    """One table cell of code: Python-Markdown's tables leave pipes inside backticks alone."""
    return f"`{' '.join(str(text).split())}`"


def _seconds(n: float) -> str:
    n = int(n)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if n % size == 0:
            k = n // size
            return f"every {unit}" if k == 1 else f"every {k} {unit}s"
    return f"every {n} s"


def _summary(doc: str) -> tuple[str, str]:
    """First line, and the docstring's prose outside its Google-style sections."""
    # the Sphinx-role rewrite the API reference and the Prefect UI use
    doc = ui_text(inspect.cleandoc(doc or "")) or ""
    first, _, rest = doc.partition("\n")
    prose = []
    for para in rest.strip().split("\n\n"):
        if re.match(r"^(Args|Arguments|Parameters|Returns|Raises|Example|Examples):", para):
            continue
        if para.startswith((" ", "\t")):  # the body of a skipped section
            continue
        prose.append(para)
    return first.strip(), "\n\n".join(prose).strip()


DEFAULT_DESCRIPTIONS = {
    "credentials": "The credentials block, as `<block-type-slug>/<name>`.",
}


def _public_module(module: str) -> str:
    """Where a name defined in ``module`` is documented: a ``_private`` part's package face."""
    parts = module.split(".")
    private = [i for i, part in enumerate(parts) if part.startswith("_")]
    return ".".join(parts[: private[0]]) if private else module


def _type_hints(fn: Any) -> dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(fn)
    except Exception:  # an unresolvable annotation only costs the links
        return {}


def _models_in(hint: Any) -> list[type]:
    """Documented pydantic models named by a type hint (``X | None``, ``list[X]`` ...)."""
    import typing

    from pydantic import BaseModel

    if hint is None:
        return []
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        public = not hint.__name__.startswith("_") and hint.__module__.startswith(PACKAGE)
        return [hint] if public and hint.__doc__ else []
    return [m for arg in typing.get_args(hint) for m in _models_in(arg)]


def playbooks_page() -> str:
    deployments = _deployments()
    flows = _flows()
    lines = [
        "# Playbook catalogue",
        "",
        "Every playbook is a Prefect flow in `flows/`. Its parameters are typed, so the Prefect UI",
        "renders them as a form (Deployments > Run > Custom run). Parameters name the credentials",
        "block as `<block-type-slug>/<name>` (for example `defender-application-credentials/soc`),",
        "so schedules and event triggers can pass it; a partner block acts in every customer",
        "tenant, or in `tenant_ids`. What each playbook needs from Entra ID is on",
        "[Permissions](permissions.md); what every playbook shares is on",
        "[Playbooks](playbooks-overview.md), [Safety rails](safety.md),",
        "[Notifications](notifications.md) and [Deploying](deploying.md).",
        "",
        "!!! note",
        "    Generated at every build from the flows' signatures and docstrings and from",
        "    `deployments/prefect.yaml`.",
        "",
        "| playbook (flow name) | deployments | what it does |",
        "|---|---|---|",
    ]
    for module, fl in flows:
        anchor = fl.name
        entry = f"flows/{module}.py:{fl.fn.__name__}"
        deps = ", ".join(f"`{d['name']}` ({_when(d)})" for d in deployments.get(entry, [])) or "—"
        first, _ = _summary(fl.fn.__doc__ or fl.description or "")
        lines.append(f"| [`{fl.name}`](#{anchor}) | {_cell(deps)} | {_cell(first)} |")
    lines.append("")

    for module, fl in flows:
        fn = fl.fn
        qual = f"{PACKAGE}.flows.{module}.{fn.__name__}"
        first, prose = _summary(fn.__doc__ or fl.description or "")
        lines += [
            f"## `{fl.name}` {{#{fl.name}}}",
            "",
            f"**{first}**",
            "",
        ]
        if prose:
            lines += [fix_links(prose), ""]
        # the reference page documents only what has a docstring: link only to that
        python = f"[`{qual}`][{qual}]" if fn.__doc__ else f"`{qual}`"
        lines += [f"Python: {python} (`flows/{module}.py`).", ""]
        entry = f"flows/{module}.py:{fn.__name__}"
        for dep in deployments.get(entry, []):
            desc = f": {dep['description']}" if dep.get("description") else ""
            lines.append(f"- deployment **`{dep['name']}`**, {_when(dep)}{desc}")
        if deployments.get(entry):
            lines.append("")

        props = (fl.parameters.model_dump().get("properties") or {}) if fl.parameters else {}
        hints = _type_hints(fn)
        sig = inspect.signature(fn)
        lines += ["| parameter | type | default | description |", "|---|---|---|---|"]
        for pname, p in sig.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            ann = "" if p.annotation is p.empty else p.annotation
            ann = ann if isinstance(ann, str) else inspect.formatannotation(ann)
            default = "*required*" if p.default is p.empty else _code_cell(repr(p.default))
            desc = (props.get(pname) or {}).get("description") or DEFAULT_DESCRIPTIONS.get(pname)
            desc = _cell(desc or "")
            for model in _models_in(hints.get(pname)):
                home = _public_module(model.__module__)
                desc += f" See [`{model.__name__}`][{home}.{model.__qualname__}]."
            lines.append(f"| `{pname}` | {_code_cell(ann)} | {default} | {desc.strip()} |")
        lines.append("")

    return "\n".join(lines)


# --------------------------------------------------------------------------- benchmarks
def benchmarks_page() -> str:
    """``benchmarks/README.md`` (how it is measured, the summary), then the newest results."""
    about = (ROOT / "benchmarks" / "README.md").read_text().strip()
    lines = [fix_links(shift_headings(about, 0), base="benchmarks"), ""]
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    if not results:
        return "\n".join([*lines, "No results in the repository yet: run `make bench`.", ""])
    latest = results[-1]
    text = latest.read_text().strip()
    text = re.sub(r"^# [^\n]*\n", "", text, count=1).strip()  # our own heading replaces it
    older = ", ".join(f"`{p.name}`" for p in reversed(results[:-1]))
    lines += [
        f"## Newest results: {latest.stem}",
        "",
        f"`benchmarks/results/{latest.name}`, produced by `make bench`.",
    ]
    if older:
        lines.append(f"Earlier runs in the repository: {older}.")
    lines += ["", fix_links(shift_headings(text, 1), base="benchmarks/results"), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def cli_page() -> str:
    """Every ``prefect-defender`` command with its options, from the Typer app itself."""
    import typer

    from prefect_defender.cli.main import app

    # duck-typed: Typer carries its own copy of click's classes
    root = typer.main.get_command(app)
    lines = [
        "# Command line",
        "",
        "`prefect-defender` is installed with the package. Generated from the command's own",
        "definitions at every build; `prefect-defender COMMAND --help` prints the same.",
        "",
    ]

    def walk(cmd: Any, path: list[str]) -> None:
        if hasattr(cmd, "commands"):
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], [*path, name])
            return
        pieces = cmd.collect_usage_pieces(cmd.context_class(cmd, info_name=path[-1]))
        usage = " ".join(["prefect-defender", *path, *pieces])
        lines.extend([f"## `{' '.join(path)}`", "", _cell(cmd.help or ""), ""])
        lines.extend(["```text", usage, "```", ""])
        rows = []
        for param in cmd.params:
            if param.name == "help" or getattr(param, "hidden", False):
                continue
            if param.param_type_name == "option":
                names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
                if param.required:
                    shown = "*required*"
                elif param.is_flag:
                    shown = _code_cell(bool(param.default))
                else:
                    shown = _code_cell(param.default)
                rows.append(f"| {names} | {shown} | {_cell(param.help or '')} |")
            else:
                help_text = getattr(param, "help", "") or ""
                rows.append(f"| `{(param.name or '').upper()}` | *required* | {_cell(help_text)} |")
        if rows:
            lines.extend(["| option | default | description |", "|---|---|---|", *rows, ""])

    walk(root, [])
    return "\n".join(lines)


# --------------------------------------------------------------------------- API reference
def block_fields(module: str) -> str:
    """Tables of the fields of the Prefect blocks defined in ``module`` or its private parts
    (what the UI form shows)."""
    from prefect.blocks.core import Block
    from pydantic import SecretStr

    mod = importlib.import_module(module)
    out = []
    for obj in vars(mod).values():
        if not (
            isinstance(obj, type)
            and issubclass(obj, Block)
            and (obj.__module__ == module or obj.__module__.startswith(f"{module}._"))
            and not inspect.isabstract(obj)
            and getattr(obj, "_block_type_slug", None)
        ):
            continue
        out += [
            f"## {obj._block_type_name} block fields",
            "",
            f"`{obj.__name__}`, block type `{obj._block_type_slug}`: the form the Prefect UI "
            "shows. Secret fields are stored encrypted and never displayed.",
            "",
            "| field | type | default | description |",
            "|---|---|---|---|",
        ]
        own = set(vars(obj).get("__annotations__", {}))
        # the block's own fields first, then the shared connection settings
        for name, info in sorted(obj.model_fields.items(), key=lambda kv: kv[0] not in own):
            ann = info.annotation
            ann_text = ann if isinstance(ann, str) else inspect.formatannotation(ann)
            ann_text = ann_text.replace("pydantic.types.", "").replace("typing.", "")
            if info.is_required():
                default = "*required*"
            elif info.default_factory is not None:
                default = _code_cell(repr(info.default_factory()))
            else:
                default = _code_cell(repr(info.default))
            secret = " (secret)" if "SecretStr" in ann_text or ann is SecretStr else ""
            lines_desc = _cell(info.description or "")
            out.append(f"| `{name}`{secret} | {_code_cell(ann_text)} | {default} | {lines_desc} |")
        out.append("")
    if out:
        out += ["## Reference", ""]
    return "\n".join(out) + ("\n" if out else "")


def _public(rel: Path) -> bool:
    """A module of the public API: no ``_private`` part (a package's ``__init__`` is its face)."""
    return not any(part.startswith("_") and part != "__init__" for part in rel.parts)


def reference_pages() -> None:
    summary: list[str] = []
    for sub, title in REFERENCE:
        folder = ROOT / sub
        summary.append(f"* [{title}](reference/{sub}/index.md)")
        modules = sorted(
            rel
            for p in folder.rglob("*.py")
            if "__pycache__" not in p.parts
            and _public(rel := p.relative_to(folder).with_suffix(""))
        )
        for rel in modules:
            parts = list(rel.parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            ident = ".".join([PACKAGE, sub, *parts])
            doc_path = Path("reference", sub, *parts, "index.md" if is_pkg else "")
            if not is_pkg:
                doc_path = Path("reference", sub, *parts).with_suffix(".md")
            extra = block_fields(ident) if sub == "blocks" else ""
            with mkdocs_gen_files.open(doc_path, "w") as f:
                f.write(f"# `{ident}`\n\n{extra}::: {ident}\n")
            mkdocs_gen_files.set_edit_path(doc_path, Path("..", sub, rel).with_suffix(".py"))
            if parts:
                indent = "    " * len(parts)
                summary.append(f"{indent}* [{parts[-1]}]({doc_path.as_posix()})")
    with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as f:
        # links relative to reference/
        f.write("\n".join(line.replace("](reference/", "](") for line in summary) + "\n")


@contextmanager
def _griffe_silenced() -> Iterator[None]:
    """Mute Griffe's logger (wherever mkdocstrings has moved it) for the duration."""
    target = getattr(griffe.logger, "_logger", None)
    target = getattr(target, "logger", target)  # mkdocstrings wraps it in a LoggerAdapter
    loggers = [lg for lg in (target, logging.getLogger("griffe")) if isinstance(lg, logging.Logger)]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        # a level, not `disabled`: importing Prefect runs logging.dictConfig, which re-enables
        # every existing logger
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.setLevel(level)


def main() -> None:
    # Importing the flows makes Prefect parse their docstrings with Griffe for the parameter
    # schema. Prefect silences the "griffe" logger for that, but mkdocstrings has moved Griffe's
    # logger under mkdocs', so Prefect's own parse would be reported (and fail --strict) here.
    with _griffe_silenced():
        pages = {
            "playbooks.md": playbooks_page(),
            "benchmarks.md": benchmarks_page(),
            "cli.md": cli_page(),
        }
        for name, text in pages.items():
            with mkdocs_gen_files.open(name, "w") as f:
                f.write(text)
        reference_pages()


main()
