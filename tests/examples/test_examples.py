"""Every Python example of the README, the docs pages and the public docstrings runs, against
the emulator, and does what it says; one that needs a real tenant is at least type-checked.

See ``tests/examples/collect.py`` (what is collected) and ``runner.py`` (how it runs: a
coroutine never awaited fails it).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.examples.collect import Example, all_examples
from tests.examples.runner import run_example

EXAMPLES = all_examples()
RUNNABLE = [e for e in EXAMPLES if not e.needs_tenant]


@pytest.mark.parametrize("ex", RUNNABLE, ids=[e.id for e in RUNNABLE])
def test_example_runs(ex: Example, shared: dict[str, Any]) -> None:
    run_example(ex, shared)


NOT_RUN = [e for e in EXAMPLES if e.needs_tenant]


def _as_module(ex: Example) -> str:
    """The example as a module mypy can check: a fragment with a top-level ``await`` becomes
    the body of an ``async def``."""
    from tests.examples.runner import has_top_level_await

    code = ex.code.replace("# doctest: +SKIP", "")
    # a docstring's example sees its module's names, as doctest gives it
    head = f"from {ex.owner} import *  # noqa: F403\n" if ex.owner else ""
    if not has_top_level_await(code):
        return head + code
    body = "".join(f"    {line}\n" if line.strip() else "\n" for line in code.splitlines())
    return f"{head}async def _example() -> None:\n{body}"


@pytest.mark.parametrize("ex", NOT_RUN, ids=[e.id for e in NOT_RUN])
def test_an_example_that_needs_a_real_tenant_imports(ex: Example) -> None:
    """Its imports resolve (run them), and it compiles."""
    import ast

    tree = ast.parse(_as_module(ex))
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    exec(compile(ast.Module(body=imports, type_ignores=[]), ex.id, "exec"), {})


def test_the_examples_that_need_a_real_tenant_type_check(tmp_path: Any) -> None:
    """mypy over every example that is not run, against the package's sources."""
    import subprocess
    import sys

    from tests.examples.collect import ROOT

    config = tmp_path / "mypy.ini"  # not the package's strict settings: examples are snippets
    settings = ["[mypy]", "check_untyped_defs = True", "disallow_untyped_defs = False"]
    # Prefect and the other dependencies are read as Any: the examples' use of this package
    # is what is checked, and reading Prefect's sources would triple the time
    skip = ["[mypy-prefect.*,pydantic.*,httpx.*,msal.*,mcp.*]", "follow_imports = skip"]
    config.write_text("\n".join([*settings, "follow_imports = silent", *skip, ""]))
    files = []
    for i, ex in enumerate(NOT_RUN):
        path = tmp_path / f"example_{i}.py"
        path.write_text(f"# {ex.id}\n{_as_module(ex)}")
        files.append(str(path))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--follow-imports=silent",
            "--ignore-missing-imports",
            "--check-untyped-defs",
            "--no-error-summary",
            *files,
        ],
        cwd=ROOT,
        env={**__import__("os").environ, "MYPYPATH": str(ROOT / ".typecheck")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
