"""Advanced Hunting tables per tenant, in DuckDB, generated from the seeded machines.

Tables are built with SQL over ``range()`` (so 100,000 rows cost milliseconds), with columns
named as in Microsoft's Advanced Hunting schema. The seed plants the incident IOCs
(``seed.IOCS``) on the demo incident's workstation and two more, so hunts find a spread.

Base tables are stored as ``_t_<Table>``; every query runs against views named after the real
tables that keep only the last 30 days (or the request's ``Timespan``), like the service.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import duckdb_kql

from prefect_defender.emulator.seed import IOCS
from prefect_defender.emulator.state import EmulatorState, Tenant

__all__ = ["HUNTING_TABLES", "MDE_TABLES", "HuntingDB"]

HUNTING_TABLES: dict[str, list[tuple[str, str]]] = {
    "DeviceProcessEvents": [
        ("Timestamp", "TIMESTAMP"),
        ("DeviceId", "VARCHAR"),
        ("DeviceName", "VARCHAR"),
        ("ActionType", "VARCHAR"),
        ("FileName", "VARCHAR"),
        ("FolderPath", "VARCHAR"),
        ("SHA1", "VARCHAR"),
        ("SHA256", "VARCHAR"),
        ("MD5", "VARCHAR"),
        ("ProcessId", "BIGINT"),
        ("ProcessCommandLine", "VARCHAR"),
        ("AccountDomain", "VARCHAR"),
        ("AccountName", "VARCHAR"),
        ("InitiatingProcessFileName", "VARCHAR"),
        ("InitiatingProcessFolderPath", "VARCHAR"),
        ("InitiatingProcessCommandLine", "VARCHAR"),
        ("InitiatingProcessId", "BIGINT"),
        ("ReportId", "BIGINT"),
    ],
    "DeviceNetworkEvents": [
        ("Timestamp", "TIMESTAMP"),
        ("DeviceId", "VARCHAR"),
        ("DeviceName", "VARCHAR"),
        ("ActionType", "VARCHAR"),
        ("RemoteIP", "VARCHAR"),
        ("RemotePort", "BIGINT"),
        ("RemoteUrl", "VARCHAR"),
        ("LocalIP", "VARCHAR"),
        ("LocalPort", "BIGINT"),
        ("Protocol", "VARCHAR"),
        ("InitiatingProcessFileName", "VARCHAR"),
        ("InitiatingProcessFolderPath", "VARCHAR"),
        ("InitiatingProcessCommandLine", "VARCHAR"),
        ("InitiatingProcessAccountName", "VARCHAR"),
        ("ReportId", "BIGINT"),
    ],
    "DeviceFileEvents": [
        ("Timestamp", "TIMESTAMP"),
        ("DeviceId", "VARCHAR"),
        ("DeviceName", "VARCHAR"),
        ("ActionType", "VARCHAR"),
        ("FileName", "VARCHAR"),
        ("FolderPath", "VARCHAR"),
        ("SHA1", "VARCHAR"),
        ("SHA256", "VARCHAR"),
        ("MD5", "VARCHAR"),
        ("FileSize", "BIGINT"),
        ("InitiatingProcessFileName", "VARCHAR"),
        ("InitiatingProcessFolderPath", "VARCHAR"),
        ("InitiatingProcessAccountName", "VARCHAR"),
        ("ReportId", "BIGINT"),
    ],
    "DeviceLogonEvents": [
        ("Timestamp", "TIMESTAMP"),
        ("DeviceId", "VARCHAR"),
        ("DeviceName", "VARCHAR"),
        ("ActionType", "VARCHAR"),
        ("LogonType", "VARCHAR"),
        ("AccountDomain", "VARCHAR"),
        ("AccountName", "VARCHAR"),
        ("AccountSid", "VARCHAR"),
        ("RemoteIP", "VARCHAR"),
        ("RemoteDeviceName", "VARCHAR"),
        ("ReportId", "BIGINT"),
    ],
    "DeviceInfo": [
        ("Timestamp", "TIMESTAMP"),
        ("DeviceId", "VARCHAR"),
        ("DeviceName", "VARCHAR"),
        ("OSPlatform", "VARCHAR"),
        ("OSVersion", "VARCHAR"),
        ("PublicIP", "VARCHAR"),
        ("MachineGroup", "VARCHAR"),
        ("IsAzureADJoined", "BOOLEAN"),
        ("DeviceType", "VARCHAR"),
        ("ReportId", "BIGINT"),
    ],
    "EmailEvents": [
        ("Timestamp", "TIMESTAMP"),
        ("NetworkMessageId", "VARCHAR"),
        ("SenderFromAddress", "VARCHAR"),
        ("SenderMailFromDomain", "VARCHAR"),
        ("RecipientEmailAddress", "VARCHAR"),
        ("Subject", "VARCHAR"),
        ("DeliveryAction", "VARCHAR"),
        ("ThreatTypes", "VARCHAR"),
        ("UrlCount", "BIGINT"),
        ("ReportId", "BIGINT"),
    ],
    "AlertInfo": [
        ("Timestamp", "TIMESTAMP"),
        ("AlertId", "VARCHAR"),
        ("Title", "VARCHAR"),
        ("Category", "VARCHAR"),
        ("Severity", "VARCHAR"),
        ("ServiceSource", "VARCHAR"),
        ("DetectionSource", "VARCHAR"),
        ("AttackTechniques", "VARCHAR"),
    ],
    "AlertEvidence": [
        ("Timestamp", "TIMESTAMP"),
        ("AlertId", "VARCHAR"),
        ("Title", "VARCHAR"),
        ("EntityType", "VARCHAR"),
        ("EvidenceRole", "VARCHAR"),
        ("DeviceId", "VARCHAR"),
        ("DeviceName", "VARCHAR"),
        ("FileName", "VARCHAR"),
        ("SHA1", "VARCHAR"),
        ("SHA256", "VARCHAR"),
        ("RemoteIP", "VARCHAR"),
        ("RemoteUrl", "VARCHAR"),
        ("AccountName", "VARCHAR"),
        ("ServiceSource", "VARCHAR"),
    ],
}
#: the older MDE endpoint covers the Device* tables only
MDE_TABLES = {t for t in HUNTING_TABLES if t.startswith("Device")}

_IP_SHIM = r"""
CREATE OR REPLACE MACRO kql_ip2int(s) AS CASE WHEN regexp_full_match(CAST(s AS VARCHAR),
  '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}')
  THEN (CAST(split_part(s,'.',1) AS BIGINT)<<24)+(CAST(split_part(s,'.',2) AS BIGINT)<<16)
     +(CAST(split_part(s,'.',3) AS BIGINT)<<8)+CAST(split_part(s,'.',4) AS BIGINT) END;
