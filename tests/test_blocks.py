"""Blocks validate at creation, never reveal secrets, and round-trip through a Prefect server."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)

TENANT = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
CLIENT = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
SECRET = "s3cr3t-MARKER-app-9f7d1c"
FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mde_base_url": "http://127.0.0.1:8080"}, "https"),
        ({"authority_host": "http://login.example"}, "https"),
        ({"cloud": "azure-china"}, "cloud"),
        ({"tenant_id": "not-a-guid"}, "GUID"),
        ({"tenant_id": "3f2504e0-4f89-11d3-9a0c-0305e82c330"}, "GUID"),
        ({"client_secret": None}, "exactly one credential"),
        (
            {
                "certificate_private_key": FAKE_KEY,
                "certificate_thumbprint": "AB" * 20,
            },
            "exactly one credential",
        ),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "no such file"),
    ],
)
def test_bad_configuration_fails_at_creation(kwargs: dict[str, Any], match: str) -> None:
    values: dict[str, Any] = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET}
    values.update(kwargs)
    with pytest.raises(PydanticValidationError, match=match):
        DefenderApplicationCredentials(**values)


def test_certificate_needs_thumbprint_or_certificate() -> None:
    with pytest.raises(PydanticValidationError, match="thumbprint"):
        DefenderApplicationCredentials(
            tenant_id=TENANT,
            client_id=CLIENT,
            certificate_private_key=FAKE_KEY,
        )


def test_partner_rejects_bad_tenant_and_duplicates() -> None:
    with pytest.raises(PydanticValidationError, match="GUID"):
        DefenderPartnerCredentials(
            client_id=CLIENT, client_secret=SECRET, tenants=[{"tenant_id": "contoso"}]
        )
    with pytest.raises(PydanticValidationError, match="twice"):
        DefenderPartnerCredentials(
            client_id=CLIENT,
            client_secret=SECRET,
            tenants=[{"tenant_id": TENANT}, {"tenant_id": TENANT}],
        )
    partner = DefenderPartnerCredentials(
        client_id=CLIENT, client_secret=SECRET, tenants=[{"tenant_id": TENANT, "display_name": "C"}]
    )
    with pytest.raises(ValueError, match="pass tenant_id"):
        partner.get_client()
    url = partner.admin_consent_url(TENANT)
    assert url.startswith(f"https://login.microsoftonline.com/{TENANT}/adminconsent?")
    assert f"client_id={CLIENT}" in url


def test_secrets_never_in_repr_or_str() -> None:
    creds = DefenderApplicationCredentials(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET)
    user = DefenderUserCredentials(
        tenant_id=TENANT,
        client_id=CLIENT,
        token_cache=SECRET,
        password=SECRET,
        username="a@b.example",
    )
    for obj in (creds, user):
        assert SECRET not in repr(obj)
        assert SECRET not in str(obj)
        assert SECRET not in str(obj.model_dump())


async def test_secret_not_in_logs_or_errors(
    conn: dict, fresh: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong secret fails with Entra's message, and neither it nor a token leaks."""
    fresh.admin.reset_stats()
    caplog.set_level(logging.DEBUG)
    marker = "WRONG-secret-MARKER-4711"
    creds = DefenderApplicationCredentials.from_emulator(conn, client_secret=marker)
    from prefect_defender.api.errors import AuthenticationError

    async with creds.get_client() as client:
        with pytest.raises(AuthenticationError) as info:
            await client.machines.list(limit=1)
    assert "AADSTS" in str(info.value)
    assert marker not in str(info.value) and marker not in repr(info.value)
    good = DefenderApplicationCredentials.from_emulator(conn)
    async with good.get_client() as client:
        await client.machines.list(limit=1)
        tok = await client.transport.provider.get_token(client.endpoints.mde_scope)
    real_secret = conn["apps"]["soc"]["client_secret"]
    for text in (caplog.text, *[r.getMessage() for r in caplog.records]):
        assert marker not in text
        assert real_secret not in text
        assert tok.token not in text


def test_blocks_round_trip_through_prefect_server(prefect_harness: None, conn: dict) -> None:
    from prefect.blocks.core import Block

    app = DefenderApplicationCredentials.from_emulator(conn)
    app.save("rt-app", overwrite=True)
    partner = DefenderPartnerCredentials.from_emulator(conn)
    partner.save("rt-partner", overwrite=True)
    user = DefenderUserCredentials.from_emulator(conn, token_cache="{}")
    user.save("rt-user", overwrite=True)

    loaded = DefenderApplicationCredentials.load("rt-app")
    assert loaded.client_secret.get_secret_value() == conn["apps"]["soc"]["client_secret"]
    assert loaded.mde_base_url == conn["mde_base_url"]
    by_slug = Block.load("defender-partner-credentials/rt-partner")
    assert isinstance(by_slug, DefenderPartnerCredentials)
    assert by_slug.tenant_ids() == partner.tenant_ids()
    assert DefenderUserCredentials.load("rt-user").token_cache.get_secret_value() == "{}"
