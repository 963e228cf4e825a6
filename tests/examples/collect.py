"""Every Python example of the project: the README's and the docs pages' ```python blocks, and
the examples in the public docstrings (fenced ```python blocks and ``>>>`` doctest lines).

An example that needs a real tenant (placeholders for ids and secrets, a certificate file, an
Azure host), or something else the test run cannot have (a person signing in, a Slack
workspace, an MCP client), says so on one of its lines with a comment starting ``# needs ``
(``# needs a real tenant``); it is compiled, its imports are resolved and it is type-checked,
not run. doctest's ``+SKIP`` counts the same.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the layers whose public docstrings hold examples (tests, docs scripts and benchmarks are not
#: public API)
LAYERS = ("api", "blocks", "tasks", "flows", "deployments", "emulator", "agents", "cli", "package")
#: the comment that marks an example the tests cannot run (``# needs a real tenant`` ...)
NEEDS = re.compile(r"^\s*# needs ", re.M)
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M
)


@dataclass(frozen=True)
class Example:
    """One example: where it is, its code, and whether it needs a real tenant."""

    path: Path
    line: int
    owner: str  # "" for Markdown; the dotted module of a docstring
    code: str
    #: the exception a doctest shows its last line raising (``module.Error: message``), or ""
    raises: str = ""

    @property
    def id(self) -> str:
        """``path:line`` relative to the repository."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def needs_tenant(self) -> bool:
        """Marked as needing a real tenant or service (or doctest's ``+SKIP``)."""
        return bool(NEEDS.search(self.code)) or "doctest: +SKIP" in self.code


def fenced(text: str) -> list[tuple[int, str]]:
    """``(line offset, code)`` of every ```python block of ``text``."""
    out = []
    for m in _FENCE.finditer(text):
        offset = text.count("\n", 0, m.start()) + 1
        out.append((offset, textwrap.dedent(m.group("body"))))
    return out


def doctest_lines(text: str) -> list[tuple[int, str, str]]:
    """``(line offset, code, raises)`` of each run of ``>>>``/``...`` lines: their outputs are
    dropped, except a traceback after the run's last line, whose last line (``module.Error:
    message``) is what the example says it raises."""
    out: list[tuple[int, str, str]] = []
    lines = textwrap.dedent(text).splitlines()
    start, code, output = None, [], []
    for i, line in enumerate([*lines, ""]):
        s = line.strip()
        if s.startswith(">>> ") or s == ">>>":
            start, output = (i if start is None else start), []
            code.append(s[4:])
        elif (s.startswith("... ") or s == "...") and code and not output:
            code.append(s[4:])
        elif code and not s:
            raises = output[-1] if output[:1] == ["Traceback (most recent call last):"] else ""
            out.append((start or 0, "\n".join(code) + "\n", raises))
            start, code, output = None, [], []
        elif code:
            output.append(s)
    return out


def markdown_examples() -> list[Example]:
    """The README's and every hand-written docs page's Python blocks."""
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
    pages += sorted(p for p in (ROOT / "docs").rglob("*.md") if "dev" not in p.parts)
    return [Example(p, n, "", code) for p in pages for n, code in fenced(p.read_text())]


def _public(node: ast.AST) -> bool:
    return not getattr(node, "name", "x").startswith("_")


def _walk_public(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    """The module and its public classes, functions and methods, with their docstrings."""
    found: list[tuple[ast.AST, str]] = []

    def visit(node: ast.AST) -> None:
        doc = ast.get_docstring(node, clean=False)  # type: ignore[arg-type]
        if doc:
            found.append((node, doc))
        for child in ast.iter_child_nodes(node):
            kinds = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            if isinstance(child, kinds) and _public(child):
                visit(child)

    visit(tree)
    return found


def docstring_examples() -> list[Example]:
    """The examples in the docstrings of every public module, class, function and method; a
    package's ``_private`` parts count (their public names are the package's)."""
    out: list[Example] = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            rel = path.relative_to(ROOT / layer).with_suffix("")
            if any(p.startswith("_") for p in rel.parts[:-1]):
                continue
            parts = [p for p in rel.parts if p != "__init__"]
            module = ".".join(
                ["prefect_defender", *([] if layer == "package" else [layer]), *parts]
            )
            tree = ast.parse(path.read_text())
            for node, doc in _walk_public(tree):
                first = getattr(node, "body", [None])[0]
                base = getattr(first, "lineno", 1) if node is not tree else 1
                for offset, code in fenced(doc):
                    out.append(Example(path, base + offset, module, code))
                for offset, code, raises in doctest_lines(doc):
                    out.append(Example(path, base + offset, module, code, raises))
    return out


def all_examples() -> list[Example]:
    """Markdown first, then docstrings."""
    return [*markdown_examples(), *docstring_examples()]
