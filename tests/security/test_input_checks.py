"""Input the checks used to let through (hypothesis): IPv6 zone indexes, ids in non-ASCII
digits, control characters inside lists and mappings, and CSV cells that a spreadsheet splitting
on ``;`` or tab would run as formulas."""

from __future__ import annotations

import asyncio
import csv
import io
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.resources.indicators import check_indicator_id
from prefect_defender.api.resources.investigations import check_investigation_id
from prefect_defender.api.validation import (
    check_guid,
    check_incident_id,
    check_ip,
    check_no_control,
    check_sam_name,
)
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.hunting import FORMULA_STARTS, csv_line, neutralise_cell
from tests.security.kinds import CONTROL

#: decimal digits of other scripts: str.isdigit() and int() accept them
OTHER_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())
ZONES = st.one_of(
    st.text(string.ascii_letters + string.digits, min_size=1, max_size=8), st.just("")
)


@given(st.ip_addresses(v=6), ZONES)
def test_ipv6_with_a_zone_index_is_refused(address: Any, zone: str) -> None:
    with pytest.raises(ValidationError, match="zone index"):
        check_ip(f"{address}%{zone}", "ip")
    assert check_ip(str(address), "ip") == str(address)


@given(st.lists(st.one_of(OTHER_DIGITS, st.sampled_from("0123456789")), min_size=1, max_size=8))
def test_ids_take_ascii_digits_only(chars: list[str]) -> None:
    text = "".join(chars)
    checks = (check_incident_id, check_indicator_id, check_investigation_id)
    if text.isascii():
        assert check_incident_id(text.lstrip("0") or "1", "incident_id") > 0
        assert check_indicator_id(text, "indicator_id") == text
        return
    for check in checks:
        with pytest.raises(ValidationError):
            check(text, "id")


@given(st.uuids(), st.integers(0, 35), OTHER_DIGITS)
def test_a_guid_with_a_non_ascii_digit_is_refused(value: Any, at: int, digit: str) -> None:
    text = str(value)
    if text[at] == "-":
        at += 1
    with pytest.raises(ValidationError, match="ASCII"):
        check_guid(text[:at] + digit + text[at + 1 :], "tenant_id")


@given(st.sampled_from([*CONTROL, "\x85", "\x9b"]))
def test_an_account_name_with_a_control_character_is_refused(c: str) -> None:
    with pytest.raises(ValidationError):
        check_sam_name(f"jd{c}oe", "account_name")


# nested values as Prefect parameters carry them: lists, tuples and mappings of text
LEAVES = st.one_of(st.text(string.ascii_letters, max_size=5), st.integers(), st.none())
NESTED = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=4), inner, max_size=3),
    ),
    max_leaves=12,
)


def _with_control(value: Any, c: str) -> tuple[Any, bool]:
    """``value`` with ``c`` put into its first string (and whether there was one)."""
    if isinstance(value, str):
        return value + c + "x", True
    if isinstance(value, list):
        for i, item in enumerate(value):
            new, done = _with_control(item, c)
            if done:
                return [*value[:i], new, *value[i + 1 :]], True
    if isinstance(value, dict):
        for k, item in value.items():
            new, done = _with_control(item, c)
            if done:
                return {**value, k: new}, True
    return value, False


@given(NESTED, st.sampled_from(CONTROL))
def test_control_characters_are_refused_at_any_depth(value: Any, c: str) -> None:
    assert check_no_control(value, "arg") == value
    bad, placed = _with_control([value], c)
    if not placed:  # no text in it: one more item that has
        bad = [value, f"a{c}b"]
    with pytest.raises(ValidationError, match=r"arg\[[01]\]"):
        check_no_control(bad, "arg")


@given(st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=8), max_size=3), st.data())
@settings(max_examples=25)
def test_a_task_refuses_a_control_character_inside_a_list(names: list[str], data: Any) -> None:
    """``enrich_entities`` used to send ``/users/jdoe%00/alerts``: now the argument check
    refuses the call, naming the item, before a client is even made."""
    from prefect_defender.tasks.enrichment import enrich_entities

    creds = DefenderApplicationCredentials(
        tenant_id="11111111-1111-1111-1111-111111111111",
        client_id="22222222-2222-2222-2222-222222222222",
        client_secret="never-used",
    )
    bad = [*names, "jdoe" + data.draw(st.sampled_from(CONTROL))]
    with pytest.raises(ValidationError, match=rf"users\[{len(names)}\]"):
        asyncio.run(enrich_entities.fn(creds, users=bad))


CELLS = st.one_of(
    st.text(string.printable, max_size=30),
    st.builds(
        lambda a, sep, f, b: a + sep + f + b,
        st.text(string.ascii_letters, max_size=5),
        st.sampled_from([",", ";", "\t", "\n", "\r\n", "; ", ",  "]),
        st.sampled_from(list("=+-@")),
        st.text(string.ascii_letters + "()!|'", max_size=10),
    ),
    st.integers(),
    st.none(),
)


@given(st.lists(CELLS, min_size=1, max_size=6))
def test_csv_lines_are_safe_whatever_the_separator(cells: list[Any]) -> None:
    line = csv_line(neutralise_cell(c) for c in cells)
    # read back as RFC 4180 CSV: the neutralised cells, unchanged
    expected = ["" if c is None else str(neutralise_cell(c)) for c in cells]
    assert next(csv.reader(io.StringIO(line, newline=""))) == expected
    for cell in (c for c in cells if isinstance(c, str)):
        written = csv_line([neutralise_cell(cell)]).rstrip("\r\n")
        for sep in (",", ";", "\t", "\n"):
            if sep in cell:  # a cell holding a separator is quoted
                assert written.startswith('"'), (sep, written)
            # a spreadsheet splitting on ``sep`` whether or not it honours the quotes
            pieces = [p.lstrip(" ") for p in written.split(sep)]
            pieces += next(csv.reader(io.StringIO(written, newline=""), delimiter=sep), [])
            assert not [p for p in pieces if p.startswith(FORMULA_STARTS)], (sep, written)
