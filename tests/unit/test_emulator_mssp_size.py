"""The emulator at MSSP sizes: customer tenants made on first use, hunting tables shared
read-only by all tenants, yet every tenant sees only its own devices, alerts and planted IOCs.
The state is built in-process (no server): what the routes call is what is tested."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.emulator.app import build_state
from prefect_defender.emulator.customer_seed import seed_tenant_data
from prefect_defender.emulator.hunting_store import HuntingDB, HuntingStore
from prefect_defender.emulator.hunting_tables import ERRORS, HUNTING_TABLES
from prefect_defender.emulator.seed import IOCS
from prefect_defender.emulator.state import EmulatorState, Tenant

ALL = set(HUNTING_TABLES)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    import shutil

    data_dir = tmp_path_factory.mktemp("emulator-mssp")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data_dir / f.name)
    st = build_state(data_dir, {"extra_customer_tenants": 120, "machines_per_tenant": 20})
    yield st
    store = st.extensions.get("hunting")
    if store is not None:
        store.close()


def _customers(state: EmulatorState) -> list[Tenant]:
    return [t for t in state.tenants.values() if t.name.startswith("cust")]


def _db(state: EmulatorState, tenant: Tenant) -> HuntingDB:
    db = tenant.data["_hunting"].get("db")
    if db is None:
        db = tenant.data["_hunting"]["db"] = HuntingDB(state, tenant)
    assert isinstance(db, HuntingDB)
    return db


def _rows(db: HuntingDB, query: str, **kw: Any) -> list[tuple[Any, ...]]:
    return db.run(query, tables=kw.pop("tables", ALL), since=kw.pop("since", None), cap=10_000)[2]


def test_tenants_are_made_on_first_use_as_they_would_be_at_start(state: EmulatorState) -> None:
    customers = _customers(state)
    assert len(customers) == 120 and not any(t.loaded for t in customers[60:])
    lazy = customers[70]
    assert lazy.tenant_id in state.apps["partner"].consented_tenants  # identities exist at once
    machines = lazy.data["machines"]  # the first read makes the tenant
    assert lazy.loaded and len(machines) == 20 and lazy.data["incidents"]
    assert lazy.counters["incident"] >= 1001 and lazy.next_id("incident") > 1000
    eager = Tenant(lazy.tenant_id, lazy.name, lazy.display_name, lazy.domain)
    seed_tenant_data(state, eager)
    assert set(eager.data["machines"]) == set(machines)  # the same seed, deterministic
    assert not customers[71].loaded  # reading one tenant makes no other


def test_each_tenant_hunts_its_own_devices_alerts_and_iocs(state: EmulatorState) -> None:
    a, b = _customers(state)[:2]
    for tenant in (a, b):
        db = _db(state, tenant)
        own_ids = set(tenant.data["machines"])
        names = _rows(db, "DeviceNetworkEvents | distinct DeviceId, DeviceName, LocalIP")
        assert {r[0] for r in names} == own_ids  # every device of the tenant, no other
        assert all(r[1].endswith("." + tenant.domain) for r in names)
        ips = {m["id"]: m["lastIpAddress"] for m in tenant.data["machines"].values()}
        assert all(ips[r[0]] == r[2] for r in names)
        hits = _rows(
            db, f'DeviceProcessEvents | where SHA256 == "{IOCS["sha256"]}" | project ReportId'
        )
        assert {910000, 910001, 910002} <= {r[0] for r in hits}  # planted on three devices
        domains = _rows(db, "DeviceLogonEvents | distinct AccountDomain")
        assert domains == [(tenant.name.upper(),)]
        alerts = {r[0] for r in _rows(db, "AlertInfo | project AlertId")}
        assert alerts == set(tenant.data["alerts"])
        mail = _rows(db, "EmailEvents | distinct RecipientEmailAddress")
        assert {r[0].split("@")[1] for r in mail} == {tenant.domain}
        assert len(_rows(db, "DeviceInfo")) == len(own_ids)
    store = HuntingStore.of(state)
    assert len(store._templates) == 1  # the events of both tenants are one shared table


def test_a_tenant_cannot_read_the_shared_tables(state: EmulatorState) -> None:
    db = _db(state, _customers(state)[2])
    for query in ("_own_AlertInfo | count", "_dev | count", "_cutoff | count"):
        with pytest.raises(ERRORS):
            _rows(db, query)


def test_each_tenant_keeps_its_own_timespan(state: EmulatorState) -> None:
    a, b = (_db(state, t) for t in _customers(state)[3:5])
    month = _rows(a, "DeviceProcessEvents | count")[0][0]
    hour = _rows(b, "DeviceProcessEvents | count", since=b.now - timedelta(hours=3))[0][0]
    assert month > hour >= 3  # the planted events of two hours ago
    assert _rows(a, "DeviceProcessEvents | count")[0][0] == month
    assert _rows(b, "DeviceProcessEvents | count")[0][0] == month
    old = a.select("SELECT count(*) FROM DeviceProcessEvents WHERE Timestamp <= ?", [a.now])
    assert old[0][0] == month  # a lookup of any age sees them all


def test_mde_hunting_offers_the_device_tables_only(state: EmulatorState) -> None:
    db = _db(state, _customers(state)[5])
    device = {t for t in ALL if t.startswith("Device")}
    assert _rows(db, "DeviceInfo | count", tables=device)[0][0] == 20
    with pytest.raises(ERRORS):
        _rows(db, "union Email* | count", tables=device)
