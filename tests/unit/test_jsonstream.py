"""The streaming reader of large JSON answers gives exactly what ``json.loads`` gives."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import InvalidResponseError, ResponseTooDeepError
from prefect_defender.api.jsonstream import iter_object

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
documents = st.dictionaries(
    st.sampled_from(["schema", "results", "Results", "stats", "@odata.context", "x"]),
    st.lists(values, max_size=6) | values,
    max_size=5,
)


@given(
    doc=documents, chunk=st.integers(min_value=1, max_value=64), indent=st.sampled_from([None, 2])
)
@settings(max_examples=300)
def test_same_members_and_items_as_json_loads(doc: dict[str, Any], chunk: int, indent: Any) -> None:
    text = json.dumps(doc, indent=indent)
    got = list(iter_object(io.StringIO(text), stream={"results", "Results"}, chunk_size=chunk))
    want: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if key in ("results", "Results") and isinstance(value, list):
            want += [(key, item) for item in value]
        else:
            want.append((key, value))
    assert got == want


def test_numbers_split_across_chunks_are_read_whole() -> None:
    text = '{"results": [12345678901234567890, 3.14159, -7], "n": 1000000}'
    for chunk in range(1, len(text) + 1):
        got = list(iter_object(io.StringIO(text), stream={"results"}, chunk_size=chunk))
        assert got == [
            ("results", 12345678901234567890),
            ("results", 3.14159),
            ("results", -7),
            ("n", 1000000),
        ]


@pytest.mark.parametrize(
    "text", ['{"results": [1, 2', '["a"]', '{"results": [1 2]}', '{"a": 1 "b": 2}', "", '{"a":']
)
def test_malformed_or_truncated_documents_raise(text: str) -> None:
    """An answer file that is not a JSON object: the project's typed error, not ValueError."""
    with pytest.raises(InvalidResponseError):
        list(iter_object(io.StringIO(text), stream={"results"}, chunk_size=3))


@pytest.mark.parametrize("depth", [65, 100_000])
def test_rows_nested_too_deep_are_a_typed_error(depth: int) -> None:
    """A row nested deeper than the bound (64): ResponseTooDeepError, never RecursionError."""
    text = '{"results": [{"a": 1}, ' + "[" * depth + "]" * depth + "]}"
    with pytest.raises(ResponseTooDeepError):
        list(iter_object(io.StringIO(text), stream={"results"}, chunk_size=1 << 12))
