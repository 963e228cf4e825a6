"""The MSSP fan-out at MSSP sizes: bounded resources, an outcome for every tenant whatever
fails in one of them, and a report that stays readable."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from prefect_defender.blocks import DefenderPartnerCredentials
from prefect_defender.flows.mssp import mssp_fanout
from tests.flows.conftest import start

PARTNER = "defender-partner-credentials/mssp-scale"
QUERY = 'DeviceNetworkEvents | where RemoteIP == "203.0.113.66"'


@pytest.fixture
def partner(prefect_harness: Any, conn: dict[str, Any]) -> str:
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam", "northwind"], rate_limit_time_scale=300.0
    ).save("mssp-scale", overwrite=True)
    return PARTNER


def test_a_resource_error_in_one_tenant_is_that_tenants_outcome(
    partner: str, fast_actions: Any, tenants: dict[str, str], pool: Any, monkeypatch: Any
) -> None:
    """Too many open files while opening one tenant's client (where a 100-tenant run under
    ``ulimit -n 150`` failed whole, with no report) is that tenant's row; the others run."""
    original = DefenderPartnerCredentials.get_client

    def out_of_files(self: DefenderPartnerCredentials, tenant_id: str | None = None) -> Any:
        if tenant_id == tenants["contoso"]:
            raise OSError(errno.EMFILE, "Too many open files")
        return original(self, tenant_id)

    monkeypatch.setattr(DefenderPartnerCredentials, "get_client", out_of_files)
    rows = start(pool, mssp_fanout, credentials=partner, query=QUERY).result(timeout=120)
    by = {r["tenant_id"]: r for r in rows}
    assert set(by) == {tenants[n] for n in ("contoso", "fabrikam", "northwind")}
    assert by[tenants["contoso"]]["status"] == "failed"
    assert by[tenants["contoso"]]["error"] == "OSError: [Errno 24] Too many open files"
    assert by[tenants["fabrikam"]]["status"] == "ok" and by[tenants["fabrikam"]]["rows"] >= 1
    assert by[tenants["northwind"]]["error"].startswith("ConsentRequiredError")
