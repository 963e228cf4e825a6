"""Protected tags, device groups, accounts, patterns and groups compare as the safety rails
say: Unicode NFKC, then case folding (hypothesis varies the spelling of each protected name)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.tasks.safety import (
    SafetyPolicy,
    account_protection_reason,
    normalised,
    protection_reason,
)

NAMES = st.sampled_from(["Tier0", "DomainController", "Tier0 Servers", "Straße", "ﬁnance"])


def respell(name: str, how: int) -> str:
    """The same name as a person or a directory might write it."""
    variants = [
        name.upper(),
        name.lower(),
        name.swapcase(),
        # full-width forms: NFKC folds them back
        "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name),
        unicodedata.normalize("NFKD", name),
    ]
    return variants[how % len(variants)]


@given(NAMES, st.integers(0, 4))
def test_protected_device_group_any_spelling(name: str, how: int) -> None:
    policy = SafetyPolicy(protected_groups=[name], protected_tags=[])
    assert protection_reason(policy, {"rbacGroupName": respell(name, how)}) is not None


@given(NAMES, st.integers(0, 4))
def test_protected_tag_any_spelling(name: str, how: int) -> None:
    policy = SafetyPolicy(protected_tags=[name])
    assert protection_reason(policy, {"machineTags": ["x", respell(name, how)]}) is not None


@given(st.integers(0, 4))
def test_protected_accounts_patterns_and_groups_any_spelling(how: int) -> None:
    policy = SafetyPolicy(
        protected_accounts=["ceo@contoso.com"],
        protected_account_groups=["Tier0 Servers"],
    )
    assert account_protection_reason(policy, respell("CEO@contoso.com", how)) is not None
    assert account_protection_reason(policy, respell("BreakGlass1@contoso.com", how))
    assert account_protection_reason(policy, "a@contoso.com", None, [respell("Tier0 Servers", how)])


def test_other_names_are_not_protected() -> None:
    policy = SafetyPolicy(protected_groups=["Tier0 Servers"])
    assert protection_reason(policy, {"rbacGroupName": "Tier1 Servers", "machineTags": []}) is None
    assert account_protection_reason(policy, "jdoe@contoso.com", None, ["Sales"]) is None
    assert normalised("Ｔｉｅｒ０") == "tier0"
