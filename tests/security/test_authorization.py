"""An app lacking a permission gets an error naming the permission and the Entra API.

The emulator's ``readonly`` app holds only read roles; one case also strips a read role from an
app's configuration in the emulator, so a read task is refused too. Expected permissions come
from the endpoint catalog (the same data as docs/permissions.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from prefect_defender.api import auth, ratelimit
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import PermissionDeniedError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.tasks import alerts, hunting, incidents, indicators, live_response, machines
from prefect_defender.tasks import machine_actions as ma

M = "b" * 40  # replaced by a seeded machine in the test

#: (task, kwargs, the endpoint that must be refused), across areas and the three APIs
CASES: list[tuple[Any, dict[str, Any], str]] = [
    (ma.isolate_machine, {"machine_id": M, "comment": "sec"}, "mde.actions.isolate"),
    (ma.run_antivirus_scan, {"machine_id": M, "comment": "sec"}, "mde.actions.av_scan"),
    (
        ma.stop_and_quarantine_file,
        {"machine_id": M, "sha1": "a" * 40, "comment": "sec"},
        "mde.actions.stop_and_quarantine",
    ),
    (
        live_response.run_script,
        {"machine_id": M, "script_name": "a.ps1", "comment": "sec"},
        "mde.live_response.run",
    ),
    (
        indicators.submit_indicator,
        {
            "indicator": {
                "value": "198.51.100.23",
                "type": "IpAddress",
                "action": "Block",
                "title": "sec",
                "description": "sec",
            }
        },
        "mde.indicators.submit",
    ),
    (machines.tag_machine, {"machine_id": M, "tag": "sec"}, "mde.machines.tag"),
    (
        alerts.update_alert,
        {"alert_id": "ALERT", "status": "Resolved"},
        "mde.alerts.update",
    ),
    (
        incidents.update_incident,
        {"incident_id": 1001, "status": "Resolved"},
        "graph.incidents.update",  # Graph by default
    ),
    (
        incidents.add_incident_comment,
        {"incident_id": 1001, "comment": "sec", "surface": "xdr"},
        "xdr.incidents.update",
    ),
    (
        alerts.update_graph_alert,
        {"alert_id": "GRAPH_ALERT", "status": "resolved"},
        "graph.alerts.update",
    ),
    (
        hunting.run_hunting_query,
        {"query": "DeviceInfo | take 1", "surface": "mde"},
        "mde.hunting.run",
    ),
]


@pytest.fixture
def readonly(conn: dict, fresh: Any) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, app="readonly")


def _fill(kwargs: dict[str, Any], emu: Any, tenant: str) -> dict[str, Any]:
    machine = emu.admin.dump(tenant, "machines")[0]["id"]
    alert = next(iter(emu.admin.dump(tenant, "alerts")))["id"]
    out = {}
    for k, v in kwargs.items():
        out[k] = (
            {M: machine, "ALERT": alert, "GRAPH_ALERT": alert}.get(v, v)
            if isinstance(v, str)
            else v
        )
    return out


@pytest.mark.parametrize("task,kwargs,ep", CASES, ids=[f"{t.fn.__name__}" for t, _, _ in CASES])
async def test_missing_permission_is_named_with_its_api(
    task: Any, kwargs: dict[str, Any], ep: str, readonly: Any, conn: dict, fresh: Any
) -> None:
    spec = endpoint(ep)
    tenant = conn["apps"]["readonly"]["tenant_id"]
    with pytest.raises(PermissionDeniedError) as info:
        await task.fn(readonly, **_fill(kwargs, fresh, tenant))
    err = info.value
    text = str(err)
    assert err.status == 403
    assert set(err.required) == set(spec.application), (err.required, spec.application)
    assert err.api == spec.api_name
    assert spec.api_name in text
    assert any(p in text for p in spec.application), text
    assert conn["apps"]["readonly"]["client_id"] in text  # which app to fix


@pytest.fixture
def no_machine_read(emulator: Any) -> Iterator[None]:
    """The readonly app configured without any machine-read role on WindowsDefenderATP."""
    app = emulator.state.apps["readonly"]
    saved = {aud: list(roles) for aud, roles in app.roles.items()}
    for aud, roles in app.roles.items():
        app.roles[aud] = [r for r in roles if not r.startswith("Machine.")]
    auth.REGISTRY.clear()  # roles are baked into tokens: get a new one
    ratelimit.REGISTRY.clear()
    yield
    app.roles.clear()
    app.roles.update(saved)
    auth.REGISTRY.clear()


async def test_role_removed_in_the_app_configuration_is_named(
    readonly: Any, no_machine_read: None
) -> None:
    with pytest.raises(PermissionDeniedError) as info:
        await machines.list_machines.fn(readonly, limit=1)
    spec = endpoint("mde.machines.list")
    assert set(info.value.required) == set(spec.application)
    assert "Machine.Read.All" in str(info.value) and "WindowsDefenderATP" in str(info.value)
    assert "carries none of the permissions" in str(info.value)


async def test_isolate_names_machine_isolate_on_windowsdefenderatp(
    readonly: Any, conn: dict, fresh: Any
) -> None:
    """The issue's example, spelled out."""
    tenant = conn["apps"]["readonly"]["tenant_id"]
    machine = fresh.admin.dump(tenant, "machines")[0]["id"]
    with pytest.raises(PermissionDeniedError) as info:
        await ma.isolate_machine.fn(readonly, machine, "sec")
    assert "Machine.Isolate" in str(info.value)
    assert "WindowsDefenderATP" in str(info.value)
