"""One verifying SSL context per CA bundle per process, and one token-endpoint connection pool
per authority, CA bundle and proxy, shared by every client and token provider. Building a client
sends nothing, so no server is needed."""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

import certifi

from prefect_defender.api.auth import msal_http_client
from prefect_defender.api.tls import clear_ssl_contexts, ssl_context
from prefect_defender.blocks import DefenderPartnerCredentials

CLIENT = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
TENANTS = [f"{i:08x}-1111-4111-8111-111111111111" for i in range(1, 41)]


def _pem() -> str:
    """One root certificate in PEM, taken from certifi's bundle."""
    text = Path(certifi.where()).read_text()
    start = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return text[start:end] + "\n"


def _verifies(ctx: ssl.SSLContext) -> bool:
    return ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True


def test_one_context_per_bundle_and_http2_choice_always_verifying(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text(_pem())
    plain, own, pem = ssl_context(), ssl_context(str(bundle)), ssl_context(_pem())
    assert ssl_context() is plain and ssl_context(None) is plain and ssl_context("") is plain
    assert ssl_context(str(bundle)) is own and ssl_context(_pem()) is pem
    assert len({id(plain), id(own), id(pem)}) == 3
    h2 = ssl_context(str(bundle), http2=True)  # httpcore sets ALPN on the context it is given
    assert h2 is not own and ssl_context(str(bundle), http2=True) is h2
    assert all(_verifies(c) for c in (plain, own, pem, h2))
    # the extra root is trusted on top of certifi's, not instead of them
    assert len(own.get_ca_certs()) == len(plain.get_ca_certs())  # the same root, once
    clear_ssl_contexts()
    assert ssl_context() is not plain


def test_a_rewritten_bundle_gets_a_new_context(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text(_pem())
    first = ssl_context(str(bundle))
    bundle.write_text(_pem() + "\n")  # new content, size and time: a regenerated CA
    later = time.time() + 5
    os.utime(bundle, (later, later))
    assert ssl_context(str(bundle)) is not first


def test_partner_clients_share_one_context_and_one_token_pool() -> None:
    partner = DefenderPartnerCredentials(
        client_id=CLIENT,
        client_secret="s",
        tenants=[{"tenant_id": t} for t in TENANTS],
    )
    clients = [partner.get_client(t) for t in TENANTS]
    pools = [c.transport._http()._transport._pool for c in clients]  # type: ignore[attr-defined]
    contexts = {id(p._ssl_context) for p in pools}
    assert len(contexts) == 1 and _verifies(pools[0]._ssl_context)
    # the token side: every provider's msal app gets its http client here (api/auth/_app_tokens.py)
    endpoints = partner.endpoints()
    shared = msal_http_client(endpoints, None).client
    assert all(msal_http_client(endpoints, None).client is shared for _ in TENANTS)
    assert _verifies(shared._transport._pool._ssl_context)  # type: ignore[attr-defined]
    other = msal_http_client(endpoints, _pem()).client  # another CA bundle: its own pool
    assert other is not shared and msal_http_client(endpoints, _pem()).client is other
