"""One pass per value: a tenant id, an incident id, an alert id and a user given to a playbook
are checked once, on entry, and carried as checked to the requests.

Each test runs a playbook on the emulator (partner block, contain-device also with an
application block; tenant id in upper case, auto-approved) and counts every run of the check of
each value on its way to the requests: the check function is counted wherever it is imported
(its code object is swapped for a counting one), and a call given the value already in its
checked type is not a run (it returns it unchecked, see tests/unit/test_checked_values.py).
A block's own fields, validated when Prefect loads the block, are the block's values, not the
playbook's: their checks are not counted.
(The machine id's walk is guarded in tests/flows/test_contain.py.)
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from prefect_defender.api import validation
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from prefect_defender.flows.approval import ApprovalPolicy
from prefect_defender.flows.contain import contain_device
from prefect_defender.flows.contain_identity import contain_identity
from prefect_defender.flows.contain_incident import contain_incident
from prefect_defender.tasks.identities import get_entra_user
from tests.flows.conftest import start

BLOCK = "defender-partner-credentials/checked-once"
DOMAIN = "contoso.example"
#: the checks of a block's own fields while Prefect loads the block
BLOCK_VALIDATORS = {"_guid", "_client_guid", "_home_guid"}
#: the types a value is carried in once checked (a call given one is not a check)
CARRIED = tuple(
    getattr(validation, name)
    for name in ("CheckedGuid", "CheckedIncidentId", "CheckedAlertId", "CheckedUpn")
    if hasattr(validation, name)
)


@pytest.fixture
def partner_block(prefect_harness: None, conn: dict) -> str:
    DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso"], rate_limit_time_scale=300.0
    ).save("checked-once", overwrite=True)
    return BLOCK


@pytest.fixture(params=["partner", "application"])
def any_block(request: pytest.FixtureRequest, partner_block: str, conn: dict) -> str:
    """The partner block, or an application block of the same tenant (its ``get_client``
    compares the tenant id given with its own)."""
    if request.param == "partner":
        return partner_block
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0).save(
        "checked-once", overwrite=True
    )
    return "defender-application-credentials/checked-once"


def _caller(frame: Any) -> str:
    out = []
    for _ in range(3):
        out.append(f"{frame.f_code.co_filename.rsplit(os.sep, 1)[-1]}:{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(out)


def _a_blocks_own(frame: Any, value: Any) -> bool:
    """Whether the check is of a block's own field: validated while Prefect loads the block, or
    the block's tenant compared with the one given (``get_client`` of an application block)."""
    while frame is not None:
        code, owner = frame.f_code, frame.f_locals.get("self")
        if f"{os.sep}blocks{os.sep}" in code.co_filename and (
            code.co_name in BLOCK_VALIDATORS or getattr(owner, "tenant_id", None) is value
        ):
            return True
        frame = frame.f_back
    return False


class CheckRuns:
    """The values each watched check runs on, by name, recorded as the playbook runs.

    Every call of a watched check is seen, whatever name or object holds it (a module's import,
    an input type's ``Check``): the check's code is swapped for one that counts the call, then
    runs the original. ``runs[name]``: the values ``of`` picked and the callers, in order.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.runs: dict[str, list[Any]] = {}
        self._watched: dict[Callable[..., Any], list[tuple[str, Callable[[Any], bool]]]] = {}

    def watch(self, name: str, check: Callable[..., Any], of: Callable[[Any], bool]) -> None:
        """Count the runs of ``check`` on a value ``of`` picks as ``runs[name]``."""
        self.runs[name] = []
        if check not in self._watched:
            self._watched[check] = []
            self._swap(check, self._watched[check])
        self._watched[check].append((name, of))

    def counts(self) -> dict[str, int]:
        return {name: len(values) for name, values in self.runs.items()}

    def _swap(self, check: Callable[..., Any], picks: list[tuple[str, Any]]) -> None:
        original = types.FunctionType(
            check.__code__, check.__globals__, check.__name__, check.__defaults__, check.__closure__
        )
        original.__kwdefaults__ = check.__kwdefaults__

        def counted(value: Any, *args: Any, **kwargs: Any) -> Any:
            if type(value) not in CARRIED and not _a_blocks_own(sys._getframe(2), value):
                for name, of in picks:
                    if of(value):
                        self.runs[name].append((value, _caller(sys._getframe(2))))
            return original(value, *args, **kwargs)

        hook = f"__counted_{check.__name__}__"
        forwarder: dict[str, Any] = {}
        exec(  # a function of check's module that hands every call to ``counted``
            f"def {check.__name__}(*args, **kwargs):\n    return {hook}(*args, **kwargs)\n",
            check.__globals__,
            forwarder,
        )
        self.monkeypatch.setitem(check.__globals__, hook, counted)
        self.monkeypatch.setattr(check, "__code__", forwarder[check.__name__].__code__)


def _same_text(expected: str) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v.strip().lower() == expected.lower()


def _same_number(expected: int) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, bool) and str(v).strip() == str(expected)


def _incident(emu: Any, tenant: str, alerts: list[dict[str, Any]]) -> int:
    incident = {"incidentName": "once", "severity": "High", "status": "Active", "alerts": alerts}
    incidents = emu.admin.upsert_incidents(tenant, [incident])
    return int(incidents[0]["incidentId"])


def _alert(aid: str, machine: str | None = None, upn: str | None = None) -> dict[str, Any]:
    user = {"entityType": "User", "userPrincipalName": upn, "accountName": (upn or "")[:5]}
    return {
        "id": aid,
        "severity": "High",
        "title": "checked once",
        **({"machineId": machine, "computerDnsName": machine} if machine else {}),
        "entities": [user] if upn else [],
    }


def _on_a_workstation(emu: Any, tenant: str, n: int, aid: str, upn: str | None = None) -> int:
    """A new High incident whose one alert names the ``n``-th workstation (and ``upn``)."""
    ws = [m for m in emu.admin.dump(tenant, "machines") if "-ws-" in m["computerDnsName"]]
    return _incident(emu, tenant, [_alert(aid, ws[n]["id"], upn)])


def _counters(monkeypatch: pytest.MonkeyPatch, tid: str, iid: int) -> CheckRuns:
    runs = CheckRuns(monkeypatch)
    runs.watch("tenant_id", validation.check_guid, _same_text(tid))
    runs.watch("incident_id", validation.check_incident_id, _same_number(iid))
    return runs


def _run(playbook: Any, block: str, tenant: str, **parameters: Any) -> dict[str, Any]:
    """The playbook's summary, run auto-approved in ``tenant``, given in upper case."""
    if playbook is not contain_identity:
        parameters["poll_interval_seconds"] = 0.05
    return dict(
        start(
            None,
            playbook,
            credentials=block,
            tenant_id=tenant.upper(),
            approval=ApprovalPolicy(auto_approve_severities=["High"]),
            **parameters,
        ).result(timeout=180)
    )


