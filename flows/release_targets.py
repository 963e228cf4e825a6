"""What a release looks at: the incident, its devices' release actions, the indicators a
playbook added for it and the accounts to enable or whose risk to dismiss.

:func:`read_targets` reads them once, with the same tasks the release acts with;
:meth:`ReleaseTargets.chosen` keeps the rows the operator left switched on in the form
(``flows/release_context.py`` builds the form from the same targets).

Example:
    ```python
    from prefect_defender.tasks.safety import SafetyPolicy
    from prefect_defender.tasks.scope import TenantScope

    ask = ReleaseAsk(unisolate=True, indicators=True)
    extra, users = checked_inputs(machine_ids=None, accounts=None)
    async with await TenantScope.load(credentials) as scope:
        targets = await read_targets(scope, incident_id, extra, users, ask, SafetyPolicy())
    print(ask.why(), len(targets.plan), len(targets.indicators))
    ```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect_defender.api.models.machine_actions import ActionType
from prefect_defender.api.validation import check_items, check_machine_ids, check_user_ref
from prefect_defender.flows.accounts import users_of_incident
from prefect_defender.flows.approval import ContainmentDecision
from prefect_defender.flows.block_indicators import PLAYBOOK_TITLE_PREFIX
from prefect_defender.flows.device_actions import unique_machine_ids
from prefect_defender.tasks.action_fan_out import PlannedAction
from prefect_defender.tasks.action_plans import plan_actions
from prefect_defender.tasks.identities import AccountSummary, describe_accounts
from prefect_defender.tasks.incidents import get_incident
from prefect_defender.tasks.indicators import list_indicators
from prefect_defender.tasks.safety import SafetyPolicy
from prefect_defender.tasks.scope import TenantScope

__all__ = ["ReleaseAsk", "ReleaseTargets", "checked_inputs", "read_targets"]

#: indicators listed to find a playbook's (Defender allows 15,000 per tenant)
MAX_INDICATORS = 15_000


@dataclass(frozen=True)
class ReleaseAsk:
    """What a release run was started to undo (its switches)."""

    unisolate: bool = True
    unrestrict: bool = False
    indicators: bool = True
    accounts: bool = False
    risk: bool = False

    def kinds(self) -> list[ActionType]:
        """The machine actions asked for."""
        kinds = [ActionType.UNISOLATE] if self.unisolate else []
        return kinds + ([ActionType.UNRESTRICT_CODE_EXECUTION] if self.unrestrict else [])

    def why(self) -> str:
        """Why the form asks: ``this run was started to undo the containment: lift isolation,
        ...``."""
        asked = [
            ("lift isolation", self.unisolate),
            ("lift app restriction", self.unrestrict),
            ("delete the indicators playbooks added for the incident", self.indicators),
            ("re-enable disabled accounts", self.accounts),
            ("dismiss risk confirmed by mistake", self.risk),
        ]
        return "this run was started to undo the containment: " + (
            ", ".join(what for what, on in asked if on) or "nothing"
        )


@dataclass
class ReleaseTargets:
    """What a release looks at: the incident, its devices' planned release actions, the
    playbook's indicators and the accounts (described) with those to enable and the object
    ids whose risk to dismiss."""

    incident: Any | None
    plan: list[PlannedAction]
    indicators: list[Any]
    infos: list[AccountSummary] = field(default_factory=list)
    to_enable: list[str] = field(default_factory=list)
    to_dismiss: list[str] = field(default_factory=list)

    @property
    def accounts(self) -> list[AccountSummary]:
        """The described accounts something will be done to (enable and/or dismiss risk)."""
        wanted = set(self.to_enable) | set(self.to_dismiss)
        return [i for i in self.infos if i.user in wanted or i.object_id in wanted]

    def user_of(self, object_id: str) -> str:
        """The account (as asked for) of an object id whose risk is dismissed."""
        return next((i.user for i in self.infos if i.object_id == object_id), object_id)

    def indicator_name(self, indicator_id: str) -> str:
        """``DomainName bad.example`` for an indicator id."""
        for i in self.indicators:
            if str(i.id) == str(indicator_id):
                return f"{i.indicator_type} {i.indicator_value}"
        return str(indicator_id)

    def empty(self) -> bool:
        """Nothing to release."""
        return not (self.plan or self.indicators or self.to_enable or self.to_dismiss)

    def writes(self) -> int:
        """How many writes releasing every row takes."""
        return len(self.plan) + len(self.indicators) + len(self.to_enable) + len(self.to_dismiss)

    def chosen(self, decided: ContainmentDecision) -> ReleaseTargets:
        """The targets the operator left switched on (an account's row stands for both its
        enabling and its risk)."""
        return ReleaseTargets(
            self.incident,
            [p for p in self.plan if decided.chosen(p.machine_id)],
            [i for i in self.indicators if decided.chosen(str(i.id))],
            self.infos,
            [u for u in self.to_enable if decided.chosen(u)],
            [o for o in self.to_dismiss if decided.chosen(self.user_of(o))],
        )


def checked_inputs(
    machine_ids: list[str] | None, accounts: list[str] | None
) -> tuple[list[str], list[str]]:
    """The release's machine ids and accounts, checked (a ``ValidationError`` before any
    request)."""
    users = check_items(accounts or [], check_user_ref, "accounts", max_items=1000)
    return check_machine_ids(machine_ids), users


async def read_targets(
    scope: TenantScope,
    incident_id: int | None,
    extra: list[str],
    users: list[str],
    ask: ReleaseAsk,
    safety: SafetyPolicy,
) -> ReleaseTargets:
    """Everything ``ask`` would undo: the incident's devices and the ``extra`` machine ids
    (with the release actions asked for), the indicators a playbook added for the incident,
    and of the accounts looked at (the incident's with ``ask.accounts``, and ``users``) those
    disabled now and those confirmed compromised; in order, without duplicates (the inputs
    come from :func:`checked_inputs`)."""
    incident = await get_incident(scope.client, incident_id) if incident_id else None
    ids = unique_machine_ids([*(incident.device_ids() if incident else []), *extra])
    if incident is not None and ask.accounts:
        users = [*users_of_incident(incident), *users]
    users = list(dict.fromkeys(users)) if (ask.accounts or ask.risk) else []
    infos = await describe_accounts(scope.client, users) if users else []
    return ReleaseTargets(
        incident,
        await _plan(scope, ids, ask.kinds(), safety),
        await _playbook_indicators(scope, incident_id) if ask.indicators else [],
        infos,
        [i.user for i in infos if ask.accounts and i.enabled is False],
        [
            i.object_id
            for i in infos
            if ask.risk and i.object_id and i.risk_state == "confirmedCompromised"
        ],
    )


async def _plan(
    scope: TenantScope, ids: list[str], kinds: list[ActionType], safety: SafetyPolicy
) -> list[PlannedAction]:
    """The release actions asked for, on every machine; none is protected (releasing is
    never dangerous)."""
    if not (ids and kinds):
        return []
    plan = await plan_actions(scope.client, ids, kinds, safety)
    for p in plan:
        p.protected = None
    return plan


async def _playbook_indicators(scope: TenantScope, incident_id: int | None) -> list[Any]:
    """The indicators whose title says a playbook created them for this incident (none
    without an incident: nothing is listed then)."""
    if not incident_id:
        return []
    marker = f"{PLAYBOOK_TITLE_PREFIX}: incident {incident_id} "
    listed = await list_indicators(scope.client, limit=MAX_INDICATORS)
    return [i for i in listed if (i.title or "").startswith(marker)]
