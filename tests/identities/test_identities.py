"""Identity response end to end over HTTPS: XDR identity accounts, Entra users, risky users.

Real msal and httpx against the emulator. Checks that actions reach every account of a hybrid
identity (Entra ID and Active Directory), that Entra ID's own actions stand in where Defender has
no account that takes the action, that their effects are real (a disabled user cannot sign in,
revoked sessions force a new sign-in), one outcome per user and action, 403s naming the missing
permission, and that invalid input sends nothing (counted at the emulator).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import (
    NotFoundError,
    PermissionDeniedError,
    SignInRequiredError,
    ValidationError,
)
from prefect_defender.api.models.identities import InvokeActionResult
from prefect_defender.api.validation import check_user_ref
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderUserCredentials
from prefect_defender.tasks.identities import (
    confirm_users_compromised,
    describe_accounts,
    dismiss_risky_users,
    get_entra_user,
    get_identity_account,
    get_risky_user,
    invoke_identity_actions,
    list_health_issues,
    list_identity_accounts,
    list_risk_detections,
    list_risky_users,
    list_sign_ins,
    revoke_user_sessions,
    set_users_enabled,
)

DOMAIN = "contoso.example"


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


@pytest.fixture
def readonly(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, "readonly")


def _writes(stats: dict) -> int:
    return sum(
        r["count"]
        for r in stats["requests"]
        if r["route"].split(" ")[0] in ("POST", "PATCH") and "/v1.0/" in r["route"]
    )


def _requests(stats: dict) -> int:
    return sum(r["count"] for r in stats["requests"])


async def test_identity_accounts_list_their_accounts_per_provider(fresh: Any, creds: Any) -> None:
    idents = await list_identity_accounts.fn(creds)
    by_upn = {i.user_principal_name: i for i in idents}
    jdoe, ckent = by_upn[f"jdoe@{DOMAIN}"], by_upn[f"ckent@{DOMAIN}"]
    assert {a.identity_provider for a in jdoe.accounts} == {"entraID", "activeDirectory"}
    assert {a.identity_provider for a in ckent.accounts} == {"entraID"}
    assert "forcePasswordReset" in jdoe.account("activeDirectory").actions  # type: ignore[union-attr]
    assert "forcePasswordReset" not in jdoe.account("entraID").actions  # type: ignore[union-attr]
    again = await get_identity_account.fn(creds, jdoe.id)
    assert again.id == jdoe.id and again.entra_object_id == jdoe.entra_object_id
    with pytest.raises(NotFoundError):
        await get_identity_account.fn(creds, "0104216-0539-4838-88b1-55baafdc296b")


async def test_disable_reaches_both_accounts_of_a_hybrid_user_then_enable(
    fresh: Any, creds: Any, tenants: dict
) -> None:
    upn = f"jdoe@{DOMAIN}"
    [out] = await invoke_identity_actions.fn(creds, [upn], ["disable"])
    assert out.status == "succeeded", out
    assert out.item == f"{upn} disable"
    steps = {(s["via"], s["provider"]) for s in out.result}
    assert steps == {("defender", "entraID"), ("defender", "activeDirectory")}
    assert all(s["correlation_id"] for s in out.result)
    user = await get_entra_user.fn(creds, upn)
    assert user.account_enabled is False
    log = fresh.admin.dump(tenants["contoso"], "identity_log")
    assert {(e["provider"], e["action"]) for e in log} >= {
        ("entraID", "disable"),
        ("activeDirectory", "disable"),
    }
    ident = next(i for i in await list_identity_accounts.fn(creds) if i.user_principal_name == upn)
    assert ident.is_enabled is False
    [back] = await invoke_identity_actions.fn(creds, [upn], ["enable"])
    assert back.status == "succeeded"
    assert (await get_entra_user.fn(creds, upn)).account_enabled is True


async def test_one_outcome_per_user_and_action_with_skips_and_failures(
    fresh: Any, creds: Any
) -> None:
    users = [f"ckent@{DOMAIN}", f"jdoe@{DOMAIN}", f"ghost@{DOMAIN}"]
    outcomes = await invoke_identity_actions.fn(
        creds, users, ["forcePasswordReset", "revokeAllSessions"]
    )
    assert [o.item for o in outcomes] == [
        f"{u} {a}" for u in users for a in ("forcePasswordReset", "revokeAllSessions")
    ]
    by = {o.item: o for o in outcomes}
    # cloud-only: no AD account, and Entra ID has no password-reset action to stand in
    skipped = by[f"ckent@{DOMAIN} forcePasswordReset"]
    assert skipped.status == "skipped" and "no equivalent" in (skipped.reason or "")
    # hybrid: the AD account takes the reset
    reset = by[f"jdoe@{DOMAIN} forcePasswordReset"]
    assert reset.status == "succeeded"
    assert [s["provider"] for s in reset.result] == ["activeDirectory"]
    # unknown to Defender: the Entra fallback is tried and fails with Graph's own code
    ghost = by[f"ghost@{DOMAIN} revokeAllSessions"]
    assert ghost.status == "failed"
    assert ghost.error and ghost.error["code"] == "Request_ResourceNotFound"
    assert ghost.result[0]["via"] == "entra"


async def test_entra_fallback_when_defender_has_no_entra_account(fresh: Any, creds: Any) -> None:
    """Only the AD provider is asked of Defender; Entra ID's own action covers the cloud side."""
    upn = f"asmith@{DOMAIN}"
    [out] = await invoke_identity_actions.fn(
        creds, [upn], ["disable"], providers=["activeDirectory"]
    )
    assert [s["via"] for s in out.result] == ["defender"]
    [both] = await invoke_identity_actions.fn(
        creds, [upn], ["markUserAsCompromised"], fallback_to_entra=True
    )
    assert [(s["via"], s["provider"]) for s in both.result] == [("defender", "entraID")]
    await invoke_identity_actions.fn(creds, [upn], ["enable"], providers=["activeDirectory"])
    risky = {r.user_principal_name: r for r in await list_risky_users.fn(creds)}
    assert risky[upn].risk_state == "confirmedCompromised"


