"""The facts of a decision, read from what the playbook already fetched.

The containment, release and hunt-and-respond playbooks read the incident, plan their device
actions (each plan keeps the machine as read), describe their accounts and list indicators
through the same tasks they act with; these builders turn those into the
:class:`~prefect_defender.flows.decision_context.DecisionContext` the operator decides on, and
the form's per-row switches (:class:`~prefect_defender.flows.approval_form.FormRow`). Nothing
here calls Defender.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from prefect_defender.flows.approval_form import FormRow
from prefect_defender.flows.decision_context import (
    AccountFacts,
    DecisionContext,
    DeviceFacts,
    IncidentFacts,
    IndicatorFacts,
    privileged,
)
from prefect_defender.tasks.action_history import requestor_name
from prefect_defender.tasks.safety import SafetyPolicy

__all__ = [
    "account_facts",
    "account_form_rows",
    "caps_text",
    "context_for",
    "device_facts",
    "device_form_rows",
    "incident_facts",
    "indicator_facts",
    "indicator_form_rows",
    "triage_comment",
    "triage_score",
]

#: what the triage playbook's comment starts with (``flows/triage.py``)
_TRIAGE = re.compile(r"prefect-defender triage: Score (\d+) \((.*?)\)\.(?:\s|$)")


def triage_comment(incident: Any) -> str | None:
    """The score and reasons of the latest triage comment on the incident (``None``: none)."""
    for c in reversed(list(getattr(incident, "comments", None) or [])):
        m = _TRIAGE.search(str(getattr(c, "comment", "") or ""))
        if m:
            return f"triage score {m.group(1)}: {m.group(2)}"
    return None


def triage_score(incident: Any, plan: Sequence[Any] = ()) -> str:
    """The triage score and its reasons: the latest triage comment on the incident, or (not
    triaged yet) the default rules applied now to what the playbook read, said as such.

    Examples:
        >>> triage_score(incident)  # after triage ran
        'triage score 85: high severity (+40), ransomware in title (+30), several devices (+15)'
    """
    found = triage_comment(incident)
    if found:
        return found
    from prefect_defender.flows.triage import TriageRules, score

    devices = [{"tags": list(getattr(p, "machine_tags", []) or [])} for p in plan]
    points, hits = score(incident, {"devices": devices, "malware_files": []}, TriageRules())
    return (
        f"not triaged yet (its score shows here when triage reports it); the default triage "
        f"rules give {points} now: {', '.join(hits) or 'no rule matched'} (file reputation not "
        "checked)"
    )


def incident_facts(
    incident: Any, link: str | None, plan: Sequence[Any] = (), *, scored: bool = True
) -> IncidentFacts:
    """The incident's title, severity, status, triage score (unless ``scored`` is off: a
    release says why in its own words) and alert titles."""
    return IncidentFacts(
        incident_id=incident.incident_id,
        title=incident.incident_name,
        severity=incident.severity,
        status=incident.status,
        score=triage_score(incident, plan) if scored else None,
        alert_titles=[a.title for a in incident.alerts if a.title],
        link=link,
        classification=_classification(incident),
        triaged=not scored or triage_comment(incident) is not None,
        updated=getattr(incident, "last_update_time", None),
    )


def _classification(incident: Any) -> str | None:
    """``TruePositive (Malware)``; ``None`` while Defender says nothing."""
    value = str(getattr(incident, "classification", None) or "")
    if value.lower() in ("", "unknown", "none"):
        return None
    determination = str(getattr(incident, "determination", None) or "")
    if determination.lower() in ("", "notavailable", "unknown", "none"):
        return value
    return f"{value} ({determination})"


def device_facts(
    plan: Sequence[Any],
    action: Callable[[Any], str],
    why: Callable[[Any], str | None] | None = None,
) -> list[DeviceFacts]:
    """One :class:`DeviceFacts` per planned action, from the machine read when planning;
    ``action(p)`` says what will be done (``isolate (Selective)``), ``why(p)`` why (a hunt's
    matches, a release's isolation)."""
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
                why=why(p) if why else None,
            )
        )
    return out


def account_facts(
    infos: Sequence[Any],
    acts: Sequence[Any],
    protected: dict[str, str],
    safety: SafetyPolicy,
    link: Callable[[str], str] | None = None,
    why: Callable[[Any], str | None] | None = None,
) -> list[AccountFacts]:
    """One :class:`AccountFacts` per described account (``describe_accounts``); ``why(info)``
    says why it is acted on, when the playbook has more to say than the incident."""
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
            why=why(i) if why else None,
        )
        for i in infos
    ]


def indicator_facts(indicators: Sequence[Any], action: str) -> list[IndicatorFacts]:
    """One :class:`IndicatorFacts` per indicator (``list_indicators``): ``action`` says what will
    be done to it (``delete``)."""
    return [
        IndicatorFacts(
            kind=str(i.indicator_type or "indicator"),
            value=str(i.indicator_value or i.id),
            indicator_id=str(i.id),
            action=action,
            policy=i.action,
            title=i.title,
            created=i.creation_time_date_time_utc,
            created_by=_creator(i),
            expires=i.expiration_time,
        )
        for i in indicators
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


def _creator(indicator: Any) -> str | None:
    who = indicator.created_by_display_name or indicator.created_by
    return requestor_name(str(who)) if who else None


def indicator_form_rows(indicators: Sequence[IndicatorFacts]) -> list[FormRow]:
    """The form's switch per indicator (the item is the indicator id)."""
    return [
        FormRow(f"indicator_{n}", i.indicator_id, f"Indicator {n}: {i.name}: {i.action}", i.name)
        for n, i in enumerate(indicators, 1)
    ]


def context_for(playbook: str, scope: Any, safety: SafetyPolicy, **parts: Any) -> DecisionContext:
    """A :class:`DecisionContext` of ``playbook`` in ``scope``'s tenant (its name, and its id
    for the events) under ``safety``'s rails (the caps, the dry run); ``parts`` are the rest
    (incident, devices, accounts, indicators, writes ...)."""
    return DecisionContext(
        playbook=playbook,
        caps=caps_text(safety),
        dry_run=safety.dry_run,
        tenant=scope.label,
        tenant_id=scope.tenant,
        **parts,
    )


def caps_text(safety: SafetyPolicy) -> str:
    """``25 per run, 100 per hour in this tenant`` (a dry run is said on a line of its own:
    ``DecisionContext.dry_run``)."""
    text = f"{safety.max_actions_per_run} per run, {safety.max_actions_per_hour} per hour"
    return text + " in this tenant"
