"""The task -> API call -> permission tables of ``docs/permissions.md``, from the code.

:func:`capability_table` renders one row per task from its declared endpoints and the endpoint
catalog; :func:`permissions_markdown` is what ``prefect-defender capabilities --write-docs``
writes between the page's markers: that table split per area, then the inverse (permission ->
tasks). ``tests/test_docs.py`` fails when the page and the code disagree.
"""

from __future__ import annotations

from collections import defaultdict

from prefect_defender.tasks import all_tasks

__all__ = ["MARKERS", "capability_table", "permissions_markdown"]

#: the lines around the generated part of ``docs/permissions.md``
MARKERS = ("<!-- capabilities:start -->", "<!-- capabilities:end -->")


def capability_table() -> str:
    """Markdown: capability -> task -> endpoint -> application / delegated permission."""
    from prefect_defender.api.catalog import endpoint

    rows = [
        "| area | task | capability | API calls | application permission | delegated permission |",
        "|---|---|---|---|---|---|",
    ]
    for area, t in all_tasks():
        eps = [endpoint(n) for n in getattr(t, "defender_endpoints", ())]
        doc = (t.fn.__doc__ or "").strip().splitlines()[0].rstrip(".")
        if getattr(t, "defender_generic", False):
            any_ep = "any catalog endpoint"
            perm = "that endpoint's permission"
            rows.append(f"| {area} | `{t.fn.__name__}` | {doc} | {any_ep} | {perm} | {perm} |")
            continue
        calls = "<br>".join(f"`{e.method} {e.path}` ({e.api_name})" for e in eps)
        app = "<br>".join(" or ".join(e.application) or "n/a" for e in eps)
        dele = "<br>".join(" or ".join(e.delegated) or "n/a" for e in eps)
        rows.append(f"| {area} | `{t.fn.__name__}` | {doc} | {calls} | {app} | {dele} |")
    return "\n".join(rows)


def _tables_per_area(table: str) -> list[str]:
    """``capability_table()`` split into one table per area (its first column)."""
    header, _rule, *rows = table.splitlines()
    columns = header.strip("| ").split(" | ")[1:]
    out: list[str] = []
    area = None
    for row in rows:
        first, rest = row.removeprefix("| ").split(" | ", 1)
        if first != area:
            area = first
            out += ["", f"### {area}", "", "| " + " | ".join(columns) + " |"]
            out.append("|" + "---|" * len(columns))
        out.append(f"| {rest}")
    return [*out, ""]


def _permission_index() -> list[str]:
    """The first (least privileged) permission of each call, and the tasks that need it."""
    from prefect_defender.api.catalog import endpoint

    by_permission: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, task in all_tasks():
        for name in getattr(task, "defender_endpoints", ()):
            ep = endpoint(name)
            for context, perms in (("application", ep.application), ("delegated", ep.delegated)):
                if perms:
                    by_permission[(context, perms[0])].add(task.fn.__name__)
    lines: list[str] = []
    for context in ("application", "delegated"):
        lines += ["", f"### {context.capitalize()} permissions", ""]
        lines += ["| permission | tasks |", "|---|---|"]
        for (ctx, perm), tasks in sorted(by_permission.items()):
            if ctx == context:
                lines.append(f"| {perm} | {', '.join(f'`{t}`' for t in sorted(tasks))} |")
    return lines


def permissions_markdown() -> str:
    """The generated part of ``docs/permissions.md`` (between :data:`MARKERS`).

    Example:
        ```python
        from prefect_defender.tasks.capabilities import permissions_markdown

        assert "## Permission → tasks" in permissions_markdown()
        ```
    """
    lines = ["## Task → API call → permission", *_tables_per_area(capability_table())]
    lines += ["## Permission → tasks", "", "The first permission listed for each call (normally"]
    lines += ["the least privileged), and the tasks that need it.", *_permission_index()]
    return "\n".join(lines)
