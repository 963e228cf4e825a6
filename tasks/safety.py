"""Safety rails shared by every playbook that writes.

* **Dry run**: the playbook runs end to end and reports the actions it would take, sending no
  write request at all.
* **Blast-radius caps**: at most ``max_actions_per_run`` write actions per run, and at most
  ``max_actions_per_hour`` per tenant across all runs. The hourly cap is a Prefect global
  concurrency limit with slot decay (``defender-writes-<tenant>``, shaped by
  ``tasks.hourly_limits`` so that concurrent writes are counted exactly), so it is shared by
  every worker using the same Prefect server. Beyond a cap the playbook stops acting and asks for
  approval (or, unattended, reports the remaining items as skipped).
* **Protected assets**: machines with a protected tag (e.g. ``DomainController``) or in a
  protected device group are never acted on without an explicit approval naming them.
* **Protected accounts**: accounts named in ``protected_accounts`` (UPN or object id), whose
  UPN matches ``protected_account_patterns`` (break-glass and emergency-access accounts by
  default) or that are direct members of ``protected_account_groups`` (Entra groups or
  directory roles; Global and Privileged Role Administrators by default) are never acted on
  without an explicit approval naming them.
* **Kill switch**: a Prefect Variable (``defender_automation_halted``) checked before every
  write; set it to ``true`` in the UI (Variables) to halt all automated response at once. A
  policy's ``kill_switch_variable`` adds a second switch; it never replaces the first.

Names, tags, groups and UPNs compare after Unicode normalisation (NFKC) and case folding
(:func:`normalised`), so ``Tier0``, ``TIER0`` and a full-width ``Ｔｉｅｒ０`` are one tag.

Every write request of a Prefect process passes the run's :class:`WriteGuard` at the transport
(``tasks.write_rails``); a playbook's :meth:`WriteGuard.admit` per planned action takes the slot
that the action's request then uses.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
import unicodedata
from typing import Any

from prefect.client.orchestration import get_client
from prefect.variables import Variable
from pydantic import BaseModel, Field

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.write_gate import DryRunRefusedError, WriteCapError, WriteRefusedError
from prefect_defender.tasks.hourly_limits import ensure_hourly_limit, take_hourly_slot

__all__ = [
    "HOURLY_LIMIT_PREFIX",
    "KILL_SWITCH_VARIABLE",
    "AutomationHaltedError",
    "SafetyPolicy",
    "WriteGuard",
    "account_protection_reason",
    "ensure_not_halted",
    "normalised",
]

KILL_SWITCH_VARIABLE = "defender_automation_halted"
#: the hourly cap of a tenant is the Prefect global concurrency limit of this name + tenant id
HOURLY_LIMIT_PREFIX = "defender-writes-"


class AutomationHaltedError(WriteRefusedError):
    """The kill switch is on: no automated write is sent."""


def normalised(text: Any) -> str:
    """``text`` as the safety rails compare it: Unicode NFKC, then case-folded.

    Example:
        >>> normalised("Ｔｉｅｒ０") == normalised("TIER0")
        True
    """
    return unicodedata.normalize("NFKC", str(text)).casefold()


class SafetyPolicy(BaseModel):
    """Safety rails of a playbook run (a flow parameter; the UI renders it as a form)."""

    dry_run: bool = Field(
        default=False, description="Report the actions the playbook would take; send no writes."
    )
    max_actions_per_run: int = Field(
        default=25, ge=0, description="Write actions one run may take before asking for approval."
    )
    max_actions_per_hour: int = Field(
        default=100,
        ge=0,
        description="Write actions per tenant per hour across all runs (Prefect rate limit).",
    )
    protected_tags: list[str] = Field(
        default_factory=lambda: ["DomainController", "Tier0", "DoNotIsolate"],
        description="Machine tags never acted on without explicit approval.",
    )
    protected_groups: list[str] = Field(
        default_factory=list, description="Device groups (rbacGroupName) treated as protected."
    )
    protected_accounts: list[str] = Field(
        default_factory=list,
        description="Accounts (UPN or Entra object id) never acted on without explicit approval.",
    )
    protected_account_patterns: list[str] = Field(
        default_factory=lambda: ["breakglass*", "break-glass*", "emergency*"],
        description="UPN patterns (shell-style, case-insensitive) of protected accounts, e.g. "
        "break-glass admins.",
    )
    protected_account_groups: list[str] = Field(
        default_factory=lambda: ["Global Administrator", "Privileged Role Administrator"],
        description="Entra groups or directory roles (display name or id) whose direct members "
        "are protected accounts.",
    )
    kill_switch_variable: str = Field(
        default=KILL_SWITCH_VARIABLE,
        description="Prefect Variable that halts all automated writes when true.",
    )


def protection_reason(policy: SafetyPolicy, machine: Any) -> str | None:
    """Why ``machine`` (a Machine model or dict) is protected, or ``None``."""
    tags = getattr(machine, "machine_tags", None)
    group = getattr(machine, "rbac_group_name", None)
    if isinstance(machine, dict):
        tags = machine.get("machineTags") or machine.get("machine_tags")
        group = machine.get("rbacGroupName") or machine.get("rbac_group_name")
    wanted = {normalised(t) for t in policy.protected_tags}
    hit = [t for t in (tags or []) if normalised(t) in wanted]
    if hit:
        return f"protected tag {hit[0]!r}"
    if group and normalised(group) in {normalised(g) for g in policy.protected_groups}:
        return f"protected device group {group!r}"
    return None


def account_protection_reason(
    policy: SafetyPolicy,
    upn: str | None,
    object_id: str | None = None,
    groups: list[str] | None = None,
) -> str | None:
    """Why the account ``upn`` / ``object_id`` is protected, or ``None``.

    Examples:
        >>> account_protection_reason(SafetyPolicy(), "breakglass@contoso.com")
        "protected account pattern 'breakglass*'"
    """
    names = {normalised(v) for v in (upn, object_id) if v}
    listed = [a for a in policy.protected_accounts if normalised(a) in names]
    if listed:
        return f"protected account {listed[0]!r}"
    for pattern in policy.protected_account_patterns:
        if upn and fnmatch.fnmatchcase(normalised(upn), normalised(pattern)):
            return f"protected account pattern {pattern!r}"
    wanted = {normalised(g) for g in policy.protected_account_groups}
    hit = [g for g in groups or [] if normalised(g) in wanted]
    if hit:
        return f"member of protected group {hit[0]!r}"
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "halt", "halted")
    return bool(value)


async def _switch_on(name: str) -> bool:
    """True when the kill switch Variable ``name`` is set, or cannot be read (fail closed)."""
    try:
        return _truthy(await Variable.aget(name, default=False))
    except Exception as exc:  # the Prefect API unreachable: do not write blind
        raise AutomationHaltedError(
            f"the kill switch Variable {name!r} could not be read ({type(exc).__name__}); "
            "not writing",
            code="KillSwitchUnreadable",
        ) from None


async def ensure_not_halted(*names: str) -> None:
    """Raise :class:`AutomationHaltedError` when the kill switch (``defender_automation_halted``)
    or any of ``names`` is set.

    Example:
        ```python
        await ensure_not_halted()  # before an automated write outside a playbook run
        ```
    """
    wanted = list(dict.fromkeys((KILL_SWITCH_VARIABLE, *names)))
    states = await asyncio.gather(*(_switch_on(name) for name in wanted))  # read at once
    for name, on in zip(wanted, states, strict=True):
        if on:
            raise AutomationHaltedError(
                f"automated response is halted: Prefect Variable {name!r} is set",
                code="KillSwitch",
            )


class WriteGuard:
    """Enforces a :class:`SafetyPolicy` for one playbook run.

    Playbooks admit each planned action (:meth:`admit`: kill switch, per-run cap, hourly cap)
    and record a refusal as the item's outcome; every write request then passes
    :meth:`admit_request` at the transport, which uses the slot its action took, or takes one of
    its own (a comment, a tag, a write no action admitted), and refuses in a dry run.
    """

    def __init__(self, policy: SafetyPolicy) -> None:
        self.policy = policy
        self.used = 0
        # the run's tasks share the guard and may run on other threads, each with its own event
        # loop (a sync flow's .submit/.map): a thread lock, never held across an await (an
        # asyncio.Lock is bound to one loop: released from another thread, it did not wake the
        # waiter and the run hung)
        self._lock = threading.Lock()
        self._limits_ready: set[str] = set()
        self._credits: dict[str, int] = {}

    async def halted(self) -> bool:
        """True when the kill switch Variable (or the policy's own) is set."""
        try:
            await self.ensure_running()
        except AutomationHaltedError:
            return True
        return False

    async def ensure_running(self) -> None:
        """Raise :class:`AutomationHaltedError` when the kill switch is set."""
        await ensure_not_halted(self.policy.kill_switch_variable)

    async def _take_hourly_slot(self, tenant_id: str) -> bool:
        """Take one call of the tenant's hourly limit now, without waiting (made or resized to
        the policy's cap on the run's first write in the tenant)."""
        name = f"{HOURLY_LIMIT_PREFIX}{tenant_id}"
        per_hour = self.policy.max_actions_per_hour
        async with get_client() as client:
            if name not in self._limits_ready:
                await ensure_hourly_limit(client, name, per_hour)
                self._limits_ready.add(name)
            return await take_hourly_slot(client, name, per_hour)

    async def admit(self, tenant_id: str) -> str | None:
        """Take one write slot for ``tenant_id``; return why not, or ``None`` when admitted.

        Checks, in order: the kill switch (raises :class:`AutomationHaltedError`), the per-run
        cap, the per-tenant hourly cap. In dry-run mode the caps are still counted so the report
        shows where a real run would stop. The slot taken is the one the admitted action's write
        request uses (:meth:`admit_request`).
        """
        await self.ensure_running()
        refused = await self._take(tenant_id)
        if refused is None:
            with self._lock:
                key = tenant_id.lower()
                self._credits[key] = self._credits.get(key, 0) + 1
        return refused

    async def admit_request(self, ep: Endpoint, tenant_id: str) -> None:
        """Let one write request of ``ep`` in ``tenant_id`` through, or raise why not.

        Called at the transport for every write (``tasks.write_rails``): the dry run (nothing
        is sent, no Prefect API call), the kill switch (read now, even when an :meth:`admit`
        read it a moment ago), then the slot that admission left for it, or a slot of its own
        under the caps.
        """
        if self.policy.dry_run:
            raise DryRunRefusedError(f"dry run: {ep.name} not sent", code="DryRun")
        await self.ensure_running()  # read now, for every write: never cached
        with self._lock:
            key = tenant_id.lower()
            if self._credits.get(key, 0) > 0:
                self._credits[key] -= 1
                return
        refused = await self._take(tenant_id)
        if refused is not None:
            raise WriteCapError(f"{ep.name} not sent: {refused}", code="WriteCap")

    async def _take(self, tenant_id: str) -> str | None:
        """Count one write against the caps; why not, or ``None``.

        The per-run count is reserved under the lock; the tenant's hourly slot (Prefect API
        calls) is taken outside it, so the writes of a fan-out's tenants do not queue behind
        one another's round trips (1,000 tenants took 14 minutes that way). A reservation whose
        hourly slot is refused (or fails) is given back.
        """
        with self._lock:
            if self.used >= self.policy.max_actions_per_run:
                return f"per-run cap of {self.policy.max_actions_per_run} write actions reached"
            if self.policy.max_actions_per_hour <= 0:
                return "hourly cap is 0"
            self.used += 1
        if self.policy.dry_run:
            return None
        try:
            admitted = await self._take_hourly_slot(tenant_id)
        except BaseException:
            with self._lock:
                self.used -= 1
            raise
        if admitted:
            return None
        with self._lock:
            self.used -= 1
        return (
            f"hourly cap of {self.policy.max_actions_per_hour} write actions for "
            f"tenant {tenant_id} reached"
        )
