"""The facts of a decision, read from what the playbook already fetched.

The contain playbooks read the incident, plan their device actions (each plan keeps the machine
as read) and describe their accounts through the same tasks they act with; these builders turn
those into the :class:`~prefect_defender.flows.decision_context.DecisionContext` the operator
decides on, and the form's per-row switches (:class:`~prefect_defender.flows.approval_form.
FormRow`). Nothing here calls Defender.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from prefect_defender.flows.approval_form import FormRow
from prefect_defender.flows.decision_context import (
    AccountFacts,
    DeviceFacts,
    IncidentFacts,
    privileged,
)
from prefect_defender.tasks.safety import SafetyPolicy

__all__ = [
    "account_facts",
    "account_form_rows",
    "caps_text",
    "device_facts",
    "device_form_rows",
    "incident_facts",
    "triage_score",
]

#: what the triage playbook's comment starts with (``flows/triage.py``)
_TRIAGE = re.compile(r"prefect-defender triage: Score (\d+) \((.*?)\)\.(?:\s|$)")


def triage_score(incident: Any, plan: Sequence[Any] = ()) -> str:
    """The triage score and its reasons: the latest triage comment on the incident, or (not
    triaged yet) the default rules applied now to what the playbook read, said as such.

    Examples:
        >>> triage_score(incident)  # after triage ran
        'triage score 85: high severity (+40), ransomware in title (+30), several devices (+15)'
    """
    for c in reversed(list(getattr(incident, "comments", None) or [])):
        m = _TRIAGE.search(str(getattr(c, "comment", "") or ""))
        if m:
            return f"triage score {m.group(1)}: {m.group(2)}"
    from prefect_defender.flows.triage import TriageRules, score

    devices = [{"tags": list(getattr(p, "machine_tags", []) or [])} for p in plan]
    points, hits = score(incident, {"devices": devices, "malware_files": []}, TriageRules())
    return (
        f"not triaged yet; the default triage rules give {points} now: "
        f"{', '.join(hits) or 'no rule matched'} (file reputation not checked)"
    )


def incident_facts(incident: Any, link: str | None, plan: Sequence[Any] = ()) -> IncidentFacts:
    """The incident's title, severity, status, triage score and alert titles."""
    return IncidentFacts(
        incident_id=incident.incident_id,
        title=incident.incident_name,
        severity=incident.severity,
        status=incident.status,
        score=triage_score(incident, plan),
        alert_titles=[a.title for a in incident.alerts if a.title],
        link=link,
    )


def device_facts(plan: Sequence[Any], action: Callable[[Any], str]) -> list[DeviceFacts]:
    """One :class:`DeviceFacts` per planned action, from the machine read when planning;
    ``action(p)`` says what will be done (``isolate (Selective)``)."""
    out = []
    for p in plan:
        m = p.machine
        os_name = " ".join(str(v) for v in (m.os_platform, m.os_version) if v) if m else None
        out.append(
            DeviceFacts(
                name=p.computer_dns_name or p.machine_id,
                machine_id=p.machine_id,
                action=action(p),
                os=os_name or None,
                health=m.health_status if m else None,
                last_seen=m.last_seen if m else None,
                risk=m.risk_score if m else None,
                exposure=m.exposure_level if m else None,
                tags=list(p.machine_tags),
                protected=p.protected,
                link=p.link,
            )
        )
    return out


def account_facts(
    infos: Sequence[Any],
    acts: Sequence[Any],
    protected: dict[str, str],
    safety: SafetyPolicy,
    link: Callable[[str], str] | None = None,
) -> list[AccountFacts]:
    """One :class:`AccountFacts` per described account (``describe_accounts``)."""
    actions = [str(getattr(a, "value", a)) for a in acts]
    return [
        AccountFacts(
            upn=i.user_principal_name or i.user,
            actions=actions,
            providers=list(i.providers) or (["entraID"] if i.object_id else []),
            enabled=i.enabled,
            risk_level=i.risk_level,
            last_sign_ins=list(i.last_sign_ins),
            privileged_groups=privileged(i.groups, safety.protected_account_groups),
            protected=protected.get(i.user),
            link=link(i.object_id) if link and i.object_id else None,
            note=None if i.found else (i.error or "not found in Entra ID or Defender"),
        )
        for i in infos
    ]


def device_form_rows(devices: Sequence[DeviceFacts]) -> list[FormRow]:
    """The form's switch per device (the item is the machine id)."""
    return [
        FormRow(f"device_{n}", d.machine_id, f"Device {n}: {d.name}: {d.action}", d.name)
        for n, d in enumerate(devices, 1)
    ]


def account_form_rows(accounts: Sequence[AccountFacts], users: Sequence[str]) -> list[FormRow]:
    """The form's switch per account (the item is the account as the playbook names it)."""
    return [
        FormRow(f"account_{n}", user, f"Account {n}: {a.upn}: {', '.join(a.actions)}", a.upn)
        for n, (a, user) in enumerate(zip(accounts, users, strict=True), 1)
    ]


def caps_text(safety: SafetyPolicy) -> str:
    """``25 per run, 100 per hour in this tenant`` (and ``dry run: nothing is sent``)."""
    text = f"{safety.max_actions_per_run} per run, {safety.max_actions_per_hour} per hour"
    text += " in this tenant"
    return text + ("; dry run: nothing is sent" if safety.dry_run else "")
