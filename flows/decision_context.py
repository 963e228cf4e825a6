"""What an operator sees when a playbook asks for a decision: :class:`DecisionContext`.

The context holds the incident (title, severity, status, triage score and reasons, alert
titles) or, without one, why the playbook asks (a hunt's matches); every device (name, OS,
health, last seen, risk and exposure, tags, why it is protected, portal link), every account
(UPN, providers, enabled, risk level, last sign-ins, privileged groups, why it is protected,
portal link) and every indicator (value, type, title, who created it and when), what will be
done to each and why, the blast radius against the safety caps, whether it is a dry run and the
absolute deadline. The containment, release and hunt-and-respond playbooks build theirs from
the same parts (``flows/decision_facts.py``).

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
    "IndicatorFacts",
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
    classification: str | None = None
    triaged: bool = True
    updated: datetime | None = None

    def heading(self) -> str:
        """``incident 1001 (High)``."""
        return f"incident {self.incident_id}" + (f" ({self.severity})" if self.severity else "")

    def markdown(self) -> list[str]:
        """The incident's lines of the form."""
        lines = [f"**{md_text(self.title or 'untitled incident')}**", ""]
        facts = [f"severity {_or_unknown(self.severity)}", f"status {_or_unknown(self.status)}"]
        if self.classification:
            facts.append(f"classified {md_text(self.classification)}")
        if self.link:
            facts.append(_link("open the incident in Defender", self.link))
        lines += [" · ".join(facts), ""]
        if self.score is not None:
            lines += [f"**Why:** {md_text(self.score, 600)}", ""]
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
    why: str | None = None

    def markdown(self, n: int) -> list[str]:
        """The device's block: a heading and one fact per line."""
        return [
            f"#### Device {n}: {md_text(self.name)}",
            "",
            _to_do(self.action, self.protected),
            *([f"- Why: {md_text(self.why, 400)}"] if self.why else []),
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
    why: str | None = None

    @property
    def action(self) -> str:
        """What will be done to the account, on one line."""
        return ", ".join(self.actions)

    def markdown(self, n: int) -> list[str]:
        """The account's block: a heading and one fact per line."""
        enabled = {None: "unknown", True: "yes", False: "no"}[self.enabled]
        lines = [
            f"#### Account {n}: {md_text(self.upn)}",
            "",
            _to_do(self.action, self.protected),
            *([f"- Why: {md_text(self.why, 400)}"] if self.why else []),
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
class IndicatorFacts:
    """One indicator of a decision (a release deletes the ones a playbook added)."""

    kind: str
    value: str
    indicator_id: str
    action: str
    policy: str | None = None
    title: str | None = None
    created: datetime | None = None
    created_by: str | None = None
    expires: datetime | None = None

    @property
    def name(self) -> str:
        """``IpAddress 203.0.113.66``."""
        return f"{self.kind} {self.value}"

    def markdown(self, n: int) -> list[str]:
        """The indicator's block: a heading and one fact per line."""
        by = f" by {md_text(self.created_by)}" if self.created_by else ""
        return [
            f"#### Indicator {n}: {md_text(self.name)}",
            "",
            f"- **To do:** {md_text(self.action)}",
            f"- Now: {_or_unknown(self.policy)}; expires {utc(self.expires) or 'never'}",
            f"- Title: {_or_unknown(self.title)}",
            f"- Created {utc(self.created) or 'at an unknown time'}{by}",
            "",
        ]


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
    action: str = "containment"
    about: str | None = None
    reason: str | None = None
    indicators: list[IndicatorFacts] = field(default_factory=list)
    dry_run: bool = False
    tenant_id: str | None = None

    def _groups(self) -> list[tuple[str, list[Any]]]:
        return [
            ("device", self.devices),
            ("account", self.accounts),
            ("indicator", self.indicators),
        ]

    @property
    def subject(self) -> str:
        """``containment of incident 1001 (High)``, ``release of the listed devices`` or, with
        ``about``, ``antivirus scan of 3 devices that saw ip 203.0.113.66``."""
        if self.incident is not None:
            return f"{self.action} of {self.incident.heading()}"
        if self.about:
            return f"{self.action} of {self.about}"
        kinds = [f"{k}s" for k, items in self._groups() if items]
        return f"{self.action} of the listed " + (" and ".join(kinds) or "items")

    def blast_radius(self) -> str:
        """``2 devices and 1 account: 4 write actions (caps: ...); 1 protected ...``."""
        parts = [_count(len(items), kind) for kind, items in self._groups()]
        text = _and([p for p in parts if p]) or "nothing"
        text += f": {_count(self.writes, 'write action')}"
        text += f" (caps: {self.caps})" if self.caps else ""
        protected = sum(bool(d.protected) for d in self.devices)
        protected += sum(bool(a.protected) for a in self.accounts)
        if protected:
            text += f"; {protected} protected, acted on only with include protected"
        return text

    def summary(self) -> str:
        """What will be done, on one line: ``isolate (Selective) on 2 devices; disable,
        revokeAllSessions on 1 account``."""
        parts = []
        for kind, items in self._groups():
            actions = list(dict.fromkeys(i.action for i in items))
            if items:
                parts.append(f"{' / '.join(actions)} on {_count(len(items), kind)}")
        return "; ".join(parts) or "nothing"

    def names(self, limit: int = 10) -> list[str]:
        """The items' names (devices, accounts, indicators), at most ``limit`` and a count of
        the rest."""
        names = [d.name for d in self.devices] + [a.upn for a in self.accounts]
        names += [i.name for i in self.indicators]
        more = len(names) - limit
        return names[:limit] + ([f"and {more} more"] if more > 0 else [])

    def markdown(self) -> str:
        """The resume dialog's description: one item per block, nothing wider than the dialog;
        what will be done to how many items comes first, with the deadline above the items."""
        lines = [f"## Approve {md_text(self.subject)}?", ""]
        if self.proposal:
            lines += [self.proposal, ""]
        lines += [f"**To do:** {md_text(self.summary(), 400)}", ""]
        if self.deadline is not None:
            lines += [
                f"**Decide by {utc(self.deadline)}.** No answer by then: nothing is done.",
                "",
            ]
        if self.dry_run:
            lines += [
                "**Dry run:** nothing will be changed; the run only reports what it would do.",
                "",
            ]
        if self.incident is not None:
            lines += self.incident.markdown()
        if self.reason:
            lines += [f"**Why:** {md_text(self.reason, 600)}", ""]
        if self.tenant:
            lines += [f"**Tenant:** {md_text(self.tenant)}", ""]
        lines += [f"**Blast radius:** {md_text(self.blast_radius(), 400)}", ""]
        if self.devices:
            lines += [f"### Devices ({len(self.devices)})", ""]
            for n, d in enumerate(self.devices, 1):
                lines += d.markdown(n)
        if self.accounts:
            lines += [f"### Accounts ({len(self.accounts)})", ""]
            for n, a in enumerate(self.accounts, 1):
                lines += a.markdown(n)
        if self.indicators:
            lines += [f"### Indicators ({len(self.indicators)})", ""]
            for n, i in enumerate(self.indicators, 1):
                lines += i.markdown(n)
        if self.instructions:
            lines += [self.instructions, ""]
        return "\n".join(lines).rstrip() + "\n"


def _to_do(action: str, protected: str | None) -> str:
    """The item's "To do" line; a protected item is only acted on with include protected."""
    line = f"- **To do:** {md_text(action)}"
    return line + (" (protected: only with **include protected** on)" if protected else "")


def _and(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


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
