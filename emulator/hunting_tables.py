"""Advanced Hunting tables: their columns as in Microsoft's Advanced Hunting schema, and the SQL
that generates their events.

Events are generated with SQL over ``range()`` (so 100,000 rows cost milliseconds). A generated
row names its device by number (``dev_idx``) and leaves the tenant's names empty: the tables are
shared by every tenant, and each tenant's views fill its devices and names in
(:mod:`~prefect_defender.emulator.hunting_store`).
"""

from __future__ import annotations

import threading
from datetime import datetime

import duckdb
import duckdb_kql

__all__ = [
    "ERRORS",
    "GENERATED",
    "HUNTING_TABLES",
    "IP_SHIM",
    "MDE_TABLES",
    "TENANT_COLUMNS",
    "register_ip_functions",
    "template_sql",
]

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

IP_SHIM = r"""
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


def register_ip_functions() -> None:
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


ERRORS: tuple[type[BaseException], ...] = (duckdb_kql.KqlError, duckdb.Error)

#: the tables whose events are generated (the others are the tenant's devices and alerts)
GENERATED = (
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "DeviceLogonEvents",
    "EmailEvents",
)
_DEVICE = {"DeviceId": "d.DeviceId", "DeviceName": "d.DeviceName"}
#: what a tenant's view puts in place of a generated row's device or tenant column (``d``: the
#: tenant's device of the row, ``{name}``: the tenant's name in capitals, ``{domain}``: its
#: ``@domain``)
TENANT_COLUMNS: dict[tuple[str, str], str] = {
    **{(t, c): v for t in GENERATED if t.startswith("Device") for c, v in _DEVICE.items()},
    ("DeviceProcessEvents", "AccountDomain"): "{name}",
    ("DeviceLogonEvents", "AccountDomain"): "{name}",
    ("DeviceNetworkEvents", "LocalIP"): "d.IP",
    ("EmailEvents", "RecipientEmailAddress"): "e.RecipientEmailAddress || {domain}",
}

_USERS = "['jdoe','asmith','bwayne','ckent','dprince','svc_backup'][1 + i % 6]"
_TOOLS = "['powershell.exe','cmd.exe','svchost.exe','chrome.exe','rundll32.exe'][1 + i % 5]"
#: each generated table's columns as SQL over ``i`` (``range``), in the table's column order;
#: ``None`` for what the tenant's view fills in
_EVENTS: dict[str, list[str | None]] = {
    "DeviceProcessEvents": [
        "{ts}", None, None, "'ProcessCreated'", _TOOLS,
        "'C:\\Windows\\System32\\' || " + _TOOLS,
        "md5(CAST(i AS VARCHAR)) || substr(md5(CAST(i AS VARCHAR)), 1, 8)",
        "sha256(CAST(i AS VARCHAR))", "md5(CAST(i AS VARCHAR))", "1000 + i % 60000",
        "CASE WHEN i % 97 = 0 THEN 'powershell.exe -enc SQBFAFgA -nop' "
        "ELSE 'process.exe /arg ' || CAST(i % 1000 AS VARCHAR) END",
        None, _USERS, "'explorer.exe'", "'C:\\Windows\\explorer.exe'", "'explorer.exe'",
        "900 + i % 500", "i",
    ],
    "DeviceNetworkEvents": [
        "{ts}", None, None, "'ConnectionSuccess'",
        "'198.51.100.' || CAST(1 + i % 250 AS VARCHAR)", "[443, 80, 445, 3389][1 + i % 4]",
        "['www.example.com','login.microsoftonline.com','cdn.example.net',"
        "'updates.example.org'][1 + i % 4]",
        None, "49152 + i % 10000", "'Tcp'", "'chrome.exe'",
        "'C:\\Program Files\\Google\\Chrome\\chrome.exe'", "'chrome.exe --type=renderer'",
        _USERS, "i",
    ],
    "DeviceFileEvents": [
        "{ts}", None, None, "['FileCreated','FileModified','FileRenamed'][1 + i % 3]",
        "'doc' || CAST(i AS VARCHAR) || ['.docx','.ps1','.dmp','.exe'][1 + i % 4]",
        "'C:\\Users\\' || " + _USERS + " || '\\Downloads'",
        "substr(sha256('f' || CAST(i AS VARCHAR)), 1, 40)", "sha256('f' || CAST(i AS VARCHAR))",
        "md5('f' || CAST(i AS VARCHAR))", "1024 * (1 + i % 4096)", "'winword.exe'",
        "'C:\\Program Files\\Microsoft Office\\winword.exe'", _USERS, "i",
    ],
    "DeviceLogonEvents": [
        "{ts}", None, None, "CASE WHEN i % 13 = 0 THEN 'LogonFailed' ELSE 'LogonSuccess' END",
        "['Interactive','Network','RemoteInteractive'][1 + i % 3]", None, _USERS,
        "'S-1-5-21-' || CAST(1000 + i % 6 AS VARCHAR)",
        "'10.0.' || CAST(i % 250 AS VARCHAR) || '.' || CAST(1 + i % 200 AS VARCHAR)", "NULL", "i",
    ],
    "EmailEvents": [
        "{ts}", "uuid()::VARCHAR", "'news' || CAST(i % 50 AS VARCHAR) || '@partner.example'",
        "'partner.example'", _USERS, "'Weekly update ' || CAST(i AS VARCHAR)", "'Delivered'",
        "NULL", "i % 3", "i",
    ],
}  # fmt: skip


def template_sql(
    prefix: str, now: datetime, rows: int, proc_rows: int, devices: int
) -> list[tuple[str, str]]:
    """``(table, CREATE TABLE statement)`` of each generated table: ``rows`` events per device
    table (``proc_rows`` process events) spread over ``devices`` devices and the last month, and
    a tenth as many e-mails."""
    stamp = f"TIMESTAMP '{now.isoformat(sep=' ')}'"
    ts = f"{stamp} - to_seconds(CAST((hash(i) % 2500000) AS BIGINT))"
    counts = {"DeviceProcessEvents": proc_rows, "EmailEvents": max(1, rows // 10)}
    out = []
    for table in GENERATED:
        exprs = _EVENTS[table]
        cols = HUNTING_TABLES[table]
        assert len(exprs) == len(cols), table
        select = [
            f"CAST({(e or 'NULL').format(ts=ts)} AS {t}) AS {c}"
            for e, (c, t) in zip(exprs, cols, strict=True)
        ]
        if table.startswith("Device"):
            select.append(f"i % {devices} AS dev_idx")
        n = counts.get(table, rows)
        out.append(
            (
                table,
                f"CREATE TABLE {prefix}{table} AS SELECT {', '.join(select)} FROM range({n}) t(i)",
            )
        )
    return out
