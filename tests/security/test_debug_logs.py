"""DEBUG logging everywhere never prints a token, a secret or a signed download link.

Every logger that could see a request (root, ``httpx``, ``httpcore``, ``msal``, ``prefect`` and
the project's own) is set to DEBUG while the application block signs in with its secret and
calls the API, the user block refreshes its token from the stored cache, and a signed link is
downloaded; then every recorded message and argument is searched for the client secret, every
access and refresh token the emulator issued, and the link's signature.
"""

from __future__ import annotations

import asyncio
import json
import logging
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.redact import redact_url
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderUserCredentials
from tests.security.test_hostile_answers import _server
from tests.security.test_hosts_tls import LocalServer

SIGNATURE = "SIGMARKERdebuglogs0123456789abcdef"
LOGGERS = ["", "httpx", "httpcore", "msal", "prefect", "prefect_defender", "urllib3", "hpack"]


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is searched by its parts
            message = str(record.msg)
        self.texts.append(f"{record.name} {message} {record.args!r} {record.exc_text or ''}")


@pytest.fixture
def debug_logs() -> Iterator[_Everything]:
    handler = _Everything()
    saved = {n: logging.getLogger(n).level for n in LOGGERS}
    for n in LOGGERS:
        logging.getLogger(n).addHandler(handler)
        logging.getLogger(n).setLevel(logging.DEBUG)
    yield handler
    for n in LOGGERS:
        logging.getLogger(n).removeHandler(handler)
        logging.getLogger(n).setLevel(saved[n])


@pytest.fixture
def storage(emulator: Any) -> Iterator[LocalServer]:
    server = _server(emulator)
    server.routes["/packages/p.zip"] = lambda _: (200, {"Content-Type": "application/zip"}, b"PK")
    yield server
    server.stop()


async def test_debug_logs_hold_no_token_secret_or_signature(
    conn: dict,
    emulator: Any,
    fresh: Any,
    storage: LocalServer,
    debug_logs: _Everything,
    tmp_path: Path,
) -> None:
    app = DefenderApplicationCredentials.from_emulator(conn, mde_base_url=storage.url)
    secret = app.client_secret.get_secret_value()  # type: ignore[union-attr]
    user = DefenderUserCredentials.from_emulator(conn)
    upn = await asyncio.to_thread(user.sign_in_with_device_code, lambda m: None)
    stored = user.token_cache.get_secret_value()  # type: ignore[union-attr]
    later = DefenderUserCredentials.from_emulator(conn, token_cache=stored, username=upn)
    later.persist_refreshed_cache = False
    prov = later.token_provider()
    for item in list(prov._cache.search("AccessToken")):  # force the refresh-token grant
        prov._cache.remove_at(item)

    app_api = DefenderApplicationCredentials.from_emulator(conn)
    async with app_api.get_client() as client:
        assert await client.incidents.list(limit=2)
    async with app.get_client() as client:
        link = f"{storage.url}/packages/p.zip?se=2099-01-01&sig={SIGNATURE}"
        assert await client.download(link, tmp_path / "p.zip") == 2
    async with later.get_client() as client:
        assert await client.machines.list(limit=1)

    text = "\n".join(debug_logs.texts)
    assert len(debug_logs.texts) > 20, "the loggers did not record the traffic"
    assert "HTTP Request" in text  # httpx's own request lines are among them
    issued = set(emulator.state.verified_tokens)
    refresh = [
        rt["secret"]
        for rt in json.loads(stored).get("RefreshToken", {}).values()
        if isinstance(rt, dict)
    ]
    assert issued and refresh
    assert secret not in text
    assert SIGNATURE not in text
    for token in [*issued, *refresh]:
        assert token not in text
        assert token[:40] not in text  # not even the start of one


@given(
    value=st.text(
        alphabet=string.ascii_letters + string.digits + "+/=%-_", min_size=8, max_size=60
    ),
    name=st.sampled_from(["sig", "SIG", "signature", "X-Amz-Signature", "code", "access_token"]),
)
def test_redact_url_drops_every_credential_value(value: str, name: str) -> None:
    url = f"https://storage.example/p.zip?se=2030-01-01&{name}={quote(value, safe='')}&sp=r"
    out = redact_url(url)
    assert quote(value, safe="") not in out.split("?", 1)[1].replace("REDACTED", "")
    assert "se=2030-01-01" in out and "sp=r" in out and f"{name}=REDACTED" in out
    assert redact_url("https://graph.microsoft.com/v1.0/x?$top=5") == (
        "https://graph.microsoft.com/v1.0/x?$top=5"
    )
