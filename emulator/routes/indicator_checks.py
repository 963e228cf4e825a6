"""What an indicator body must hold, as the indicator pages document it: field names, types,
actions, severities, value formats per type, expiration in the future, device groups."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ACTIONS", "FIELDS", "TYPES", "group_names", "parse_time", "validate", "value_error"]

TYPES = {
    "FileSha1",
    "FileSha256",
    "FileMd5",
    "CertificateThumbprint",
    "IpAddress",
    "DomainName",
    "Url",
}
# current actions plus the deprecated Alert/AlertAndBlock, which post-ti-indicator.md still lists
ACTIONS = {"Allowed", "Audit", "Block", "BlockAndRemediate", "Warn", "Alert", "AlertAndBlock"}
SEVERITIES = {"Informational", "Low", "Medium", "High"}
FIELDS = {
    "indicatorValue",
    "indicatorType",
    "action",
    "application",
    "title",
    "description",
    "expirationTime",
    "severity",
    "recommendedActions",
    "rbacGroupNames",
    "educateUrl",
    "generateAlert",
}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
_HASH_LENGTHS = {"FileSha1": 40, "CertificateThumbprint": 40, "FileSha256": 64, "FileMd5": 32}


def value_error(kind: str, value: str) -> tuple[str, str] | None:
    """``(code, reason)`` when ``value`` is not a valid ``kind``."""
    if kind in _HASH_LENGTHS:
        n = _HASH_LENGTHS[kind]
        if len(value) != n or not _HEX.match(value):
            return "InvalidHashValue", f"a {kind} value must be {n} hexadecimal characters"
        return None
    if kind == "IpAddress":
        if "/" in value:
            return "InvalidIpAddress", "CIDR notation is not supported for IP indicators"
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return "InvalidIpAddress", "not a valid IPv4 or IPv6 address"
        return None
    if kind == "DomainName":
        return None if _DOMAIN.match(value) else ("InvalidDomainName", "not a valid domain name")
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    return "InvalidUrl", "not a valid http(s) URL"


def parse_time(value: Any) -> datetime | None:
    """An indicator time (7-digit fractions and a missing zone allowed); ``None`` if invalid."""
    if not isinstance(value, str):
        return None
    text = value.strip().removesuffix("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        zone = ""
        for sign in "+-":
            if sign in frac:
                frac, zone = frac.split(sign, 1)
                zone = sign + zone
        text = f"{head}.{frac[:6]}{zone}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def validate(body: Any) -> tuple[str, str] | None:
    """``(code, message)`` of the first problem with one indicator, or ``None``."""
    if not isinstance(body, dict):
        return "InvalidRequestBody", "Indicator must be a JSON object."
    for key in body:
        if key not in FIELDS:
            return "InvalidRequestBody", f"Request body is incorrect: unknown parameter '{key}'."
    for key in ("indicatorValue", "indicatorType", "action", "title", "description"):
        if body.get(key) in (None, ""):
            return "MissingRequiredParameter", f"Missing required parameter: '{key}'."
        if not isinstance(body[key], str):
            return "InvalidRequestBody", f"Parameter '{key}' must be a string."
    kind = body["indicatorType"]
    if kind not in TYPES:
        return "InvalidRequestBody", f"Invalid indicatorType '{kind}'."
    if body["action"] not in ACTIONS:
        return "InvalidRequestBody", f"Invalid action '{body['action']}'."
    problem = value_error(kind, body["indicatorValue"])
    if problem is not None:
        return problem[0], (
            f"Invalid indicator value '{body['indicatorValue'][:100]}' for type {kind}: "
            f"{problem[1]}."
        )
    alert = body.get("generateAlert")
    if alert is not None and not isinstance(alert, bool):
        return "InvalidRequestBody", "generateAlert must be true or false."
    if body["action"] == "Audit" and alert is not True:
        return "InvalidRequestBody", "generateAlert must be true for the Audit action."
    if body.get("severity") is not None and body["severity"] not in SEVERITIES:
        return "InvalidRequestBody", f"Invalid severity '{body['severity']}'."
    if body.get("expirationTime") is not None:
        when = parse_time(body["expirationTime"])
        if when is None:
            return "InvalidRequestBody", f"Invalid expirationTime '{body['expirationTime']}'."
        if when <= datetime.now(UTC):
            return "InvalidRequestBody", "expirationTime must be in the future."
    groups = body.get("rbacGroupNames")
    if groups is not None and not (
        isinstance(groups, str)
        or (isinstance(groups, list) and all(isinstance(g, str) for g in groups))
    ):
        return "InvalidRequestBody", "rbacGroupNames must be a list of device group names."
    return None


def group_names(value: Any) -> list[str]:
    """``rbacGroupNames`` as a list."""
    # post-ti-indicator.md calls rbacGroupNames a comma-separated string, its example (and
    # import-ti-indicators.md) a JSON list: both are accepted and stored as a list
    if value is None:
        return []
    if isinstance(value, str):
        return [g.strip() for g in value.split(",") if g.strip()]
    return list(value)
