"""What an operator sees when a playbook asks for a decision: :class:`DecisionContext`.

The context holds the incident (title, severity, status, triage score and reasons, alert
titles), every device (name, OS, health, last seen, risk and exposure, tags, why it is
protected, portal link) and every account (UPN, providers, enabled, risk level, last sign-ins,
privileged groups, why it is protected, portal link), what will be done to each, the blast
radius against the safety caps and the absolute deadline.

:meth:`DecisionContext.markdown` is the description of the Prefect UI's resume dialog. The
dialog is narrow (about 460 px of text), so the context is laid out one item per block (a
heading and a short list), never as a wide table, and long names get break opportunities.
:meth:`DecisionContext.summary` is the one line a notification says about what will be done.

Values that come from Defender or Entra ID (names, titles, tags) are data: markdown's active
characters in them are escaped, so a crafted alert title cannot add a link or a heading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AccountFacts",
    "DecisionContext",
    "DeviceFacts",
    "IncidentFacts",
    "md_text",
    "utc",
]

#: characters that make markdown (or HTML) out of plain text
_ACTIVE = re.compile(r"([\\`*_\[\]<>#|~])")
#: a token longer than this gets break opportunities after . @ _ - / \
_LONG_TOKEN = 24
#: alert titles shown in the form (the rest are counted)
MAX_ALERT_TITLES = 8
#: sign-ins shown per account
MAX_SIGN_INS = 3


def md_text(value: Any, limit: int = 300, breaks: bool = True) -> str:
    """``value`` as inert markdown on one line: bounded, active characters escaped, long tokens
    breakable (``<wbr>`` after ``.``, ``@``, ``_``, ``-``, ``/``), no e-mail autolinks; with
    ``breaks=False`` (a wide page, a link's text) escaped only.

    Examples:
        >>> md_text("[click](https://evil.example)")
        '\\\\[click\\\\](https://evil.example)'
    """
    text = " ".join(str(value if value is not None else "").split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    words = []
    for word in text.split(" "):
        escaped = _ACTIVE.sub(r"\\\1", word)
        if breaks and len(word) > _LONG_TOKEN:
            escaped = re.sub(r"([.@_/-])", r"\1<wbr>", escaped)
        elif breaks and "@" in escaped:  # no mailto: autolink of an account name
            escaped = escaped.replace("@", "@<wbr>")
        words.append(escaped)
    return " ".join(words)


def utc(when: datetime | None) -> str:
    """``2026-12-04 19:14 UTC`` (empty for ``None``)."""
    if when is None:
        return ""
    if when.tzinfo is not None:
        from datetime import UTC

        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _link(label: str, url: str | None) -> str:
    """A markdown link with a fixed label (the URL is ours, built from ids)."""
    return f"[{label}]({url})" if url else ""


def _or_unknown(value: Any) -> str:
    return md_text(value) if value not in (None, "", []) else "unknown"


@dataclass
class IncidentFacts:
    """The incident a decision is about."""

    incident_id: int | str
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    score: str | None = None
    alert_titles: list[str] = field(default_factory=list)
    link: str | None = None

    def heading(self) -> str:
        """``incident 1001 (High)``."""
        return f"incident {self.incident_id}" + (f" ({self.severity})" if self.severity else "")

    def markdown(self) -> list[str]:
        """The incident's lines of the form."""
        lines = [f"**{md_text(self.title or 'untitled incident')}**", ""]
        facts = [f"severity {_or_unknown(self.severity)}", f"status {_or_unknown(self.status)}"]
        if self.link:
            facts.append(_link("open the incident in Defender", self.link))
        lines += [" · ".join(facts), ""]
        lines += [f"**Why:** {md_text(self.score or 'not triaged yet', 600)}", ""]
        titles = list(dict.fromkeys(t for t in self.alert_titles if t))
        if titles:
            shown = "; ".join(md_text(t, 120) for t in titles[:MAX_ALERT_TITLES])
            more = len(titles) - MAX_ALERT_TITLES
            lines += [
                f"**Alerts ({len(titles)}):** {shown}" + (f"; {more} more" if more > 0 else "")
            ]
            lines.append("")
        return lines


@dataclass
class DeviceFacts:
    """One device of a decision and what will be done to it."""

    name: str
    machine_id: str
    action: str
    os: str | None = None
    health: str | None = None
    last_seen: datetime | None = None
    risk: str | None = None
    exposure: str | None = None
    tags: list[str] = field(default_factory=list)
    protected: str | None = None
    link: str | None = None

    def markdown(self, n: int) -> list[str]:
        """The device's block: a heading and one fact per line."""
        return [
            f"#### Device {n}: {md_text(self.name)}",
            "",
            f"- **To do:** {md_text(self.action)}",
            f"- OS: {_or_unknown(self.os)}",
            f"- Health: {_or_unknown(self.health)}; last seen {utc(self.last_seen) or 'unknown'}",
            f"- Risk: {_or_unknown(self.risk)}; exposure: {_or_unknown(self.exposure)}",
            f"- Tags: {md_text(', '.join(self.tags)) if self.tags else 'none'}",
            f"- Protected: {'**yes**, ' + md_text(self.protected) if self.protected else 'no'}",
            f"- {_link('Open the device in Defender', self.link) or 'no portal link'}",
            "",
        ]


@dataclass
class AccountFacts:
    """One account of a decision and what will be done to it."""

    upn: str
    actions: list[str]
    providers: list[str] = field(default_factory=list)
    enabled: bool | None = None
    risk_level: str | None = None
    last_sign_ins: list[str] = field(default_factory=list)
    privileged_groups: list[str] = field(default_factory=list)
    protected: str | None = None
    link: str | None = None
    note: str | None = None

    def markdown(self, n: int) -> list[str]:
        """The account's block: a heading and one fact per line."""
        enabled = {None: "unknown", True: "yes", False: "no"}[self.enabled]
        lines = [
            f"#### Account {n}: {md_text(self.upn)}",
            "",
            f"- **To do:** {md_text(', '.join(self.actions))}",
            f"- Providers: {md_text(', '.join(self.providers)) or 'unknown'}; enabled: {enabled}",
            f"- Risk level: {_or_unknown(self.risk_level)}",
        ]
        sign_ins = self.last_sign_ins[:MAX_SIGN_INS]
        lines.append("- Last sign-ins:" + ("" if sign_ins else " none known"))
        lines += [f"    - {md_text(s, 120)}" for s in sign_ins]
        groups = ", ".join(self.privileged_groups)
        lines += [
            f"- Privileged groups: {md_text(groups) if groups else 'none'}",
            f"- Protected: {'**yes**, ' + md_text(self.protected) if self.protected else 'no'}",
            f"- {_link('Open the user in Defender', self.link) or 'no portal link'}",
        ]
        if self.note:
            lines.append(f"- Note: {md_text(self.note)}")
        return [*lines, ""]


@dataclass
class DecisionContext:
    """Everything the operator needs to decide, in one place.

    Example:
        ```python
        ctx = DecisionContext(
            playbook="defender-contain-device",
            incident=IncidentFacts(1001, "Ransomware", "High", "Active"),
            devices=[DeviceFacts("ws-1", "0f3c...", "isolate (Selective)")],
            writes=1, caps="25 per run, 100 per hour in this tenant",
        )
        print(ctx.markdown())
        ```
    """

    playbook: str
    incident: IncidentFacts | None = None
    devices: list[DeviceFacts] = field(default_factory=list)
    accounts: list[AccountFacts] = field(default_factory=list)
    writes: int = 0
    caps: str = ""
    deadline: datetime | None = None
    tenant: str | None = None
    proposal: str | None = None
    instructions: str = ""

    @property
    def subject(self) -> str:
        """``containment of incident 1001 (High)`` or ``containment of the listed devices``."""
        if self.incident is not None:
            return f"containment of {self.incident.heading()}"
        kinds = [
            k for k, items in (("devices", self.devices), ("accounts", self.accounts)) if items
        ]
        return "containment of the listed " + (" and ".join(kinds) or "items")

    def blast_radius(self) -> str:
        """``2 devices and 1 account: 4 write actions (caps: ...)``."""
        parts = [_count(len(self.devices), "device"), _count(len(self.accounts), "account")]
        text = " and ".join(p for p in parts if p) or "nothing"
        text += f": {_count(self.writes, 'write action')}"
        return text + (f" (caps: {self.caps})" if self.caps else "")

    def summary(self) -> str:
        """What will be done, on one line: ``isolate (Selective) 2 devices; disable,
        revokeAllSessions 1 account``."""
        parts = []
        for kind, items in (("device", self.devices), ("account", self.accounts)):
            actions = list(dict.fromkeys(_action_of(i) for i in items))
            if items:
                parts.append(f"{' / '.join(actions)} on {_count(len(items), kind)}")
        return "; ".join(parts) or "nothing"

    def names(self, limit: int = 10) -> list[str]:
        """The items' names (devices first), at most ``limit`` and a count of the rest."""
        names = [d.name for d in self.devices] + [a.upn for a in self.accounts]
        more = len(names) - limit
        return names[:limit] + ([f"and {more} more"] if more > 0 else [])

    def markdown(self) -> str:
        """The resume dialog's description: one item per block, nothing wider than the dialog."""
        lines = [f"## Approve {md_text(self.subject)}?", ""]
        if self.proposal:
            lines += [self.proposal, ""]
        if self.incident is not None:
            lines += self.incident.markdown()
        if self.tenant:
            lines += [f"**Tenant:** {md_text(self.tenant)}", ""]
        if self.deadline is not None:
            lines += [
                f"**Decide by {utc(self.deadline)}.** No answer by then: nothing is done.",
                "",
            ]
        lines += [f"**Blast radius:** {md_text(self.blast_radius(), 400)}", ""]
        if self.devices:
            lines += [f"### Devices ({len(self.devices)})", ""]
            for n, d in enumerate(self.devices, 1):
                lines += d.markdown(n)
        if self.accounts:
            lines += [f"### Accounts ({len(self.accounts)})", ""]
            for n, a in enumerate(self.accounts, 1):
                lines += a.markdown(n)
        if self.instructions:
            lines += [self.instructions, ""]
        return "\n".join(lines).rstrip() + "\n"


def _action_of(item: DeviceFacts | AccountFacts) -> str:
    return item.action if isinstance(item, DeviceFacts) else ", ".join(item.actions)


def _count(n: int, noun: str) -> str:
    """``1 device``, ``2 devices``, ``""`` for 0 unless it is the write count."""
    if n == 0 and noun != "write action":
        return ""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def privileged(groups: Sequence[str], protected_groups: Sequence[str]) -> list[str]:
    """The groups and directory roles worth showing as privileged: the ones the safety policy
    protects and any whose name says administrator (ids dropped).

    Examples:
        >>> privileged(["Sales", "Global Administrator", "62e90394-..."], ["Tier0 admins"])
        ['Global Administrator']
    """
    wanted = {g.lower() for g in protected_groups}
    out = [
        g
        for g in groups
        if g.lower() in wanted or ("admin" in g.lower() and not re.fullmatch(r"[0-9a-f-]{36}", g))
    ]
    return list(dict.fromkeys(out))
