"""Safe KQL: literal escaping and a query builder for the common IOC lookups.

No playbook should paste a raw value into a hunting query. Values go through
:func:`kql_string` (a double-quoted KQL string literal in which ``\\`` and ``"`` are escaped and
newline, carriage return and tab are written as escapes; any other control character is
refused), numbers through :func:`kql_int`, times through :func:`kql_datetime` and
:func:`kql_timespan`, and column or table names through :func:`kql_identifier`.

Examples:
    >>> kql_string('evil"; DeviceInfo | take 1 //')
    '"evil\\\\"; DeviceInfo | take 1 //"'
    >>> IocQuery.for_ip("10.0.0.5", lookback_days=7).text.splitlines()[0]
    'DeviceNetworkEvents'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.validation import (
    check_domain,
    check_hash,
    check_ip,
    check_sam_name,
    check_url,
)

__all__ = [
    "IocQuery",
    "kql_datetime",
    "kql_identifier",
    "kql_int",
    "kql_string",
    "kql_string_list",
    "kql_timespan",
]

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_LITERAL = 32_768


def kql_string(value: str, field: str = "value") -> str:
    """A KQL string literal for ``value`` that cannot be broken out of."""
    if not isinstance(value, str):
        raise ValidationError(f"{field}: expected a string", field=field)
    if len(value) > MAX_LITERAL:
        raise ValidationError(f"{field}: longer than {MAX_LITERAL} characters", field=field)
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            raise ValidationError(
                f"{field}: control character U+{ord(ch):04X} is not allowed in a KQL value",
                field=field,
            )
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def kql_string_list(values: Iterable[str], field: str = "values") -> str:
    """``("a", "b")`` for ``in``/``has_any``; at least one value."""
    items = [kql_string(v, f"{field}[{i}]") for i, v in enumerate(values)]
    if not items:
        raise ValidationError(f"{field}: at least one value is needed", field=field)
    return "(" + ", ".join(items) + ")"


def kql_int(value: int, field: str = "value") -> str:
    """An integer literal (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field}: expected an integer", field=field)
    return str(value)


def kql_datetime(value: datetime, field: str = "time") -> str:
    """``datetime(2024-01-01T00:00:00Z)`` from a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{field}: expected a timezone-aware datetime", field=field)
    return f"datetime({value.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})"


def kql_timespan(value: timedelta, field: str = "lookback") -> str:
    """A timespan literal in whole seconds, e.g. ``86400s``; positive and at most 30 days."""
    if not isinstance(value, timedelta):
        raise ValidationError(f"{field}: expected a timedelta", field=field)
    seconds = int(value.total_seconds())
    if seconds <= 0 or seconds > 30 * 86400:
        raise ValidationError(
            f"{field}: must be between 1 second and 30 days (Advanced Hunting keeps 30 days)",
            field=field,
        )
    return f"{seconds}s"


def kql_identifier(name: str, field: str = "column") -> str:
    """A table or column name: letters, digits and ``_`` (KQL names are case-sensitive)."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValidationError(f"{field}: {str(name)[:40]!r} is not a KQL identifier", field=field)
    return name


