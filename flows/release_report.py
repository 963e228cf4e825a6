"""The release's record: its report artifact and its incident comment.

Who decided, when and why comes first (as for a containment), then one row per device action,
indicator and account, each with its outcome (``skipped: left out by the operator`` for the
rows switched off), so every row the form showed ends with a recorded outcome.

Example:
    ```python
    from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus

    released = ItemOutcome(item=machine_id, status=OutcomeStatus.SUCCEEDED)
    kept = ItemOutcome(item="5", status=OutcomeStatus.SKIPPED, reason="left out by the operator")
    undone = Undone(devices=[released], indicators=[kept], enabled=[], dismissed=[])
    assert undone.counts()[:2] == ["Device actions: 1/1", "Indicators removed: 0/1"]
    ```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect_defender.flows.approval import ContainmentDecision
from prefect_defender.flows.release_targets import ReleaseTargets
from prefect_defender.flows.reports import (
    containment_summary,
    outcome_rows,
    report_and_comment,
    write_report,
)
from prefect_defender.tasks.base import task_logger
from prefect_defender.tasks.outcomes import ItemOutcome
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope

__all__ = ["COLUMNS", "REPORT", "Undone", "report_not_approved", "report_nothing", "report_release"]

REPORT = "defender-release"
COLUMNS = ["machine", "action", "outcome", "final", "action id", "note"]
#: Defender's limit on an incident comment is larger; a comment stays readable well below it
MAX_COMMENT = 3900


@dataclass
class Undone:
    """One outcome per row of the form: device actions (in plan order), indicators, accounts
    enabled and risks dismissed (each with the rows left out)."""

    devices: list[ItemOutcome]
    indicators: list[ItemOutcome]
    enabled: list[ItemOutcome]
    dismissed: list[ItemOutcome]

    def counts(self) -> list[str]:
        """``Device actions: 1/2`` ... (what succeeded of what was shown)."""
        return [
            f"{what}: {sum(o.ok for o in done)}/{len(done)}"
            for what, done in (
                ("Device actions", self.devices),
                ("Indicators removed", self.indicators),
                ("Accounts enabled", self.enabled),
                ("Risk dismissed", self.dismissed),
            )
        ]


async def report_nothing(incident_id: int | None) -> None:
    """The report of a release that found nothing to undo (nobody is asked)."""
    await write_report(
        REPORT,
        "Release: nothing to do",
        [
            f"Incident: {incident_id}" if incident_id else "No incident given.",
            "No device, playbook indicator or account to release: nothing was asked.",
        ],
        [],
        COLUMNS,
    )


async def report_not_approved(
    scope: TenantScope, incident_id: int | None, decided: ContainmentDecision, safety: SafetyPolicy
) -> None:
    """The report of a refused (or unanswered) release; the incident is told who, when, why."""
    await report_and_comment(
        scope,
        REPORT,
        "Release: not approved",
        [f"Tenant: {scope.label}", f"Incident: {incident_id}", *decided.heard_lines()],
        [],
        COLUMNS,
        incident_id=incident_id,
        comment=f"Release not performed: {decided.heard()}." if not safety.dry_run else None,
        acted=False,
    )


async def report_release(
    scope: TenantScope,
    incident_id: int | None,
    decided: ContainmentDecision,
    targets: ReleaseTargets,
    undone: Undone,
    asked: str,
    safety: SafetyPolicy,
) -> None:
    """Tell the incident who decided, when and why and what was released (unless a dry run),
    and write the report."""
    counts = undone.counts()
    task_logger().info("release: %s", "; ".join(counts))
    said = f"Release {decided.heard()}. Results: {'; '.join(c.lower() for c in counts)}."
    await report_and_comment(
        scope,
        REPORT,
        f"Release of incident {incident_id}" if incident_id else "Release",
        containment_summary(scope.label, decided, f"Asked: {asked}", safety.dry_run, *counts),
        outcome_rows(targets.plan, undone.devices) + _rows(targets, undone),
        COLUMNS,
        incident_id=incident_id,
        comment=said[:MAX_COMMENT] if not safety.dry_run else None,
        acted=True,
    )


def _rows(targets: ReleaseTargets, undone: Undone) -> list[dict[str, Any]]:
    """The indicator and account rows, named as the form names them (the outcomes are in the
    targets' order)."""
    indicators = [targets.indicator_name(str(i.id)) for i in targets.indicators]
    named = [
        *zip(indicators, ["delete indicator"] * len(indicators), undone.indicators, strict=True),
        *((u, "enable account", o) for u, o in zip(targets.to_enable, undone.enabled, strict=True)),
        *(
            (targets.user_of(oid), "dismiss risk", o)
            for oid, o in zip(targets.to_dismiss, undone.dismissed, strict=True)
        ),
    ]
    return [
        {
            "machine": name,
            "action": action,
            "outcome": o.status.value,
            "final": "",
            "action id": "",
            "note": o.reason or "",
        }
        for name, action, o in named
    ]
