"""The credential blocks' forms: what a block cannot work without comes first, the overrides
after, nothing emulator-only in them; a block with no credential or two is refused, saying
which it got.

The Prefect UI orders a block's form by each field's ``position`` in the block schema (the
browser check is ``tests/ui/test_blocks_ui.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api.ratelimit import DEFAULT_LIMITS
from prefect_defender.blocks import (
    CREDENTIAL_BLOCKS,
    DefenderApplicationCredentials,
    DefenderConnectionMixin,
    DefenderPartnerCredentials,
)

TENANT = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
CLIENT = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
SECRET = "s3cr3t-MARKER-forms-5e1b"
FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"
CREDENTIAL = ["client_secret", "certificate_private_key", "certificate_thumbprint"]
#: the first fields of each block's form, in order
FIRST = {
    "DefenderApplicationCredentials": ["tenant_id", "client_id", *CREDENTIAL],
    "DefenderPartnerCredentials": ["client_id", "tenants", *CREDENTIAL],
    "DefenderUserCredentials": ["tenant_id", "client_id", "token_cache"],
    "DefenderManagedIdentityCredentials": ["tenant_id", "user_assigned_client_id"],
}
#: settings only the emulator needs: never in a production form
EMULATOR_ONLY = {"rate_limit_time_scale"}


def _form(cls: type[Any]) -> list[str]:
    """The form's fields in the order the UI shows them (by ``position``)."""
    props: dict[str, Any] = cls.model_json_schema()["properties"]
    return sorted(props, key=lambda name: props[name]["position"])


@pytest.mark.parametrize("cls", CREDENTIAL_BLOCKS, ids=lambda c: c.__name__)
def test_required_fields_and_the_credential_come_first(cls: type[Any]) -> None:
    form = _form(cls)
    first = FIRST[cls.__name__]
    assert form[: len(first)] == first
    required = set(cls.model_json_schema().get("required", []))
    assert required <= set(first), required - set(first)  # nothing required further down


@pytest.mark.parametrize("cls", CREDENTIAL_BLOCKS, ids=lambda c: c.__name__)
def test_shared_overrides_come_after_the_blocks_own_fields(cls: type[Any]) -> None:
    form = _form(cls)
    shared = [n for n in form if n in DefenderConnectionMixin.model_fields]
    own = [n for n in form if n not in shared]
    assert form == own + shared
    assert shared[0] == "cloud"  # the cloud first, then its host overrides, proxy, limits


@pytest.mark.parametrize("cls", CREDENTIAL_BLOCKS, ids=lambda c: c.__name__)
def test_no_emulator_only_setting_in_the_form(cls: type[Any]) -> None:
    assert EMULATOR_ONLY.isdisjoint(cls.model_json_schema()["properties"])


def test_a_time_scale_becomes_the_equivalent_rate_limits() -> None:
    """``from_emulator(..., rate_limit_time_scale=N)`` (and a block saved with the field before
    it left the form) still paces N times faster: every documented window divided by N."""
    scaled = DefenderApplicationCredentials(
        tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, rate_limit_time_scale=300.0
    )
    limits = scaled.client_settings().limits()
    for family, documented in DEFAULT_LIMITS.items():
        assert [x.calls for x in limits[family]] == [x.calls for x in documented], family
        windows = [x.seconds * 300.0 for x in limits[family]]
        assert windows == pytest.approx([x.seconds for x in documented]), family
    plain = DefenderApplicationCredentials(
        tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, rate_limit_time_scale=1.0
    )
    assert plain.rate_limits is None
    assert plain.client_settings().limits() == dict(DEFAULT_LIMITS)
    with pytest.raises(PydanticValidationError, match="must be positive"):
        DefenderApplicationCredentials(
            tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, rate_limit_time_scale=0
        )


def _app(**credential: Any) -> Any:
    return DefenderApplicationCredentials(tenant_id=TENANT, client_id=CLIENT, **credential)


def _partner(**credential: Any) -> Any:
    tenants = [{"tenant_id": TENANT, "display_name": "Contoso"}]
    return DefenderPartnerCredentials(client_id=CLIENT, tenants=tenants, **credential)


CERT = {"certificate_private_key": FAKE_KEY, "certificate_thumbprint": "AB" * 20}


@pytest.mark.parametrize("make", [_app, _partner], ids=["application", "partner"])
@pytest.mark.parametrize(
    "credential,reason",
    [
        ({}, "none is given"),
        ({"client_secret": ""}, "none is given"),  # an empty secret field is no secret
        ({"client_secret": SECRET, **CERT}, "2 are given (a client secret and a certificate)"),
        (
            {"client_secret": SECRET, "federated_token_file": "/var/run/token"},
            "2 are given (a client secret and workload identity federation)",
        ),
    ],
    ids=["none", "empty-secret", "secret-and-certificate", "secret-and-federation"],
)
def test_no_credential_or_two_is_refused_with_the_reason(
    make: Any, credential: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PydanticValidationError) as caught:
        make(**credential)
    text = str(caught.value)
    assert "give exactly one credential" in text and reason in text, text
    assert SECRET not in text  # the reason names kinds, never values


@pytest.mark.parametrize("make", [_app, _partner], ids=["application", "partner"])
def test_exactly_one_credential_is_accepted(make: Any) -> None:
    assert make(client_secret=SECRET).client_secret.get_secret_value() == SECRET
    assert make(**CERT).certificate_thumbprint == "AB" * 20