def test_contain_device_checks_its_tenant_incident_and_alert_once(
    any_block: str, fast_actions: Any, tenants: dict, monkeypatch: Any
) -> None:
    tid, aid = tenants["contoso"], f"da_once_{any_block.split('-')[1]}"
    iid = _on_a_workstation(fast_actions, tid, 43, aid)
    runs = _counters(monkeypatch, tid, iid)
    runs.watch("alert_id", validation.check_alert_id, _same_text(aid))
    summary = _run(contain_device, any_block, tid, incident_id=str(iid), alert_id=aid)
    assert summary["outcomes"][0]["result"]["final_status"] == "Succeeded"
    assert runs.counts() == {"tenant_id": 1, "incident_id": 1, "alert_id": 1}, runs.runs


def test_contain_incident_checks_its_tenant_and_incident_once(
    partner_block: str, fast_actions: Any, tenants: dict, monkeypatch: Any
) -> None:
    tid = tenants["contoso"]
    iid = _on_a_workstation(fast_actions, tid, 44, "da_once_incident", f"ckent@{DOMAIN}")
    runs = _counters(monkeypatch, tid, iid)
    summary = _run(
        contain_incident,
        partner_block,
        tid,
        incident_id=iid,
        identity_actions=["revokeAllSessions"],
    )
    assert summary["approved"] is True and summary["account_outcomes"]
    assert runs.counts() == {"tenant_id": 1, "incident_id": 1}, runs.runs


def test_contain_identity_checks_its_tenant_incident_alert_and_users_once(
    partner_block: str, fresh: Any, conn: dict, tenants: dict, monkeypatch: Any
) -> None:
    tid = tenants["contoso"]
    named, upn = f"ckent@{DOMAIN}", f"bwayne@{DOMAIN}"
    partner = DefenderPartnerCredentials.from_emulator(conn, tenants=["contoso"])
    oid = asyncio.run(get_entra_user.fn(partner, f"dprince@{DOMAIN}", tenant_id=tid)).id
    iid = _incident(fresh, tid, [_alert("da_once_identity", upn=named)])
    runs = _counters(monkeypatch, tid, iid)
    runs.watch("alert_id", validation.check_alert_id, _same_text("da_once_identity"))
    runs.watch("user (UPN)", validation.check_user_ref, _same_text(upn))
    runs.watch("user (object id)", validation.check_user_ref, _same_text(oid))
    summary = _run(
        contain_identity,
        partner_block,
        tid,
        incident_id=iid,
        alert_id="da_once_identity",
        users=[upn, oid.upper()],
        actions=["revokeAllSessions"],
    )
    assert summary["approved"] is True and len(summary["outcomes"]) == 3
    assert runs.counts() == {
        "tenant_id": 1,
        "incident_id": 1,
        "alert_id": 1,
        "user (UPN)": 1,
        "user (object id)": 1,
    }, runs.runs
