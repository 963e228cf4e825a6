"""The block catalogue in a real browser: the three Defender credential blocks are listed with
their logo and description, and an operator can create one from its form, which asks for the
tenant, the app and the credential first."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.ui.conftest import PrefectAPI, off_thread

pytestmark = pytest.mark.browser


def _first_line(cls: type[Any]) -> str:
    description: str = cls.get_description() or ""
    return description.splitlines()[0].strip()


def test_catalogue_lists_the_credential_blocks(page, ui_url, registered_blocks) -> None:
    from playwright.sync_api import expect

    from prefect_defender.blocks import LOGO_URL

    page.goto(f"{ui_url}/blocks/catalog")
    for cls in registered_blocks:
        name = cls.get_block_type_name()
        card = page.locator(CARD).filter(has=page.get_by_role("heading", name=name, exact=True))
        expect(card).to_have_count(1)
        card.scroll_into_view_if_needed()
        expect(card).to_be_visible()
        expect(card.locator("img")).to_have_attribute("src", str(LOGO_URL))
        expect(card).to_contain_text(_first_line(cls))


def test_create_application_block_from_its_form(
    page, ui_url, registered_blocks, prefect_api: PrefectAPI, prefect_server
) -> None:
    from playwright.sync_api import expect

    from prefect_defender.blocks import DefenderApplicationCredentials

    slug = DefenderApplicationCredentials.get_block_type_slug()
    tenant, client, secret = str(uuid.uuid4()), str(uuid.uuid4()), f"s3cr3t-{uuid.uuid4().hex}"
    page.goto(f"{ui_url}/blocks/catalog")
    card = page.locator(CARD).filter(
        has=page.get_by_role("heading", name="Defender Application Credentials", exact=True)
    )
    card.get_by_role("link", name="Create").click()
    expect(page).to_have_url(f"{ui_url}/blocks/catalog/{slug}/create")
    # the form asks first for what the block cannot work without, the overrides after
    expect(page.get_by_text("Tenant ID", exact=True).first).to_be_visible()
    labels = [t.strip() for t in page.locator("label").all_inner_texts()]
    order = ["Tenant ID", "Client ID", "Client secret", "Certificate private key", "Cloud"]
    positions = [next(i for i, t in enumerate(labels) if t.startswith(x)) for x in order]
    assert positions == sorted(positions), labels
    assert not any("time scale" in t.lower() for t in labels), labels  # emulator-only
    page.get_by_role("textbox", name="Name", exact=True).fill("ui-created")
    page.get_by_role("textbox", name="Tenant ID", exact=True).fill(tenant)
    page.get_by_role("textbox", name="Client ID", exact=True).fill(client)
    # an optional secret is "password or None": pick "password", then type it
    secret_field = _field(page, "Client secret")
    secret_field.get_by_role("tab", name="password").click()
    secret_field.locator("input").fill(secret)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/blocks/block/[0-9a-f-]{36}$"))
    expect(page.get_by_text("ui-created").first).to_be_visible()

    stored = prefect_api.block_document(slug, "ui-created", secrets=True)
    assert stored["data"]["tenant_id"] == tenant
    assert stored["data"]["client_id"] == client
    assert stored["data"]["client_secret"] == secret
    assert "client_secret" in stored["block_schema"]["fields"]["secret_fields"]
    masked = prefect_api.block_document(slug, "ui-created", secrets=False)
    assert masked["data"]["client_secret"] != secret

    def load() -> DefenderApplicationCredentials:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
            return DefenderApplicationCredentials.load("ui-created")

    block = off_thread(load)
    assert block.tenant_id == tenant
    assert block.client_secret is not None
    assert block.client_secret.get_secret_value() == secret


CARD = '[data-slot="card"]'


def _field(page: Any, label: str) -> Any:
    """The schema form's field whose label starts with ``label`` (innermost container)."""
    return page.locator("div.group").filter(has=page.locator("label", has_text=label)).last