async def test_dry_run_reads_and_sends_no_action(fresh: Any, creds: Any) -> None:
    fresh.admin.reset_stats()
    outcomes = await invoke_identity_actions.fn(
        creds, [f"bwayne@{DOMAIN}", f"dprince@{DOMAIN}"], ["disable"], dry_run=True
    )
    assert [o.status for o in outcomes] == ["dry_run", "dry_run"]
    assert _writes(fresh.admin.stats()) == 0
    assert (await get_entra_user.fn(creds, f"bwayne@{DOMAIN}")).account_enabled is True


async def test_disabled_user_cannot_sign_in_and_revoked_sessions_force_a_new_sign_in(
    fresh: Any, conn: dict, creds: Any
) -> None:
    user_creds = DefenderUserCredentials.from_emulator(conn)
    upn = await asyncio.to_thread(user_creds.sign_in_with_device_code, lambda m: None)
    stored = user_creds.token_cache.get_secret_value()  # type: ignore[union-attr]

    def later() -> DefenderUserCredentials:
        # a later run in a new worker process: msal keeps a 400 answer to the same refresh-token
        # request in its process-wide HTTP cache, so the same process would see the cached
        # "disabled" answer for 60 s even after the account is enabled again
        from prefect_defender.api import auth

        auth.REGISTRY.clear()
        block = DefenderUserCredentials.from_emulator(conn, token_cache=stored, username=upn)
        block.persist_refreshed_cache = False
        prov = block.token_provider()
        for item in list(prov._cache.search("AccessToken")):  # force the refresh-token path
            prov._cache.remove_at(item)
        return block

    [off] = await set_users_enabled.fn(creds, [upn], enabled=False)
    assert off.status == "succeeded"
    async with later().get_client() as client:
        with pytest.raises(SignInRequiredError) as info:
            await client.machines.list(limit=1)
    assert "AADSTS50057" in str(info.value) and "disabled" in str(info.value)
    [on] = await set_users_enabled.fn(creds, [upn], enabled=True)
    assert on.status == "succeeded"
    async with later().get_client() as client:
        assert len(await client.machines.list(limit=1)) == 1  # the refresh token works again
    [rev] = await revoke_user_sessions.fn(creds, [upn])
    assert rev.status == "succeeded"
    async with later().get_client() as client:
        with pytest.raises(SignInRequiredError, match="login") as revoked:
            await client.machines.list(limit=1)
    assert "AADSTS50057" not in str(revoked.value)


