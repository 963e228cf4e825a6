"""TenantScopes: one scope (one client) per tenant of a block, found again by tenant, closed
together. No request is sent: building a client sends nothing."""

from __future__ import annotations

import pytest

from prefect_defender.api.errors import ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from prefect_defender.tasks.scope import TenantScopes

OWN = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
CONTOSO = "11111111-1111-4111-8111-111111111111"
FABRIKAM = "22222222-2222-4222-8222-222222222222"
CLIENT = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def _partner() -> DefenderPartnerCredentials:
    return DefenderPartnerCredentials(
        client_id=CLIENT,
        client_secret="s",
        tenants=[
            {"tenant_id": CONTOSO, "display_name": "Contoso"},
            {"tenant_id": FABRIKAM},
        ],
    )


async def test_partner_block_one_scope_per_customer_found_again_by_tenant() -> None:
    partner = _partner()
    async with await TenantScopes.load(partner) as scopes:
        assert [s.tenant for s in scopes] == [CONTOSO, FABRIKAM] and len(scopes) == 2
        contoso = next(iter(scopes))
        assert scopes.scope_for(CONTOSO.upper()) is contoso and contoso.label == "Contoso"
        assert contoso.client is contoso.client  # one client per scope
        client = contoso.client
    assert contoso._client is None and client.tenant_id == CONTOSO  # closed with the scopes


async def test_partner_block_restricted_and_unknown_tenants() -> None:
    async with await TenantScopes.load(_partner(), [FABRIKAM]) as scopes:
        assert [s.tenant for s in scopes] == [FABRIKAM]
        extra = scopes.scope_for(CONTOSO)  # a tenant the run needs besides its own: kept
        assert extra is scopes.scope_for(CONTOSO) and [s.tenant for s in scopes] == [FABRIKAM]
        with pytest.raises(ValidationError, match="pass tenant_id"):
            _ = scopes.scope_for(None).client  # a partner block has no own tenant to act in
    with pytest.raises(ValueError, match="not in the partner block"):
        await TenantScopes.load(_partner(), ["33333333-3333-4333-8333-333333333333"])


async def test_single_tenant_block_its_id_and_none_name_one_scope() -> None:
    app = DefenderApplicationCredentials(tenant_id=OWN, client_id=CLIENT, client_secret="s")
    async with await TenantScopes.load(app) as scopes:
        [own] = list(scopes)
        assert own.tenant_id is None and own.tenant == OWN
        assert scopes.scope_for(None) is own and scopes.scope_for(OWN) is own
        with pytest.raises(ValidationError, match="tenant_id"):
            scopes.scope_for("not-a-guid")
        with pytest.raises(ValidationError, match="this block is for tenant"):
            _ = scopes.scope_for(CONTOSO).client
