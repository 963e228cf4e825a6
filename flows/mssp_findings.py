"""What the MSSP fan-out found, per tenant: failures first with their whole error (and, for a
tenant that never consented, the consent link), then the devices and accounts each tenant's
hunting rows named, with their Defender portal links, under the tenant's display name."""

from __future__ import annotations

from typing import Any

from prefect_defender.flows.decision_context import md_text

__all__ = ["failures_first", "findings_section", "report_rows"]

_ORDER = {"failed": 0, "partial": 1, "skipped": 2}


def failures_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with failed, then partial, then skipped tenants first (stable otherwise)."""
    return sorted(rows, key=lambda r: _ORDER.get(str(r.get("status")), 3))


def _found(row: dict[str, Any]) -> str:
    parts = []
    for key, noun in (("devices_found", "device"), ("accounts_found", "account")):
        n = row.get(key)
        if n:
            parts.append(f"{n} {noun}{'' if n == 1 else 's'}")
    return ", ".join(parts)


def report_rows(rows: list[dict[str, Any]], consent_url: Any) -> list[dict[str, Any]]:
    """The report's table rows, failures first: ``found`` says what the query named, and a
    missing consent's error ends with the link an administrator of that tenant opens."""
    out = []
    for r in failures_first(rows):
        error = str(r.get("error") or "")
        if r.get("consent") and r.get("tenant_id"):
            error += f" Consent link: [grant admin consent]({consent_url(r['tenant_id'])})"
        out.append({**r, "found": _found(r), "error": error})
    return out


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
        lines = [f"### {tenant}: {_found(r)}", ""]
        if r.get("devices"):
            lines.append(f"- Devices: {_links(r['devices'], r.get('devices_found', 0))}")
        if r.get("accounts"):
            lines.append(f"- Accounts: {_links(r['accounts'], r.get('accounts_found', 0))}")
        blocks.append("\n".join(lines))
    return "## Found per tenant\n\n" + "\n\n".join(blocks) if blocks else None