async def test_risky_users_confirm_and_dismiss_with_one_outcome_each(
    fresh: Any, creds: Any
) -> None:
    high = await list_risky_users.fn(creds, risk_level="high", risk_state="atRisk")
    assert f"jdoe@{DOMAIN}" in {u.user_principal_name for u in high}
    dprince = await get_entra_user.fn(creds, f"dprince@{DOMAIN}")
    with pytest.raises(NotFoundError):
        await get_risky_user.fn(creds, "00000000-0000-4000-8000-00000000beef")
    unknown = "00000000-0000-4000-8000-00000000dead"
    outcomes = await confirm_users_compromised.fn(creds, [dprince.id, unknown])
    assert [(o.item, o.status) for o in outcomes] == [
        (dprince.id, "succeeded"),
        (unknown, "failed"),
    ]
    confirmed = await list_risky_users.fn(creds, risk_state="confirmedCompromised")
    assert dprince.id in {u.id for u in confirmed}
    assert (await get_risky_user.fn(creds, dprince.id)).risk_level == "high"
    [undo] = await dismiss_risky_users.fn(creds, [dprince.id])
    assert undo.status == "succeeded"
    dismissed = await list_risky_users.fn(creds, risk_state="dismissed")
    assert dprince.id in {u.id for u in dismissed}


async def test_missing_permission_is_named(fresh: Any, readonly: Any) -> None:
    assert await list_identity_accounts.fn(readonly, limit=2)
    [out] = await set_users_enabled.fn(readonly, [f"ckent@{DOMAIN}"], enabled=False)
    assert out.status == "failed"
    assert "User.EnableDisableAccount.All" in (out.reason or "")
    [act] = await invoke_identity_actions.fn(readonly, [f"ckent@{DOMAIN}"], ["revokeAllSessions"])
    assert act.status == "failed"
    assert "SecurityIdentitiesActions.ReadWrite.All" in str(act.error)
    with pytest.raises(PermissionDeniedError, match=r"IdentityRiskyUser\.ReadWrite\.All"):
        async with readonly.get_client() as client:
            await client.risky_users.dismiss(["00000000-0000-4000-8000-000000000001"])


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: invoke_identity_actions.fn(c, ["jdoe"], ["disable"]), "users[0]"),
        (lambda c: invoke_identity_actions.fn(c, [f"jdoe@{DOMAIN}"], ["Disable"]), "actions[0]"),
        (
            lambda c: invoke_identity_actions.fn(
                c, [f"jdoe@{DOMAIN}"], ["disable"], providers=["azuread"]
            ),
            "providers[0]",
        ),
        (lambda c: invoke_identity_actions.fn(c, [], ["disable"]), "users"),
        (lambda c: set_users_enabled.fn(c, ["a b@contoso.example"], enabled=False), "users[0]"),
        (lambda c: confirm_users_compromised.fn(c, [f"jdoe@{DOMAIN}"]), "user_ids[0]"),
        (lambda c: list_risky_users.fn(c, risk_level="severe"), "risk_level"),
        (lambda c: revoke_user_sessions.fn(c, ["x@y"]), "users[0]"),
    ],
)
async def test_invalid_input_sends_nothing(fresh: Any, creds: Any, call: Any, field: str) -> None:
    fresh.admin.reset_stats()
    with pytest.raises(ValidationError) as info:
        await call(creds)
    assert info.value.field == field
    assert _requests(fresh.admin.stats()) == 0


async def test_an_action_the_account_does_not_list_is_refused_before_sending(
    fresh: Any, creds: Any
) -> None:
    ident = next(
        i
        for i in await list_identity_accounts.fn(creds)
        if i.user_principal_name == f"ckent@{DOMAIN}"
    )
    acc = ident.account("entraID")
    assert acc is not None
    fresh.admin.reset_stats()
    async with creds.get_client() as client:
        with pytest.raises(ValidationError, match="not available"):
            await client.identity_accounts.invoke_action(
                ident.id, acc.identifier, "forcePasswordReset", "entraID", identity=ident
            )
    assert _requests(fresh.admin.stats()) == 0


