"""Advanced Hunting data of every tenant in one DuckDB database (:class:`HuntingStore`).

The generated events are the bulk of the data and the same for every tenant but for the device
and tenant names, so they are generated once per size and shared read-only: a template table per
event table, whose rows name a device by its number (``dev_idx``) instead of its id. What is a
tenant's own (its devices, its alerts and their evidence, the planted IOCs) sits in shared
tables keyed by tenant. Each tenant gets a schema of views named after the real tables that join
the template to the tenant's devices, add its own rows, and keep only the last 30 days (or the
request's ``Timespan``), like the service. A tenant costs a few small inserts and views, not a
database: an MSSP-sized emulator (1,000 tenants) fits in a fraction of the memory one database
per tenant took (about 13 MiB and 0.27 s of CPU each).

The seed plants the incident IOCs (``seed.IOCS``) on the demo incident's workstation and two
more, so hunts find a spread.
"""

from __future__ import annotations

# ruff: noqa: S608  (internal, generated SQL over the emulator's own constants and ids)
import functools
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb_kql

from prefect_defender.emulator.hunting_tables import (
    GENERATED,
    HUNTING_TABLES,
    IP_SHIM,
    TENANT_COLUMNS,
    register_ip_functions,
    template_sql,
)
from prefect_defender.emulator.seed import IOCS
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["HuntingDB", "HuntingStore"]

