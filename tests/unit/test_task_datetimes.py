"""Datetime parameters of tasks take aware datetimes or ISO 8601 text with a zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.tasks.arguments import _parse_datetime

aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(when=aware, digits=st.integers(min_value=0, max_value=7))
def test_defender_timestamps_are_read_exactly(when: datetime, digits: int) -> None:
    frac = f"{when.microsecond:06d}0"[:digits]
    text = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if digits else "") + "Z"
    got = _parse_datetime("ts", text)
    assert got.utcoffset() == timedelta(0)
    assert abs(got - when) < timedelta(seconds=1)


def test_offsets_are_kept() -> None:
    got = _parse_datetime("ts", "2026-11-25T01:01:12.5+02:00")
    assert got.utcoffset() == timezone(timedelta(hours=2)).utcoffset(None)


@pytest.mark.parametrize(
    "text", ["yesterday", "2026-11-25T01:01:12", "2026-11-25", "", "2026-13-01T00:00:00Z"]
)
def test_text_without_zone_or_not_a_date_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        _parse_datetime("timestamp", text)
    assert info.value.field == "timestamp"
