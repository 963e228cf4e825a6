"""Identity answers in every shape Microsoft's pages show, end to end over HTTPS.

The emulator answers as the list and get pages' examples do (``identity_shape="example"``:
``"provider": "ActiveDirectory"``, no ``userPrincipalName`` or ``emailAddress``, the get answer
wrapped in ``value``); list, get and ``invoke_identity_actions`` read it, match users given by
UPN through their Entra ID object id and on-premises SID, and say which providers each
containment reached and which had no account of the user.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from prefect_defender.api.models.identities import EntraUser, IdentityAccount
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks.identities import (
    IdentityIndex,
    get_identity_account,
    invoke_identity_actions,
    list_identity_accounts,
)

DOMAIN = "contoso.example"


@pytest.fixture
def example_shape(fresh: Any) -> Iterator[Any]:
    fresh.admin.patch_config(identity_shape="example")
    yield fresh
    fresh.admin.patch_config(identity_shape="resource")


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


async def test_list_and_get_read_the_examples_shape(example_shape: Any, creds: Any) -> None:
    idents = await list_identity_accounts.fn(creds)
    assert idents and all(i.user_principal_name is None for i in idents)
    providers = {a.identity_provider for i in idents for a in i.accounts}
    assert providers == {"entraID", "activeDirectory", "okta"}  # read from "provider"
    hybrid = next(i for i in idents if i.account("activeDirectory"))
    again = await get_identity_account.fn(creds, hybrid.id)  # {"value": {...}} unwrapped
    assert again.id == hybrid.id
    assert again.on_premises_security_identifier == hybrid.on_premises_security_identifier
    assert {a.identity_provider for a in again.accounts} >= {"entraID", "activeDirectory"}


async def test_a_upn_reaches_active_directory_when_the_answer_has_no_upn(
    example_shape: Any, creds: Any, tenants: dict
) -> None:
    upn = f"jdoe@{DOMAIN}"
    [out] = await invoke_identity_actions.fn(creds, [upn], ["disable"])
    assert out.status == "succeeded", out
    assert {(s["via"], s["provider"]) for s in out.result} == {
        ("defender", "entraID"),
        ("defender", "activeDirectory"),
    }
    assert out.reason == "reached: activeDirectory, entraID; no account found in: okta"
    log = example_shape.admin.dump(tenants["contoso"], "identity_log")
    assert ("activeDirectory", "disable") in {(e["provider"], e["action"]) for e in log}
    [back] = await invoke_identity_actions.fn(creds, [upn], ["enable"])
    assert back.status == "succeeded"


async def test_okta_is_reached_and_a_cloud_only_user_says_what_it_lacks(
    example_shape: Any, creds: Any
) -> None:
    okta, cloud = f"dprince@{DOMAIN}", f"ckent@{DOMAIN}"
    outs = await invoke_identity_actions.fn(creds, [okta, cloud], ["revokeAllSessions"])
    assert [o.status for o in outs] == ["succeeded", "succeeded"]
    assert {s["provider"] for s in outs[0].result} == {"entraID", "okta"}
    assert outs[0].reason == "reached: entraID, okta; no account found in: activeDirectory"
    assert outs[1].reason == "reached: entraID; no account found in: activeDirectory, okta"


async def test_an_unknown_user_says_no_identity_matched(example_shape: Any, creds: Any) -> None:
    [out] = await invoke_identity_actions.fn(
        creds, [f"nobody@{DOMAIN}"], ["disable"], fallback_to_entra=False
    )
    assert out.status == "skipped"
    assert "no Defender identity matched the user" in (out.reason or "")
    assert "activeDirectory, entraID, okta" in (out.reason or "")


def _identity(**kw: Any) -> IdentityAccount:
    base = {"id": "i1", "displayName": "jdoe", "domain": "CONTOSO", "accounts": []}
    return IdentityAccount.model_validate(base | kw)


def test_match_by_sid_then_by_account_name_in_the_same_domain_only() -> None:
    by_sid = _identity(id="i1", onPremisesSecurityIdentifier="S-1-5-21-1-2-3-1105")
    by_name = _identity(id="i2", displayName="asmith")
    index = IdentityIndex([by_sid, by_name])
    user = {"id": "o1", "userPrincipalName": "x@contoso.example"}
    sid = EntraUser.model_validate(user | {"onPremisesSecurityIdentifier": "s-1-5-21-1-2-3-1105"})
    assert index.of_entra_user(sid) is by_sid
    named = {"onPremisesSamAccountName": "ASmith", "onPremisesDomainName": "contoso.local"}
    assert index.of_entra_user(EntraUser.model_validate(user | named)) is by_name
    other = named | {"onPremisesDomainName": "fabrikam.local"}
    assert index.of_entra_user(EntraUser.model_validate(user | other)) is None
    twice = IdentityIndex([by_name, _identity(id="i3", displayName="asmith")])
    assert twice.of_entra_user(EntraUser.model_validate(user | named)) is None  # ambiguous


def test_both_provider_spellings_and_any_case() -> None:
    for account in (
        {"identityProvider": "activeDirectory", "identifier": "a", "actions": ["disable"]},
        {"provider": "ActiveDirectory", "identifier": "a", "actions": ["Disable"]},
    ):
        ident = IdentityAccount.model_validate({"value": {"id": "i", "accounts": [account]}})
        acc = ident.account("activeDirectory")
        assert acc is not None and acc.actions == ["disable"]


async def test_sign_ins_send_no_orderby(monkeypatch: pytest.MonkeyPatch) -> None:
    """The list page documents $top, $skiptoken and $filter, newest first: no $orderby."""
    from prefect_defender.api.resources import identity_protection

    sent: list[Any] = []

    async def fake(transport: Any, ep: Any, *, params: Any = None, **kw: Any) -> Any:
        sent.append(params)
        return
        yield

    monkeypatch.setattr(identity_protection, "iterate_next_link", fake)
    api = identity_protection.SignInsAPI(type("Client", (), {"transport": None})())  # type: ignore[arg-type]
    assert [s async for s in api.iterate(user="jdoe@contoso.example")] == []
    assert sent and "$orderby" not in (sent[0] or {}) and "$filter" in sent[0]