#: the schema holding the shared tables; a tenant's queries resolve names in its own schema only
STORE = "store"
#: tables of a tenant's own rows (keyed by tenant): the generated tables' extra rows and alerts
OWN_TABLES = (*GENERATED, "AlertInfo", "AlertEvidence")
DEV_COLUMNS = (
    "tenant VARCHAR, idx BIGINT, DeviceId VARCHAR, DeviceName VARCHAR, OS VARCHAR, IP VARCHAR, "
    "Grp VARCHAR, Aad BOOLEAN"
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _insert(con: Any, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` in one statement, a list parameter per column (a row per statement, or
    a parameter per value, costs ten times more in DuckDB)."""
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    select = ", ".join("unnest(?)" for _ in columns)
    con.execute(f"INSERT INTO {table} SELECT {select}", columns)


class HuntingStore:
    """One DuckDB database holding the hunting tables of every tenant of one emulator."""

    def __init__(self) -> None:
        register_ip_functions()
        self.lock = threading.RLock()  # DDL, templates and the shared tables' writes
        self.con = duckdb_kql.connect()
        self.con.execute(IP_SHIM)
        self.now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        self._templates: dict[tuple[int, int, int], str] = {}
        con = self.con
        con.execute(f"CREATE SCHEMA {STORE}")
        con.execute(f"CREATE TABLE {STORE}._dev ({DEV_COLUMNS})")
        con.execute(f"CREATE TABLE {STORE}._cutoff (tenant VARCHAR, ts TIMESTAMP)")
        for table in OWN_TABLES:
            cols = ", ".join(f"{c} {t}" for c, t in HUNTING_TABLES[table])
            con.execute(f"CREATE TABLE {STORE}._own_{table} (tenant VARCHAR, {cols})")

    @classmethod
    def of(cls, state: EmulatorState) -> HuntingStore:
        """The emulator's store, made on the first hunting query."""
        with state.lock:
            store = state.extensions.get("hunting")
            if store is None:
                store = state.extensions["hunting"] = cls()
            assert isinstance(store, HuntingStore)
            return store

    def template(self, rows: int, proc_rows: int, devices: int) -> str:
        """The prefix of the shared generated tables of this size (generated on first use)."""
        key = (rows, proc_rows, devices)
        with self.lock:
            prefix = self._templates.get(key)
            if prefix is None:
                prefix = f"{STORE}._g{len(self._templates)}_"
                for _, sql in template_sql(prefix, self.now, rows, proc_rows, devices):
                    self.con.execute(sql)
                self._templates[key] = prefix
            return prefix

    def close(self) -> None:
        """Close the database."""
        self.con.close()


class HuntingDB:
    """One tenant's hunting tables in the :class:`HuntingStore`: a schema of views over the
    shared template and the tenant's own rows, made table by table as queries first name them,
    and a connection that resolves names there."""

    def __init__(self, state: EmulatorState, tenant: Tenant) -> None:
        self.store = HuntingStore.of(state)
        self.now = self.store.now
        self.lock = threading.Lock()
        self.tenant = tenant
        self.key = tenant.tenant_id
        self.schema = "t_" + tenant.tenant_id.replace("-", "")
        rows = int(state.config.get("hunting_rows_per_table", 2000))
        big = int(state.config.get("hunting_big_rows", 0) or 0)
        self._machines = list(tenant.data["machines"].values())
        self._prefix = self.store.template(rows, max(rows, big), max(1, len(self._machines)))
        self._cutoff = self.now - timedelta(days=30)
        self._ready: set[str] = set()  # tables with their view (and own rows)
        self._planted: dict[str, list[tuple[Any, ...]]] | None = None
        with self.store.lock:
            self.store.con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            _insert(self.store.con, f"{STORE}._cutoff", [(self.key, self._cutoff)])
        self.cursor = self.store.con.cursor()
        self.cursor.execute("SET TimeZone='UTC'")
        self.cursor.execute(f"SET search_path = {_quote(self.schema)}")

    # -- queries --------------------------------------------------------------------------
    def run(
        self, query: str, *, tables: set[str], since: datetime | None, cap: int
    ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        """Run KQL over the ``tables`` offered; return (column names, Kusto types, rows[:cap])."""
        from duckdb_kql.types import kusto_type

        sql, params = _translate(query, frozenset(tables), self.now)
        with self.lock:
            self._ensure(_named_tables(sql))
            self._set_cutoff(since or (self.now - timedelta(days=30)))
            rel = self.cursor.sql(sql, params=params or None)
            types = [kusto_type(str(t)) for t in rel.types]
            rows = rel.limit(cap).fetchall()
            return list(rel.columns), types, rows

    def select(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` over the tenant's tables (named as the real ones), of any age."""
        with self.lock:
            self._ensure(_named_tables(sql))
            self._set_cutoff(datetime(1970, 1, 1))
            return list(self.cursor.execute(sql, params).fetchall())

    def _set_cutoff(self, cutoff: datetime) -> None:
        """Keep rows from ``cutoff`` on in the tenant's views (``self.lock`` held)."""
        if cutoff != self._cutoff:
            with self.store.lock:
                self.store.con.execute(
                    f"UPDATE {STORE}._cutoff SET ts = ? WHERE tenant = ?", [cutoff, self.key]
                )
            self._cutoff = cutoff

    # -- the tenant's tables, on first use -------------------------------------------------
    def _ensure(self, tables: set[str]) -> None:
        """The views (and own rows) of ``tables`` that do not exist yet (``self.lock`` held)."""
        missing = sorted(tables - self._ready)
        if not missing:
            return
        con = self.store.con
        with self.store.lock:
            con.execute("BEGIN TRANSACTION")
            try:
                if "_dev" not in self._ready and any(t.startswith("Device") for t in missing):
                    _insert(con, f"{STORE}._dev", _device_rows(self.key, self._machines))
                    self._ready.add("_dev")
                for table in missing:
                    _insert(con, f"{STORE}._own_{table}", self._own_rows(table))
                    con.execute(self._view(table))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                self._ready.discard("_dev")
                raise
        self._ready.update(missing)

    def _own_rows(self, table: str) -> list[tuple[Any, ...]]:
        if table == "DeviceInfo":
            return []
        if table in ("AlertInfo", "AlertEvidence"):
            info, evidence = _alert_rows(self.key, self.tenant.data["alerts"].values())
            return info if table == "AlertInfo" else evidence
        if self._planted is None:
            self._planted = _planted_rows(self.key, self.tenant, self.now - timedelta(hours=2))
        return self._planted[table]

    def _view(self, table: str) -> str:
        """``CREATE VIEW`` of ``table`` in the tenant's schema."""
        key, cols = _quote(self.key), HUNTING_TABLES[table]
        tenant = self.tenant
        names = {"name": _quote(tenant.name.upper()), "domain": _quote("@" + tenant.domain)}
        names_only = ", ".join(c for c, _ in cols)
        body = f"SELECT {names_only} FROM {STORE}._own_{table} WHERE tenant = {key}"
        if table in GENERATED:
            select = ", ".join(
                TENANT_COLUMNS.get((table, c), "e." + c).format(**names) + f" AS {c}"
                for c, _ in cols
            )
            join = f" JOIN {STORE}._dev d ON d.tenant = {key} AND d.idx = e.dev_idx"
            join = join if table.startswith("Device") else ""
            body = f"SELECT {select} FROM {self._prefix}{table} e{join} UNION ALL {body}"
        elif table == "DeviceInfo":
            body = _device_info(self.now, key)
        since = f"(SELECT max(ts) FROM {STORE}._cutoff WHERE tenant = {key})"
        return (
            f"CREATE OR REPLACE VIEW {self.schema}.{table} AS SELECT * FROM ({body}) "
            f"WHERE Timestamp >= {since}"
        )


@functools.lru_cache(maxsize=256)
def _translate(query: str, tables: frozenset[str], now: datetime) -> tuple[str, Any]:
    """KQL as SQL over the ``tables`` offered (the same query in every tenant: translated once)."""
    from duckdb_kql.errors import KqlSchemaError

    schema = {t: [c for c, _ in cols] for t, cols in HUNTING_TABLES.items() if t in tables}
    translated = duckdb_kql.to_sql(query, schema=schema, allow_write=False, query_now=now)
    if translated.unbound:
        raise KqlSchemaError(", ".join(translated.unbound), hint="unbound query parameter")
    return str(translated), translated.parameters  # named: a dict, as DuckDB binds them


def _named_tables(sql: str) -> set[str]:
    """The hunting tables ``sql`` names."""
    return {t for t in HUNTING_TABLES if re.search(rf"\b{t}\b", sql)}


def _device_rows(key: str, machines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            key,
            i,
            m["id"],
            m["computerDnsName"],
            m["osPlatform"],
            m["lastIpAddress"],
            m.get("rbacGroupName"),
            bool(m.get("isAadJoined")),
        )
        for i, m in enumerate(machines)
    ]


def _device_info(now: datetime, key: str) -> str:
    """``DeviceInfo``: one row per device of the tenant."""
    seen = _quote((now - timedelta(hours=1)).isoformat(sep=" "))
    return f"""SELECT CAST({seen} AS TIMESTAMP) AS Timestamp, DeviceId, DeviceName,
        OS AS OSPlatform, '10.0' AS OSVersion,
        '198.51.100.' || CAST(1 + idx % 250 AS VARCHAR) AS PublicIP, Grp AS MachineGroup,
        Aad AS IsAzureADJoined,
        CASE WHEN OS LIKE 'WindowsServer%' THEN 'Server' ELSE 'Workstation' END AS DeviceType,
        idx AS ReportId FROM {STORE}._dev WHERE tenant = {key}"""


def _alert_rows(
    key: str, alerts: Iterable[dict[str, Any]]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``AlertInfo`` and ``AlertEvidence`` rows of the seeded alerts and their entities."""
    info, evidence = [], []
    for a in alerts:
        when = datetime.fromisoformat(a["alertCreationTime"][:19])
        info.append(
            (
                key,
                when,
                a["id"],
                a["title"],
                a.get("category"),
                a.get("severity"),
                "Microsoft Defender for Endpoint",
                a.get("detectionSource"),
                ",".join(a.get("mitreTechniques") or []),
            )
        )
        for e in a.get("entities") or []:
            evidence.append(
                (
                    key,
                    when,
                    a["id"],
                    a["title"],
                    e.get("entityType"),
                    "Related",
                    a.get("machineId"),
                    a.get("computerDnsName"),
                    e.get("fileName"),
                    e.get("sha1"),
                    e.get("sha256"),
                    e.get("ipAddress"),
                    e.get("url"),
                    e.get("accountName"),
                    "Microsoft Defender for Endpoint",
                )
            )
    return info, evidence


def _planted_rows(key: str, tenant: Tenant, when: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """The demo incident's IOCs on its workstation and two others, and the phishing e-mail."""
    machines = tenant.data["machines"]
    ws = [m for m in machines.values() if "-ws-" in m["computerDnsName"]]
    demo = [a for a in tenant.data["alerts"].values() if a.get("incidentId") == 1001]
    hosts = []
    if tenant.data["incidents"].get(1001) and demo:
        hosts.append(machines[demo[0]["machineId"]])
    hosts += [m for m in ws[1:3] if m not in hosts]
    name, jdoe = tenant.name.upper(), IOCS["account"]
    downloads = "C:\\Users\\jdoe\\Downloads"
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in GENERATED}
    for k, m in enumerate(hosts[:3]):
        base = (key, when, m["id"], m["computerDnsName"])
        iocs = (IOCS["sha1"], IOCS["sha256"], IOCS["md5"])
        out["DeviceFileEvents"].append(
            (*base, "FileCreated", IOCS["file_name"], downloads, *iocs, 184320, "outlook.exe",
             "C:\\Program Files\\Microsoft Office\\outlook.exe", jdoe, 900000 + k)
        )  # fmt: skip
        out["DeviceProcessEvents"].append(
            (*base, "ProcessCreated", IOCS["file_name"], downloads, *iocs, 4242,
             f"{IOCS['file_name']} /silent", name, jdoe, "explorer.exe",
             "C:\\Windows\\explorer.exe", "explorer.exe", 900, 910000 + k)
        )  # fmt: skip
        out["DeviceNetworkEvents"].append(
            (*base, "ConnectionSuccess", IOCS["c2_ip"], 443, IOCS["c2_domain"],
             m["lastIpAddress"], 50123, "Tcp", IOCS["file_name"], downloads, IOCS["file_name"],
             jdoe, 920000 + k)
        )  # fmt: skip
        out["DeviceLogonEvents"].append(
            (*base, "LogonSuccess", "RemoteInteractive", name, jdoe, "S-1-5-21-4242",
             "203.0.113.10", None, 930000 + k)
        )  # fmt: skip
    out["EmailEvents"].append(
        (key, when, "b1f0c7a2-0000-4000-8000-000000000001", "it-support@contoso-support.example",
         "contoso-support.example", f"jdoe@{tenant.domain}", "Password reset required",
         "Delivered", "Phish", 1, 940000)
    )  # fmt: skip
    return out
