"""Fixtures for the notification tests: a webhook receiver, a TLS interceptor, saved blocks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from tests.notify.servers import Receiver, TestCA, TLSInterceptor

APP = "defender-application-credentials/notify"
PARTNER = "defender-partner-credentials/notify"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A plain-HTTP webhook receiver on 127.0.0.1 (paths starting with /fail answer 500)."""
    with Receiver() as rx:
        yield rx


@pytest.fixture
def rx(receiver: Receiver) -> Receiver:
    """The receiver, emptied."""
    receiver.clear()
    return receiver


@pytest.fixture(scope="module")
def interceptor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSInterceptor]:
    """An HTTPS proxy impersonating any host with a throw-away CA."""
    ca = TestCA(Path(tmp_path_factory.mktemp("notify-ca")))
    with TLSInterceptor(ca) as proxy:
        proxy.ca = ca  # type: ignore[attr-defined]
        yield proxy


@pytest.fixture
def via_interceptor(interceptor: TLSInterceptor, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Route HTTPS to public hosts through the interceptor, trusting its CA; loopback stays
    direct (the Prefect API and the emulator)."""
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, interceptor.proxy_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(interceptor.ca.ca_pem))  # type: ignore[attr-defined]
    return interceptor


@pytest.fixture(scope="module")
def creds(prefect_harness: None, conn: dict[str, Any]) -> dict[str, str]:
    """Saved Defender credential blocks pointing at the module's emulator."""
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        "notify", overwrite=True
    )
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam"], rate_limit_time_scale=300.0
    ).save("notify", overwrite=True)
    return {"app": APP, "partner": PARTNER}


class LogCapture(logging.Handler):
    """Every log record of the process at the loggers' configured levels, formatted with
    its traceback, so a test can search all of it for a secret."""

    def __init__(self) -> None:
        super().__init__(level=0)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        """Everything captured, one record per line."""
        return "\n".join(self.lines)


@pytest.fixture
def all_logs() -> Iterator[LogCapture]:
    """Capture the records of the root logger and of the loggers that do not propagate."""
    cap = LogCapture()
    names = ["", "prefect", "prefect.extra", "prefect._internal", "apprise", "httpx"]
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addHandler(cap)
    yield cap
    for lg in loggers:
        lg.removeHandler(cap)
