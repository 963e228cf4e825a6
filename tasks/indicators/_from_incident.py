"""Indicators from an incident's entities: files, IPs, URLs and domains, nothing dropped.

Every entity either becomes a valid :class:`~prefect_defender.api.models.indicators.IndicatorInput`
or an :class:`~prefect_defender.tasks.outcomes.ItemOutcome` saying why not (a private address is
``skipped``, a value Defender would refuse is ``failed``). Nothing is sent here: the block-
indicators playbook passes the valid ones to ``tasks.indicators.import_indicators``.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.incidents import Incident
from prefect_defender.api.models.indicators import (
    IndicatorAction,
    IndicatorInput,
    IndicatorSeverity,
)
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus

__all__ = [
    "ENTITY_KINDS",
    "indicators_from_entities",
]

#: the entity kinds an incident's indicators can come from
ENTITY_KINDS = ("file", "ip", "url", "domain")

_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def _internal(value: str) -> bool:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in _INTERNAL)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _candidates(incident: Incident, kinds: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``(indicator type, value, label)`` for the incident's entities, duplicates merged."""
    found: list[tuple[str, str, str]] = []
    for alert in incident.alerts:
        for e in alert.entities:
            if "file" in kinds and (e.sha256 or e.sha1):
                kind = "FileSha256" if e.sha256 else "FileSha1"
                name = f"file {e.file_name}" if e.file_name else "file"
                found.append((kind, str(e.sha256 or e.sha1), name))
            if "ip" in kinds and e.ip_address:
                found.append(("IpAddress", e.ip_address, "ip"))
            if "url" in kinds and e.url:
                found.append(("Url", e.url, "url"))
            if "domain" in kinds and e.url:
                host = urlsplit(e.url).hostname
                if host and not _is_ip(host):
                    found.append(("DomainName", host, "domain"))
    unique: dict[tuple[str, str], tuple[str, str, str]] = {}
    for kind, value, label in found:
        unique.setdefault((kind, value.lower()), (kind, value, label))
    return list(unique.values())


def _description(incident: Incident) -> str:
    text = f"From incident {incident.incident_id}"
    if incident.incident_name:
        text += f": {incident.incident_name}"
    return text[:4000]


def _indicator(
    incident: Incident,
    kind: str,
    value: str,
    title: str,
    action: IndicatorAction | str,
    expiry: datetime,
    severity: IndicatorSeverity | str,
) -> IndicatorInput:
    """One entity's indicator (``ValidationError`` for a value Defender would refuse)."""
    return IndicatorInput(
        value=value,
        type=kind,
        action=action,
        title=title,
        description=_description(incident),
        expiration_time=expiry,
        severity=severity,
        generate_alert=True if str(action) == IndicatorAction.AUDIT.value else None,
    )


def indicators_from_entities(
    incident: Incident,
    *,
    action: IndicatorAction | str = IndicatorAction.BLOCK,
    expires_in: timedelta = timedelta(days=30),
    kinds: tuple[str, ...] = ENTITY_KINDS,
    title_prefix: str = "prefect-defender",
    severity: IndicatorSeverity | str = IndicatorSeverity.HIGH,
    block_internal_ips: bool = False,
) -> tuple[list[IndicatorInput], list[ItemOutcome]]:
    """Indicators for an incident's file, IP, URL and domain entities.

    Files become ``FileSha256`` indicators (``FileSha1`` when only the SHA-1 is known), IPs
    ``IpAddress``, URLs ``Url`` and their host names ``DomainName``; duplicates are merged.
    Returns the valid indicators and, for every entity that cannot become one, an outcome
    saying why: ``skipped`` for a private, loopback or link-local IP (blocking those would cut
    the organisation off from itself, unless ``block_internal_ips``), ``failed`` for a value
    Defender would refuse. Nothing is sent; pass the first list to
    :func:`~prefect_defender.tasks.indicators.import_indicators`.

    Example:
        ```python
        from prefect import flow
        from prefect_defender.blocks import DefenderApplicationCredentials
        from prefect_defender.tasks.incidents import get_incident
        from prefect_defender.tasks.indicators import import_indicators, indicators_from_entities

        @flow
        async def block_incident_iocs(incident_id: int):
            creds = await DefenderApplicationCredentials.load("BLOCK_NAME")
            incident = await get_incident(creds, incident_id)
            valid, set_aside = indicators_from_entities(incident, action="Block")
            return await import_indicators(creds, valid), set_aside
        ```
    """
    unknown = set(kinds) - set(ENTITY_KINDS)
    if unknown:
        raise ValidationError(f"kinds: unknown kind(s) {sorted(unknown)}", field="kinds")
    expiry = datetime.now(UTC) + expires_in
    valid: list[IndicatorInput] = []
    set_aside: list[ItemOutcome] = []
    for kind, value, label in _candidates(incident, kinds):
        item = f"{kind}:{value}"
        if kind == "IpAddress" and not block_internal_ips and _internal(value):
            reason = "private, loopback or link-local address: not blocked"
            set_aside.append(ItemOutcome(item=item, status=OutcomeStatus.SKIPPED, reason=reason))
            continue
        title = f"{title_prefix}: incident {incident.incident_id} {label}"
        try:
            valid.append(_indicator(incident, kind, value, title, action, expiry, severity))
        except (ValidationError, ValueError) as exc:
            set_aside.append(ItemOutcome(item=item, status=OutcomeStatus.FAILED, reason=str(exc)))
    return valid, set_aside
