"""Merging two msal token caches (a user provider taking in a block's newer sign-in)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.auth import cache_accounts, merge_caches, read_cache
from prefect_defender.api.errors import SignInRequiredError

keys = st.sampled_from(["k1", "k2", "k3", "k4"])
expiry = st.integers(min_value=0, max_value=2_000_000_000)


def _section(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(keys, value, max_size=4)


caches = st.fixed_dictionaries(
    {
        "AccessToken": _section(st.builds(lambda e: {"expires_on": str(e)}, expiry)),
        "RefreshToken": _section(st.builds(lambda s: {"secret": s}, st.text(max_size=5))),
        "Account": _section(st.builds(lambda h: {"home_account_id": h}, st.text(max_size=5))),
    }
)


@given(caches, caches)
def test_merge_keeps_every_entry_newer_sign_in_and_latest_access_token(
    current: dict[str, Any], incoming: dict[str, Any]
) -> None:
    merged = merge_caches(current, incoming)
    for section in ("AccessToken", "RefreshToken", "Account"):
        assert set(merged[section]) == set(current[section]) | set(incoming[section])
    for key, entry in merged["RefreshToken"].items():
        assert entry == incoming["RefreshToken"].get(key, current["RefreshToken"].get(key))
    for key, entry in merged["AccessToken"].items():
        sides = [c["AccessToken"][key] for c in (current, incoming) if key in c["AccessToken"]]
        assert int(entry["expires_on"]) == max(int(s["expires_on"]) for s in sides)
    # the inputs are not changed
    assert merge_caches(current, incoming) == merged


def test_accounts_are_read_from_a_serialized_cache() -> None:
    cache = {"Account": {"a": {"home_account_id": "u2.t"}, "b": {"home_account_id": "u1.t"}}}
    assert cache_accounts(json.dumps(cache)) == ("u1.t", "u2.t")
    assert cache_accounts("") == ()
    assert cache_accounts("not json") == ()


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"a string"', "{"])
def test_a_cache_that_is_not_an_msal_cache_asks_for_a_new_sign_in(text: str) -> None:
    with pytest.raises(SignInRequiredError, match="prefect-defender login --block x"):
        read_cache(text, "prefect-defender login --block x")