def test_invoke_action_result_reads_both_documented_spellings() -> None:
    example = {"value": {"accountId": "a", "action": "disable", "provider": "activeDirectory"}}
    resource = {"accountId": "a", "action": "disable", "identityProvider": "okta"}
    assert InvokeActionResult.model_validate(example).identity_provider == "activeDirectory"
    assert InvokeActionResult.model_validate(resource).identity_provider == "okta"


_LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._'+-", min_size=1, max_size=30)
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(local=_LOCAL, a=_LABEL, b=_LABEL)
def test_user_principal_names_are_accepted_or_refused_clearly(local: str, a: str, b: str) -> None:
    upn = f"{local}@{a}.{b}"
    try:
        assert check_user_ref(upn) == upn
    except ValidationError as exc:
        assert exc.field == "user"
        assert local.startswith(".") or local.endswith(".") or ".." in local
    with pytest.raises(ValidationError):
        check_user_ref(upn, upn=False)


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_any_text_is_a_user_reference_or_a_validation_error(text: str) -> None:
    try:
        out = check_user_ref(text)
    except ValidationError:
        return
    assert "/" not in out and "?" not in out and "#" not in out and " " not in out


async def test_sign_ins_risk_detections_and_health_issues(fresh: Any, creds: Any) -> None:
    upn = f"jdoe@{DOMAIN}"
    rows = await list_sign_ins.fn(creds, user=upn, look_back_hours=48)
    assert rows and {r.user_principal_name for r in rows} == {upn}
    times = [r.created_date_time for r in rows]
    assert times == sorted(times, reverse=True)  # newest first
    failed = [r for r in rows if not r.succeeded]
    assert failed and failed[0].status.error_code == 50126  # type: ignore[union-attr]
    assert {r.ip_address for r in rows} >= {"203.0.113.66"}
    recent = await list_sign_ins.fn(creds, user=upn, look_back_hours=1)
    assert 0 < len(recent) < len(rows)  # the window is applied by the API
    by_id = await list_sign_ins.fn(creds, user=rows[0].user_id, look_back_hours=48)
    assert [r.id for r in by_id] == [r.id for r in rows]
    detections = await list_risk_detections.fn(creds, user=upn)
    assert [d.risk_event_type for d in detections] == ["unfamiliarFeatures"]
    issues = await list_health_issues.fn(creds)
    assert issues and {i.status for i in issues} == {"open"}
    assert issues[0].sensor_dns_names  # Graph's sensorDNSNames spelling
    everything = await list_health_issues.fn(creds, status=None)
    assert len(everything) > len(issues)


async def test_describe_accounts_gives_the_approval_forms_rows(fresh: Any, creds: Any) -> None:
    infos = await describe_accounts.fn(creds, [f"jdoe@{DOMAIN}", f"ghost@{DOMAIN}"])
    jdoe, ghost = infos
    assert jdoe.found and jdoe.providers == ["entraID", "activeDirectory"]
    assert jdoe.risk_level in ("high", "none") and jdoe.object_id
    assert len(jdoe.last_sign_ins) == 3 and "203.0.113.66" in jdoe.last_sign_ins[0]
    assert not ghost.found and "Request_ResourceNotFound" in (ghost.error or "")


async def test_okta_account_takes_its_own_actions(fresh: Any, creds: Any, tenants: dict) -> None:
    upn = f"dprince@{DOMAIN}"
    [out] = await invoke_identity_actions.fn(creds, [upn], ["revokeAllSessions"])
    assert out.status == "succeeded"
    assert {s["provider"] for s in out.result} == {"entraID", "okta"}
    [reset] = await invoke_identity_actions.fn(creds, [upn], ["forcePasswordReset"])
    assert reset.status == "skipped"  # neither Entra ID nor Okta takes a password reset
    log = fresh.admin.dump(tenants["contoso"], "identity_log")
    assert any(e["provider"] == "okta" and e["action"] == "revokeAllSessions" for e in log)
