"""docs/api-lifecycle.md holds the tables the code generates (playbook and task surfaces, every
MDE/XDR endpoint's Graph successor, Graph permissions), so it cannot drift from the catalog."""

from __future__ import annotations

from pathlib import Path

from prefect_defender.api.catalog import CATALOG
from prefect_defender.api.clouds import Surface
from prefect_defender.flows.lifecycle_docs import MARKERS, lifecycle_markdown

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api-lifecycle.md"


def test_the_page_holds_the_generated_tables() -> None:
    start, end = MARKERS[0] + "\n", "\n" + MARKERS[1]
    text = PAGE.read_text()
    current = text.split(start, 1)[1].split(end, 1)[0]
    assert current == lifecycle_markdown(), (
        "docs/api-lifecycle.md is stale: run `prefect-defender capabilities --write-docs`"
    )


def test_every_mde_and_xdr_endpoint_is_in_the_successor_table() -> None:
    table = lifecycle_markdown().split("## Every MDE and XDR endpoint", 1)[1]
    table = table.split("## Graph permissions", 1)[0]
    for ep in CATALOG.values():
        if ep.surface is not Surface.GRAPH:
            assert f"| `{ep.name}` |" in table, ep.name
    assert "none documented: Graph v1.0 has no on-demand device action" in table
    assert "| `mde.investigations.start` |" in table and "retired 2026-09-01" in table
