"""Every catalog endpoint carries its lifecycle: MDE and XDR deprecated (MC1220762, 1 February
2027) with their Graph replacement or the reason there is none, startInvestigation retired
(MC1411577), Graph current; and the rule that tells a retired API's answer from a missing
resource."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.catalog import CATALOG, endpoint
from prefect_defender.api.clouds import Surface
from prefect_defender.api.errors import DefenderError
from prefect_defender.api.lifecycle import Status, retired_answer
from prefect_defender.api.lifecycle_table import REPLACEMENTS, lifecycle_of


def test_every_endpoint_has_a_status_and_mde_xdr_are_deprecated_with_date_and_source() -> None:
    for ep in CATALOG.values():
        life = ep.lifecycle
        if ep.surface is Surface.GRAPH:
            assert life.status is Status.CURRENT, ep.name
            continue
        assert life.status in (Status.DEPRECATED, Status.RETIRED), ep.name
        if life.status is Status.DEPRECATED:
            assert (life.retires, life.source) == (date(2027, 2, 1), "MC1220762"), ep.name
        assert life.source_url.startswith("https://"), ep.name


def test_replacements_are_current_graph_endpoints_or_the_reason_is_given() -> None:
    for ep in CATALOG.values():
        life = ep.lifecycle
        if life.is_current:
            assert not life.replacements
            continue
        for name in life.replacements:
            assert endpoint(name).surface is Surface.GRAPH or ep.status is Status.RETIRED
        if not life.replacements:
            assert life.note.startswith("none documented: "), ep.name
            assert "none documented" in life.summary()


def test_the_table_names_only_catalog_endpoints_and_misses_none() -> None:
    assert set(REPLACEMENTS) | {"mde.investigations.start"} == {
        n for n, e in CATALOG.items() if e.surface is not Surface.GRAPH
    }
    with pytest.raises(KeyError, match="lifecycle_table"):
        lifecycle_of("mde.something.new", Surface.MDE)


def test_start_investigation_is_retired_with_a_full_scan_in_its_place() -> None:
    ep = endpoint("mde.investigations.start")
    assert ep.status is Status.RETIRED
    assert (ep.lifecycle.retires, ep.lifecycle.source) == (date(2026, 9, 1), "MC1411577")
    assert ep.replacement == ("mde.actions.av_scan",)


def test_incidents_and_hunting_name_their_graph_successor() -> None:
    assert endpoint("xdr.incidents.list").replacement == ("graph.incidents.list",)
    assert endpoint("xdr.incidents.update").replacement == (
        "graph.incidents.update",
        "graph.incidents.comment",
    )
    assert endpoint("xdr.hunting.run").replacement == ("graph.hunting.run",)
    assert endpoint("mde.hunting.run").replacement == ("graph.hunting.run",)
    assert endpoint("mde.actions.isolate").replacement == ()
    assert "automated actions" in endpoint("mde.actions.isolate").lifecycle.note


def _err(status: int, code: str | None, message: str) -> DefenderError:
    return DefenderError(message, status=status, code=code)


BEFORE, AFTER = date(2026, 12, 7), date(2027, 2, 2)


def test_a_410_or_a_retired_message_means_retired_on_a_deprecated_endpoint() -> None:
    xdr = endpoint("xdr.incidents.list")
    assert retired_answer(xdr, _err(410, "Gone", "Gone"), BEFORE)
    assert retired_answer(xdr, _err(404, "NotFound", "The API has been retired."), BEFORE)
    # before the date a plain 404 is what it says
    assert not retired_answer(xdr, _err(404, "NotFound", "No route"), BEFORE)
    # from the date on, a 404 that names no missing resource is the route gone
    assert retired_answer(xdr, _err(404, "NotFound", "No route"), AFTER)
    assert retired_answer(xdr, _err(404, None, "HTTP 404"), AFTER)
    # a missing resource stays a missing resource
    missing = _err(404, "ResourceNotFound", "Incident 7 was not found")
    assert not retired_answer(endpoint("xdr.incidents.get"), missing, AFTER)


def test_a_current_endpoint_never_answers_retired() -> None:
    graph = endpoint("graph.incidents.get")
    assert not retired_answer(graph, _err(410, "Gone", "retired"), AFTER)
    assert not retired_answer(graph, _err(404, "NotFound", "retired"), AFTER)


@given(
    status=st.integers(100, 599).filter(lambda s: s not in (404, 410)),
    message=st.text(max_size=60),
)
def test_only_404_and_410_can_mean_retired(status: int, message: str) -> None:
    assert not retired_answer(endpoint("mde.machines.list"), _err(status, None, message), AFTER)
