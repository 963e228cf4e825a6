"""Each auth context gets a token from the emulator (real msal over HTTPS) and lists data."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prefect_defender.api.errors import ConsentRequiredError, SignInRequiredError
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)
from tests.conftest import token_requests


async def _inventory(client: Any) -> tuple[int, int, int]:
    incidents = await client.incidents.list(limit=30)
    machines = await client.machines.list(limit=30)
    graph = await client.graph_incidents.list(limit=30)
    return len(incidents), len(machines), len(graph)


@pytest.mark.parametrize("use_certificate", [False, True], ids=["secret", "certificate"])
async def test_application_context(conn: dict, fresh: Any, use_certificate: bool) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn, use_certificate=use_certificate)
    async with creds.get_client() as client:
        n_inc, n_mach, n_graph = await _inventory(client)
        tok = await client.transport.provider.get_token(client.endpoints.mde_scope)
    assert n_inc > 0 and n_mach > 0 and n_graph > 0
    assert tok.tenant_id == creds.tenant_id
    assert "Machine.Read.All" in tok.permissions or "Machine.ReadWrite.All" in tok.permissions


def test_certificate_variants_thumbprint_only(conn: dict, fresh: Any) -> None:
    """PEM key + thumbprint (RS256, x5t) without the certificate also works."""
    full = DefenderApplicationCredentials.from_emulator(conn, use_certificate=True)
    creds = full.model_copy(update={"certificate_pem": None})

    async def go() -> int:
        async with creds.get_client() as client:
            return len(await client.machines.list(limit=5))

    assert asyncio.run(go()) == 5


async def test_user_context_device_code_then_unattended(conn: dict, fresh: Any) -> None:
    creds = DefenderUserCredentials.from_emulator(conn)
    messages: list[str] = []
    user = await asyncio.to_thread(creds.sign_in_with_device_code, messages.append)
    assert messages and "code" in messages[0].lower()
    assert user
    # a later run: a new block object from the stored cache, no interaction
    stored = creds.token_cache.get_secret_value()  # type: ignore[union-attr]
    fresh_block = DefenderUserCredentials.from_emulator(conn, token_cache=stored, username=user)
    fresh_block.persist_refreshed_cache = False
    async with fresh_block.get_client() as client:
        n_inc, n_mach, n_graph = await _inventory(client)
        tok = await client.transport.provider.get_token(client.endpoints.mde_scope)
    assert n_inc > 0 and n_mach > 0 and n_graph > 0
    assert "scp" in tok.claims and "roles" not in tok.claims


async def test_user_context_revoked_refresh_token_asks_for_login(conn: dict, fresh: Any) -> None:
    creds = DefenderUserCredentials.from_emulator(conn)
    user = await asyncio.to_thread(creds.sign_in_with_device_code, lambda m: None)
    stored = creds.token_cache.get_secret_value()  # type: ignore[union-attr]
    fresh.admin.revoke_user(user)
    later = DefenderUserCredentials.from_emulator(conn, token_cache=stored, username=user)
    later._block_document_name = "soc-analyst"
    # the cached access token is still valid: force the refresh path by dropping it (from msal's
    # cache and from the provider, which is the signed-in one: the process shares it)
    later.persist_refreshed_cache = False
    prov = later.token_provider()
    for item in list(prov._cache.search("AccessToken")):
        prov._cache.remove_at(item)
    prov._tokens.clear()
    async with later.get_client() as client:
        with pytest.raises(SignInRequiredError) as info:
            await client.machines.list(limit=1)
    assert "prefect-defender login --block soc-analyst" in str(info.value)


async def test_partner_reaches_two_tenants_and_is_refused_without_consent(
    conn: dict, tenants: dict[str, str], fresh: Any
) -> None:
    partner = DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"]
    )
    seen_tids = []
    for tid in (tenants["contoso"], tenants["fabrikam"]):
        async with partner.get_client(tid) as client:
            n_inc, n_mach, _ = await _inventory(client)
            assert n_inc > 0 and n_mach > 0
            tok = await client.transport.provider.get_token(client.endpoints.mde_scope)
            seen_tids.append(tok.tenant_id)
    assert seen_tids == [tenants["contoso"], tenants["fabrikam"]]
    async with partner.get_client(tenants["northwind"]) as client:
        with pytest.raises(ConsentRequiredError) as info:
            await client.machines.list(limit=1)
    text = str(info.value)
    assert tenants["northwind"] in text
    assert "adminconsent" in text  # tells the operator where to consent


async def test_concurrent_tasks_share_one_token_per_tenant_and_audience(
    conn: dict, fresh: Any
) -> None:
    """20 concurrent workers x 50 calls = 1,000 calls; exactly 1 token request per audience."""
    fresh.admin.patch_config(rate_limits_enabled=False)
    unlimited = {"mde": [(100_000, 60)], "graph_security": [(100_000, 60)]}
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
    async with creds.get_client() as client:
        machines = await client.machines.list(limit=50)
    ids = [m.id for m in machines]

    async def worker(n: int) -> int:
        # each worker loads its own block object and client, as separate Prefect tasks would
        block = DefenderApplicationCredentials.from_emulator(conn, rate_limits=unlimited)
        async with block.get_client() as c:
            done = 0
            for i in range(50):
                if i % 10 == 0:
                    await c.graph_incidents.list(limit=1)
                else:
                    await c.machines.get(ids[(n + i) % len(ids)])
                done += 1
            return done

    results = await asyncio.gather(*(worker(n) for n in range(20)))
    assert sum(results) == 1000
    counts = token_requests(fresh.admin.stats())
    tid = creds.tenant_id
    assert counts == {
        (tid, "https://api.securitycenter.microsoft.com"): 1,
        (tid, "https://graph.microsoft.com"): 1,
    }
