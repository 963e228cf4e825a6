"""What the MSSP fan-out found, per tenant: the devices and accounts each tenant's hunting rows
named, with their Defender portal links, under the tenant's display name (the report's layout,
failures first with their consent links, is :mod:`~prefect_defender.flows.mssp_report`)."""

from __future__ import annotations

from typing import Any

from prefect_defender.flows.decision_context import md_text

__all__ = ["findings_section", "found_text"]


def found_text(row: dict[str, Any]) -> str:
    """What a tenant's query named, in words: ``"3 devices, 1 account"`` (empty for nothing).

    Examples:
        >>> found_text({"devices_found": 3, "accounts_found": 1})
        '3 devices, 1 account'
    """
    parts = []
    for key, noun in (("devices_found", "device"), ("accounts_found", "account")):
        n = row.get(key)
        if n:
            parts.append(f"{n} {noun}{'' if n == 1 else 's'}")
    return ", ".join(parts)


def _links(items: list[dict[str, Any]], found: int) -> str:
    shown = ", ".join(
        f"[{md_text(i['name'], 120, breaks=False)}]({i['link']})"
        if i.get("link")
        else md_text(i["name"], 120, breaks=False)
        for i in items
    )
    more = found - len(items)
    return shown + (f" and {more} more" if more > 0 else "")


def findings_section(rows: list[dict[str, Any]]) -> str | None:
    """``## Found per tenant``: one heading per tenant whose query named devices or accounts,
    with the devices and accounts as portal links; ``None`` when nothing was found."""
    blocks = []
    for r in rows:
        if not (r.get("devices") or r.get("accounts")):
            continue
        tenant = md_text(r.get("tenant") or r.get("tenant_id"), breaks=False)
        lines = [f"### {tenant}: {found_text(r)}", ""]
        if r.get("devices"):
            lines.append(f"- Devices: {_links(r['devices'], r.get('devices_found', 0))}")
        if r.get("accounts"):
            lines.append(f"- Accounts: {_links(r['accounts'], r.get('accounts_found', 0))}")
        blocks.append("\n".join(lines))
    return "## Found per tenant\n\n" + "\n\n".join(blocks) if blocks else None