CREATE OR REPLACE MACRO kql_ipv4_is_in_range(ip, cidr) AS
  (kql_ip2int(ip) >> (32-coalesce(TRY_CAST(nullif(split_part(cidr,'/',2),'') AS INT),32)))
  = (kql_ip2int(split_part(cidr,'/',1))
     >> (32-coalesce(TRY_CAST(nullif(split_part(cidr,'/',2),'') AS INT),32)));
CREATE OR REPLACE MACRO kql_ipv4_is_private(ip) AS kql_ipv4_is_in_range(ip,'10.0.0.0/8')
  OR kql_ipv4_is_in_range(ip,'172.16.0.0/12') OR kql_ipv4_is_in_range(ip,'192.168.0.0/16');
"""
_shim_lock = threading.Lock()
_shim_done = False


def _register_ip_functions() -> None:
    """Teach duckdb-kql 1.1.2 ipv4_is_in_range/ipv4_is_private (it lacks them)."""
    global _shim_done
    with _shim_lock:
        if _shim_done:
            return
        from duckdb_kql.translate import functions as fns

        fns.SCALAR_FUNCTIONS["ipv4_is_in_range"] = fns._f(
            "ipv4_is_in_range", "template", "kql_ipv4_is_in_range({0}, {1})", (2,)
        )
        fns.SCALAR_FUNCTIONS["ipv4_is_private"] = fns._f(
            "ipv4_is_private", "template", "kql_ipv4_is_private({0})", (1,)
        )
        _shim_done = True


class HuntingDB:
    """One DuckDB database per tenant holding its hunting tables."""

    def __init__(self, state: EmulatorState, tenant: Tenant) -> None:
        _register_ip_functions()
        self.lock = threading.Lock()
        self.con = duckdb_kql.connect()
        self.con.execute(_IP_SHIM)
        self.now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        self._build(state, tenant)

    def _build(self, state: EmulatorState, tenant: Tenant) -> None:
        """The tenant's tables: its devices, generated events, its alerts, the planted IOCs."""
        rows = int(state.config.get("hunting_rows_per_table", 2000))
        big = int(state.config.get("hunting_big_rows", 0) or 0)
        machines = list(tenant.data["machines"].values())
        self._load_devices(machines)
        for table, cols in HUNTING_TABLES.items():
            self.con.execute(f"CREATE TABLE _t_{table} ({', '.join(f'{c} {t}' for c, t in cols)})")
        self._generate_events(tenant, rows, max(rows, big), max(1, len(machines)))
        self._load_alerts(tenant)
        self._plant(tenant)

    def _load_devices(self, machines: list[dict[str, Any]]) -> None:
        """``_dev``: the seeded machines, numbered, that generated events are spread over."""
        con = self.con
        con.execute(
            "CREATE TABLE _dev (idx BIGINT, DeviceId VARCHAR, DeviceName VARCHAR, "
            "OS VARCHAR, IP VARCHAR, Grp VARCHAR, Aad BOOLEAN)"
        )
        con.executemany(
            "INSERT INTO _dev VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    m["id"],
                    m["computerDnsName"],
                    m["osPlatform"],
                    m["lastIpAddress"],
                    m.get("rbacGroupName"),
                    bool(m.get("isAadJoined")),
                )
                for i, m in enumerate(machines)
            ],
        )

    def _generate_events(self, tenant: Tenant, rows: int, proc_rows: int, n: int) -> None:
        """``rows`` generated events per device table (``proc_rows`` process events), spread
        over the ``n`` devices and the last month, and a tenth as many e-mails."""
        con = self.con
        now = f"TIMESTAMP '{self.now.isoformat(sep=' ')}'"
        ts = f"{now} - to_seconds(CAST((hash(i) % 2500000) AS BIGINT))"
        dev = f"(SELECT * FROM _dev WHERE idx = i % {n})"
        users = "['jdoe','asmith','bwayne','ckent','dprince','svc_backup']"
        con.execute(f"""INSERT INTO _t_DeviceProcessEvents SELECT {ts}, d.DeviceId, d.DeviceName,
            'ProcessCreated',
            ['powershell.exe','cmd.exe','svchost.exe','chrome.exe','rundll32.exe'][1 + i % 5],
            'C:\\Windows\\System32\\' || ['powershell.exe','cmd.exe','svchost.exe','chrome.exe',
                'rundll32.exe'][1 + i % 5],
            md5(CAST(i AS VARCHAR)) || substr(md5(CAST(i AS VARCHAR)), 1, 8),
            sha256(CAST(i AS VARCHAR)), md5(CAST(i AS VARCHAR)), 1000 + i % 60000,
            CASE WHEN i % 97 = 0 THEN 'powershell.exe -enc SQBFAFgA -nop'
                 ELSE 'process.exe /arg ' || CAST(i % 1000 AS VARCHAR) END,
            upper('{tenant.name}'), {users}[1 + i % 6], 'explorer.exe',
            'C:\\Windows\\explorer.exe', 'explorer.exe', 900 + i % 500, i
            FROM range({proc_rows}) t(i), LATERAL {dev} d""")
        con.execute(f"""INSERT INTO _t_DeviceNetworkEvents SELECT {ts}, d.DeviceId, d.DeviceName,
            'ConnectionSuccess',
            '198.51.100.' || CAST(1 + i % 250 AS VARCHAR), [443, 80, 445, 3389][1 + i % 4],
            ['www.example.com','login.microsoftonline.com','cdn.example.net',
             'updates.example.org'][1 + i % 4],
            d.IP, 49152 + i % 10000, 'Tcp', 'chrome.exe',
            'C:\\Program Files\\Google\\Chrome\\chrome.exe', 'chrome.exe --type=renderer',
            {users}[1 + i % 6], i FROM range({rows}) t(i), LATERAL {dev} d""")
        con.execute(f"""INSERT INTO _t_DeviceFileEvents SELECT {ts}, d.DeviceId, d.DeviceName,
            ['FileCreated','FileModified','FileRenamed'][1 + i % 3],
            'doc' || CAST(i AS VARCHAR) || ['.docx','.ps1','.dmp','.exe'][1 + i % 4],
            'C:\\Users\\' || {users}[1 + i % 6] || '\\Downloads',
            substr(sha256('f' || CAST(i AS VARCHAR)), 1, 40), sha256('f' || CAST(i AS VARCHAR)),
            md5('f' || CAST(i AS VARCHAR)), 1024 * (1 + i % 4096), 'winword.exe',
            'C:\\Program Files\\Microsoft Office\\winword.exe', {users}[1 + i % 6], i
            FROM range({rows}) t(i), LATERAL {dev} d""")
        con.execute(f"""INSERT INTO _t_DeviceLogonEvents SELECT {ts}, d.DeviceId, d.DeviceName,
            CASE WHEN i % 13 = 0 THEN 'LogonFailed' ELSE 'LogonSuccess' END,
            ['Interactive','Network','RemoteInteractive'][1 + i % 3], upper('{tenant.name}'),
            {users}[1 + i % 6], 'S-1-5-21-' || CAST(1000 + i % 6 AS VARCHAR),
            '10.0.' || CAST(i % 250 AS VARCHAR) || '.' || CAST(1 + i % 200 AS VARCHAR),
            NULL, i FROM range({rows}) t(i), LATERAL {dev} d""")
        con.execute(f"""INSERT INTO _t_DeviceInfo SELECT {now} - INTERVAL 1 HOUR, DeviceId,
            DeviceName, OS, '10.0', '198.51.100.' || CAST(1 + idx % 250 AS VARCHAR), Grp, Aad,
            CASE WHEN OS LIKE 'WindowsServer%' THEN 'Server' ELSE 'Workstation' END, idx
            FROM _dev""")
        con.execute(f"""INSERT INTO _t_EmailEvents SELECT {ts},
            uuid()::VARCHAR, 'news' || CAST(i % 50 AS VARCHAR) || '@partner.example',
            'partner.example', {users}[1 + i % 6] || '@{tenant.domain}',
            'Weekly update ' || CAST(i AS VARCHAR), 'Delivered', NULL, i % 3, i
            FROM range({max(1, rows // 10)}) t(i)""")

    def _load_alerts(self, tenant: Tenant) -> None:
        """``AlertInfo`` and ``AlertEvidence`` from the seeded alerts and their entities."""
        con = self.con
        for a in tenant.data["alerts"].values():
            when = a["alertCreationTime"][:19].replace("T", " ")
            con.execute(
                "INSERT INTO _t_AlertInfo VALUES (CAST(? AS TIMESTAMP), ?, ?, ?, ?, "
                "'Microsoft Defender for Endpoint', ?, ?)",
                [
                    when,
                    a["id"],
                    a["title"],
                    a.get("category"),
                    a.get("severity"),
                    a.get("detectionSource"),
                    ",".join(a.get("mitreTechniques") or []),
                ],
            )
            for e in a.get("entities") or []:
                con.execute(
                    "INSERT INTO _t_AlertEvidence VALUES (CAST(? AS TIMESTAMP), ?, ?, ?, "
                    "'Related', ?, ?, ?, ?, ?, ?, ?, ?, 'Microsoft Defender for Endpoint')",
                    [
                        when,
                        a["id"],
                        a["title"],
                        e.get("entityType"),
                        a.get("machineId"),
                        a.get("computerDnsName"),
                        e.get("fileName"),
                        e.get("sha1"),
                        e.get("sha256"),
                        e.get("ipAddress"),
                        e.get("url"),
                        e.get("accountName"),
                    ],
                )

    def _plant(self, tenant: Tenant) -> None:
        """The demo incident's IOCs on its workstation and two others."""
        ws = [m for m in tenant.data["machines"].values() if "-ws-" in m["computerDnsName"]]
        first = tenant.data["incidents"].get(1001)
        demo_alerts = [a for a in tenant.data["alerts"].values() if a.get("incidentId") == 1001]
        hosts = []
        if first and demo_alerts:
            hosts.append(tenant.data["machines"][demo_alerts[0]["machineId"]])
        hosts += [m for m in ws[1:3] if m not in hosts]
        when = (self.now - timedelta(hours=2)).isoformat(sep=" ")
        for k, m in enumerate(hosts[:3]):
            args = [when, m["id"], m["computerDnsName"]]
            self.con.execute(
                "INSERT INTO _t_DeviceFileEvents VALUES (CAST(? AS TIMESTAMP), ?, ?, 'FileCreated',"
                " ?, 'C:\\Users\\jdoe\\Downloads', ?, ?, ?, 184320, 'outlook.exe',"
                " 'C:\\Program Files\\Microsoft Office\\outlook.exe', 'jdoe', ?)",
                [*args, IOCS["file_name"], IOCS["sha1"], IOCS["sha256"], IOCS["md5"], 900000 + k],
            )
            self.con.execute(
                "INSERT INTO _t_DeviceProcessEvents VALUES (CAST(? AS TIMESTAMP), ?, ?,"
                " 'ProcessCreated', ?, 'C:\\Users\\jdoe\\Downloads', ?, ?, ?, 4242, ?,"
                " ?, 'jdoe', 'explorer.exe', 'C:\\Windows\\explorer.exe', 'explorer.exe', 900, ?)",
                [
                    *args,
                    IOCS["file_name"],
                    IOCS["sha1"],
                    IOCS["sha256"],
                    IOCS["md5"],
                    f"{IOCS['file_name']} /silent",
                    tenant.name.upper(),
                    910000 + k,
                ],
            )
            self.con.execute(
                "INSERT INTO _t_DeviceNetworkEvents VALUES (CAST(? AS TIMESTAMP), ?, ?,"
                " 'ConnectionSuccess', ?, 443, ?, ?, 50123, 'Tcp', ?, 'C:\\Users\\jdoe\\Downloads',"
                " ?, 'jdoe', ?)",
                [
                    *args,
                    IOCS["c2_ip"],
                    IOCS["c2_domain"],
                    m["lastIpAddress"],
                    IOCS["file_name"],
                    IOCS["file_name"],
                    920000 + k,
                ],
            )
            self.con.execute(
                "INSERT INTO _t_DeviceLogonEvents VALUES (CAST(? AS TIMESTAMP), ?, ?,"
                " 'LogonSuccess', 'RemoteInteractive', ?, ?, 'S-1-5-21-4242', ?, NULL, ?)",
                [*args, tenant.name.upper(), IOCS["account"], "203.0.113.10", 930000 + k],
            )
        self.con.execute(
            "INSERT INTO _t_EmailEvents VALUES (CAST(? AS TIMESTAMP), ?, "
            "'it-support@contoso-support.example', 'contoso-support.example', ?, "
            "'Password reset required', 'Delivered', 'Phish', 1, 940000)",
            [when, "b1f0c7a2-0000-4000-8000-000000000001", f"jdoe@{tenant.domain}"],
        )

    def run(
        self, query: str, *, tables: set[str], since: datetime | None, cap: int
    ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        """Run KQL; return (column names, Kusto types, rows[:cap])."""
        from duckdb_kql.types import kusto_type

        cutoff = since or (self.now - timedelta(days=30))
        with self.lock:
            for table in HUNTING_TABLES:
                if table in tables:
                    self.con.execute(
                        f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM _t_{table} "
                        f"WHERE Timestamp >= TIMESTAMP '{cutoff.isoformat(sep=' ')}'"
                    )
                else:
                    self.con.execute(f"DROP VIEW IF EXISTS {table}")
            rel = duckdb_kql.kql(self.con, query, allow_write=False, query_now=self.now)
            types = [kusto_type(str(t)) for t in rel.types]
            rows = rel.limit(cap).fetchall()
            return list(rel.columns), types, rows


ERRORS: tuple[type[BaseException], ...] = (duckdb_kql.KqlError, duckdb.Error)
