"""Input validation: bad values are rejected with a clear message, good ones pass."""

from __future__ import annotations

import ipaddress
import string
import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.odata import ODataFilter, literal
from prefect_defender.api.validation import (
    check_comment,
    check_domain,
    check_guid,
    check_hash,
    check_incident_id,
    check_ip,
    check_machine_id,
    check_sam_name,
    check_url,
)

HEX = "0123456789abcdef"


@given(st.uuids())
def test_guid_accepts_uuids(u: uuid.UUID) -> None:
    assert check_guid(str(u).upper()) == str(u)


@given(st.text(max_size=50))
def test_guid_rejects_everything_else(s: str) -> None:
    try:
        uuid.UUID(s.strip())
        assume(len(s.strip()) != 36)
    except ValueError:
        pass
    with pytest.raises(ValidationError, match="GUID"):
        check_guid(s, "tenant_id")


@given(st.text(alphabet=HEX, min_size=40, max_size=40))
def test_machine_id_ok(s: str) -> None:
    assert check_machine_id(s.upper()) == s


@given(st.text(max_size=60))
def test_machine_id_rejects(s: str) -> None:
    assume(not (len(s.strip()) == 40 and all(c in HEX + HEX.upper() for c in s.strip())))
    with pytest.raises(ValidationError):
        check_machine_id(s)


@pytest.mark.parametrize("n,kind", [(40, "sha1"), (64, "sha256"), (32, "md5")])
def test_hash_lengths(n: int, kind: str) -> None:
    assert check_hash("A" * n, kinds=(kind,)) == "a" * n
    with pytest.raises(ValidationError, match=kind.upper()):
        check_hash("a" * (n - 1), kinds=(kind,))
    with pytest.raises(ValidationError):
        check_hash("g" * n, kinds=(kind,))


@given(st.ip_addresses())
def test_ip_ok(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert check_ip(str(ip)) == str(ip)


@pytest.mark.parametrize(
    "bad", ["", "1.2.3", "1.2.3.4/24", "999.1.1.1", "example.com", "1.2.3.4 x"]
)
def test_ip_rejects(bad: str) -> None:
    with pytest.raises(ValidationError, match="IPv4 or IPv6"):
        check_ip(bad)


@pytest.mark.parametrize(
    "good", ["example.com", "a.b.c.example.org", "xn--bcher-kva.example", "EXAMPLE.COM."]
)
def test_domain_ok(good: str) -> None:
    assert check_domain(good) == good.lower().rstrip(".")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "localhost",
        "http://example.com",
        "exa mple.com",
        "1.2.3.4",
        "-a.com",
        "a..com",
        "example.com/path",
    ],
)
def test_domain_rejects(bad: str) -> None:
    with pytest.raises(ValidationError):
        check_domain(bad)


def test_url() -> None:
    assert check_url("https://evil.example/x?y=1") == "https://evil.example/x?y=1"
    for bad in ["evil.example/x", "ftp://x.example", "https://", "https://a b.example/"]:
        with pytest.raises(ValidationError):
            check_url(bad)


def test_incident_id() -> None:
    assert check_incident_id("42") == 42
    for bad in [0, -1, "x", True, 1.5, "4 2"]:
        with pytest.raises(ValidationError):
            check_incident_id(bad)


def test_sam_name_rejects_upn_with_explanation() -> None:
    with pytest.raises(ValidationError, match="not the user principal name"):
        check_sam_name("jdoe@contoso.com")
    assert check_sam_name("CONTOSO\\jdoe") == "jdoe"


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=31), min_size=1))
def test_comment_rejects_control_characters(s: str) -> None:
    assume(any(c not in "\t\n\r" for c in s))
    with pytest.raises(ValidationError, match="control"):
        check_comment("note " + s + " end")


def test_comment_length() -> None:
    with pytest.raises(ValidationError, match="at most"):
        check_comment("x" * 4001)


@given(st.text(alphabet=string.printable.replace("\x0b", "").replace("\x0c", ""), max_size=50))
def test_odata_literal_cannot_be_broken_out_of(s: str) -> None:
    assume(all(ord(c) >= 32 for c in s))
    lit = literal(s)
    assert lit.startswith("'") and lit.endswith("'")
    inner = lit[1:-1]
    # every quote inside is doubled, so the literal ends exactly at the last character
    assert inner.replace("''", "").count("'") == 0
    assert inner.replace("''", "'") == s


def test_odata_filter_rejects_unknown_property() -> None:
    f = ODataFilter({"status"})
    with pytest.raises(ValidationError, match="not filterable"):
        f.eq("Status", "Active")
    assert f.eq("status", "Active") == "status eq 'Active'"
