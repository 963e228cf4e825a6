"""The KQL escaper cannot be broken out of: checked by running the query in duckdb-kql."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb_kql
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.kql import (
    IocQuery,
    kql_datetime,
    kql_identifier,
    kql_string,
    kql_string_list,
    kql_timespan,
)

SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=60,
).filter(lambda s: all(ord(c) >= 32 or c in "\n\r\t" for c in s) and "\x7f" not in s)


@pytest.fixture(scope="module")
def con():
    c = duckdb_kql.connect()
    c.execute("CREATE TABLE T (V VARCHAR, N BIGINT)")
    c.execute("INSERT INTO T VALUES ('decoy', 0)")
    return c


@given(value=SAFE_TEXT)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_literal_matches_exactly_its_value(con, value: str) -> None:
    assume(value != "decoy")
    con.execute("DELETE FROM T WHERE N = 1")
    con.execute("INSERT INTO T VALUES (?, 1)", [value])
    rows = duckdb_kql.kql(con, f"T | where V == {kql_string(value)} | project N").fetchall()
    # the value is data, never syntax: exactly the one row, never the decoy, never an error
    assert rows == [(1,)]


@given(value=SAFE_TEXT)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_literal_in_list_cannot_add_operators(con, value: str) -> None:
    q = f"T | where V in {kql_string_list([value, 'nothing-else'])} | count"
    assert duckdb_kql.kql(con, q).fetchall()[0][0] <= 1


@given(st.text(min_size=1, max_size=20))
def test_control_characters_refused(s: str) -> None:
    bad = "a\x01b" + s
    with pytest.raises(ValidationError, match="control character"):
        kql_string(bad)


def test_helpers() -> None:
    assert (
        kql_datetime(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "datetime(2024-01-02T03:04:05Z)"
    )
    with pytest.raises(ValidationError):
        kql_datetime(datetime(2024, 1, 1))
    assert kql_timespan(timedelta(days=1)) == "86400s"
    with pytest.raises(ValidationError):
        kql_timespan(timedelta(days=31))
    assert kql_identifier("DeviceName") == "DeviceName"
    for bad in ("Device Name", "x|take", "1abc", ""):
        with pytest.raises(ValidationError):
            kql_identifier(bad)
    with pytest.raises(ValidationError):
        kql_string_list([])


@pytest.mark.parametrize(
    "build,bad",
    [
        (IocQuery.for_ip, '1.2.3.4" or 1==1 //'),
        (IocQuery.for_domain, 'evil.example" | take 100'),
        (IocQuery.for_hashes, ["a" * 39]),
        (IocQuery.for_url, "javascript:alert(1)"),
        (IocQuery.for_account, "admin@contoso.com"),
    ],
)
def test_ioc_builder_rejects_invalid_values(build, bad) -> None:
    with pytest.raises(ValidationError):
        build(bad)


def test_ioc_builder_lookback_bounds() -> None:
    with pytest.raises(ValidationError):
        IocQuery.for_ip("10.0.0.1", lookback_days=0)
    with pytest.raises(ValidationError):
        IocQuery.for_ip("10.0.0.1", lookback_days=31)