@dataclass(frozen=True)
class IocQuery:
    """A ready-to-run hunting query for one kind of indicator, built from validated values.

    Every builder returns the devices where the indicator was seen (``DeviceId``,
    ``DeviceName``, ``FirstSeen``, ``LastSeen``, ``Hits``) over ``lookback_days``.
    """

    kind: str
    values: tuple[str, ...]
    text: str

    @staticmethod
    def _summary(lookback_days: int) -> str:
        if isinstance(lookback_days, bool) or not 1 <= int(lookback_days) <= 30:
            raise ValidationError("lookback_days: between 1 and 30", field="lookback_days")
        return (
            "| summarize FirstSeen=min(Timestamp), LastSeen=max(Timestamp), Hits=count() "
            "by DeviceId, DeviceName\n| order by Hits desc"
        )

    @staticmethod
    def _since(lookback_days: int) -> str:
        return f"| where Timestamp > ago({kql_int(int(lookback_days), 'lookback_days')}d)"

    @staticmethod
    def _checked(
        values: str | Sequence[str], check: Callable[[Any, str], str], field: str
    ) -> list[str]:
        """One value or several, each checked (an error names ``field[i]``)."""
        items = [values] if isinstance(values, str) else list(values)
        return [check(v, f"{field}[{i}]") for i, v in enumerate(items)]

    @classmethod
    def _devices_where(
        cls, kind: str, clean: list[str], table: str, condition: str, lookback_days: int
    ) -> IocQuery:
        """The devices of ``table``'s rows matching ``condition`` within the lookback."""
        text = f"{table}\n{cls._since(lookback_days)}\n| where {condition}\n" + cls._summary(
            lookback_days
        )
        return cls(kind, tuple(clean), text)

    @classmethod
    def for_hashes(cls, hashes: Sequence[str], lookback_days: int = 30) -> IocQuery:
        """Devices where files with these SHA-1/SHA-256/MD5 hashes were written or run."""
        clean = [check_hash(h, f"hashes[{i}]") for i, h in enumerate(hashes)]
        if not clean:
            raise ValidationError("hashes: at least one hash is needed", field="hashes")
        by_col: dict[str, list[str]] = {"SHA1": [], "SHA256": [], "MD5": []}
        for h in clean:
            by_col[{40: "SHA1", 64: "SHA256", 32: "MD5"}[len(h)]].append(h)
        cond = " or ".join(
            f"{col} in~ {kql_string_list(vals)}" for col, vals in by_col.items() if vals
        )
        parts = [
            f"{table}\n{cls._since(lookback_days)}\n| where {cond}\n"
            "| project Timestamp, DeviceId, DeviceName"
            for table in ("DeviceFileEvents", "DeviceProcessEvents")
        ]
        text = "union (" + "), (".join(parts) + ")\n" + cls._summary(lookback_days)
        return cls("hash", tuple(clean), text)

    @classmethod
    def for_ip(cls, ip: str | Sequence[str], lookback_days: int = 30) -> IocQuery:
        """Devices that connected to these remote IP addresses."""
        clean = cls._checked(ip, check_ip, "ips")
        cond = f"RemoteIP in {kql_string_list(clean, 'ips')}"
        return cls._devices_where("ip", clean, "DeviceNetworkEvents", cond, lookback_days)

    @classmethod
    def for_domain(cls, domain: str | Sequence[str], lookback_days: int = 30) -> IocQuery:
        """Devices that connected to these domains (or their subdomains)."""
        clean = cls._checked(domain, check_domain, "domains")
        cond = " or ".join(
            f"RemoteUrl =~ {kql_string(d)} or RemoteUrl endswith {kql_string('.' + d)}"
            for d in clean
        )
        return cls._devices_where("domain", clean, "DeviceNetworkEvents", cond, lookback_days)

    @classmethod
    def for_url(cls, url: str | Sequence[str], lookback_days: int = 30) -> IocQuery:
        """Devices that requested these URLs (exact match, case-insensitive)."""
        clean = cls._checked(url, check_url, "urls")
        cond = f"RemoteUrl in~ {kql_string_list(clean, 'urls')}"
        return cls._devices_where("url", clean, "DeviceNetworkEvents", cond, lookback_days)

    @classmethod
    def for_account(cls, account: str | Sequence[str], lookback_days: int = 30) -> IocQuery:
        """Devices where these accounts (SAM names) logged on."""
        clean = cls._checked(account, check_sam_name, "accounts")
        cond = f"AccountName in~ {kql_string_list(clean, 'accounts')}"
        return cls._devices_where("account", clean, "DeviceLogonEvents", cond, lookback_days)
