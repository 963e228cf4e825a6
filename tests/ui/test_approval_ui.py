"""Contain-device in a real browser: the run paused for approval shows the approval form, the
operator approves it in the page, the device ends isolated on the emulator, and the report
artifact renders as a table."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from prefect_defender.cli.servers import PrefectServer
from tests.ui.conftest import (
    PrefectAPI,
    off_thread,
    save_emulator_block,
    start_flow,
    stop_flow,
    wait_for,
)

pytestmark = pytest.mark.browser

FLOW = "defender-contain-device"
BLOCK = "ui-soc"


@dataclass
class PausedContainment:
    run_id: str
    incident_id: int
    tenant_id: str
    machine: dict[str, Any]
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def paused(
    prefect_server: PrefectServer, prefect_api: PrefectAPI, conn, tenants, emulator
) -> Iterator[PausedContainment]:
    """contain-device (in its own process, on the real server) paused for approval of one
    workstation of a fresh High incident."""
    admin = emulator.admin
    admin.patch_config(time_scale=300.0, action_outcomes={})
    tid = tenants["contoso"]
    save_emulator_block(prefect_server, conn, BLOCK)
    machine = next(
        m
        for m in admin.dump(tid, "machines")
        if "-ws-" in m["computerDnsName"] and m["isolationState"] == "NotIsolated"
    )
    (incident,) = admin.upsert_incidents(
        tid,
        [
            {
                "incidentName": "UI approval test",
                "severity": "High",
                "alerts": [
                    {
                        "id": "da_ui_approval_1",
                        "machineId": machine["id"],
                        "severity": "High",
                        "title": "UI approval",
                        "computerDnsName": machine["computerDnsName"],
                        "entities": [],
                    }
                ],
            }
        ],
    )
    params = {
        "credentials": f"defender-application-credentials/{BLOCK}",
        "incident_id": incident["incidentId"],
        "approval": {"poll_interval_seconds": 1, "timeout_seconds": 240},
        "poll_interval_seconds": 0.2,
        "wait_timeout_seconds": 60,
    }
    proc, log = start_flow(
        prefect_server, "prefect_defender.flows.contain", "contain_device", params, "contain.log"
    )
    try:

        def paused_run() -> dict[str, Any] | None:
            if proc.poll() is not None:
                raise AssertionError(f"contain-device exited early; see {log.name}")
            runs = prefect_api.runs_of_flow(FLOW, "PAUSED")
            return runs[0] if runs else None

        run = wait_for(paused_run, 90, "contain-device to pause for approval")
        yield PausedContainment(run["id"], incident["incidentId"], tid, machine, proc)
    finally:
        stop_flow(proc)
        log.close()
        admin.patch_config(time_scale=1.0)


def _finished(api: PrefectAPI, run_id: str, timeout: float = 180) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        run = api.flow_run(run_id)
        return run if run["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"} else None

    return wait_for(final, timeout, f"flow run {run_id} to finish")


def test_approve_in_the_run_page_isolates_the_device(
    page, ui_url, paused: PausedContainment, prefect_api: PrefectAPI, emulator
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{ui_url}/runs/flow-run/{paused.run_id}")
    page.get_by_role("button", name="Open menu").first.click()
    page.get_by_role("menuitem", name="Resume").click()
    dialog = page.get_by_role("dialog", name="Resume Flow Run")
    # the pause description (markdown) and the typed form
    expect(dialog).to_contain_text(f"Approve containment of incident {paused.incident_id}")
    name = paused.machine["computerDnsName"]
    expect(dialog.get_by_role("heading", name=f"Device 1: {name}")).to_be_visible()
    approve = dialog.get_by_role("switch", name=re.compile(r"^Approve\b(?! By)"))
    expect(approve).to_have_attribute("aria-checked", "false")  # the default is "do not act"
    approve.click()
    expect(approve).to_have_attribute("aria-checked", "true")
    dialog.get_by_label(re.compile(r"^Approved By")).fill("ui-analyst")
    dialog.get_by_role("button", name="Resume").click()
    expect(dialog).to_be_hidden()

    run = _finished(prefect_api, paused.run_id)
    assert run["state_type"] == "COMPLETED", run["state"]
    machine = next(
        m
        for m in emulator.admin.dump(paused.tenant_id, "machines")
        if m["id"] == paused.machine["id"]
    )
    assert machine["isolationState"] == "Isolated"
    actions = [
        a
        for a in emulator.admin.dump(paused.tenant_id, "machineActions")
        if a["machineId"] == paused.machine["id"] and a["type"] == "Isolate"
    ]
    assert [a["status"] for a in actions] == ["Succeeded"]
    assert "approved by ui-analyst" in actions[0]["requestorComment"]


def test_report_artifact_renders_as_a_table(
    page, ui_url, paused: PausedContainment, prefect_api: PrefectAPI
) -> None:
    from playwright.sync_api import expect

    if prefect_api.flow_run(paused.run_id)["state_type"] == "PAUSED":
        # run on its own (-k): approve through the API so there is a report to look at
        off_thread(_resume_via_api, prefect_api, paused.run_id)
    assert _finished(prefect_api, paused.run_id)["state_type"] == "COMPLETED"
    (artifact,) = [a for a in prefect_api.artifacts_of_run(paused.run_id) if a["key"] == FLOW]
    page.goto(f"{ui_url}/artifacts/artifact/{artifact['id']}")
    table = page.get_by_role("table")
    expect(table).to_be_visible()
    for header in ("machine", "action", "outcome", "final"):
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    row = table.get_by_role("row").filter(has_text=paused.machine["computerDnsName"])
    expect(row).to_contain_text("Succeeded")


def _resume_via_api(api: PrefectAPI, run_id: str) -> None:
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api.server.api_url}):
        resume_flow_run(run_id, run_input={"approve": True, "approved_by": "api"})
