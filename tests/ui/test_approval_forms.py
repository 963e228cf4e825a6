"""The five approval forms in a real browser: contain-device, contain-identity,
contain-incident, release and hunt-and-respond paused on a real Prefect server (all five in one
process), their resume dialogs opened in Debian's Chromium.

Every context field is shown, and nothing is wider than the dialog (each element's box is
measured against the dialog's, and no scroll area scrolls sideways). The device form is then
answered in the page: one device switched off, a comment and a name typed; only the chosen
device is isolated on the emulator, and the comment reaches the incident, the report artifact
and the ``defender.approval.decided`` event.

Screenshots of the forms are written to ``tests/artifacts/ui/``; with
``UPDATE_DOCS_SCREENSHOTS=1`` they replace the docs site's (``docs/images/approval/``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from prefect_defender.cli.servers import PrefectServer
from tests.flows.conftest import contained_incident, incident_alerts
from tests.ui.conftest import (
    ARTIFACTS,
    PrefectAPI,
    off_thread,
    save_emulator_block,
    start_flow,
    start_flows,
    stop_flow,
    wait_for,
)

pytestmark = pytest.mark.browser

BLOCK = "ui-forms"
DOMAIN = "contoso.example"
IOC = "203.0.113.66"  # seen by several of contoso's devices (the emulator's planted IOC)
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images" / "approval"
#: what the operator's browser measures: every element of the dialog against its box
MEASURE = """(dialog) => {
  const box = dialog.getBoundingClientRect();
  const wide = [];
  let right = 0;
  for (const el of dialog.querySelectorAll('*')) {
    if (el.closest('.sr-only')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    right = Math.max(right, r.right);
    if (r.right > box.right + 0.5 || r.left < box.left - 0.5) {
      wide.push(`${el.tagName} ${r.width.toFixed(0)}px: ${(el.textContent || '').slice(0, 60)}`);
    }
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
      wide.push(`${el.tagName} scrolls sideways: ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return {dialog: box.width, content: right - box.left, wide};
}"""


@dataclass
class Paused:
    """One playbook run paused for approval."""

    flow: str
    run_id: str
    incident_id: int | None
    facts: dict[str, Any] = field(default_factory=dict)


def _incident(admin: Any, tid: str, name: str, machines: list[dict], users: list[str]) -> int:
    alerts = incident_alerts(f"form_{name[:6]}", machines, users)
    (incident,) = admin.upsert_incidents(
        tid,
        [{"incidentName": name, "severity": "High", "status": "Active", "alerts": alerts}],
    )
    return int(incident["incidentId"])


@pytest.fixture(scope="module")
def forms(
    prefect_server: PrefectServer, prefect_api: PrefectAPI, conn, tenants, emulator
) -> Iterator[dict[str, Paused]]:
    """The five playbooks, each paused for approval (of a fresh High incident, of a release of
    a contained one, of a hunt's matches), run side by side in one process."""
    from prefect_defender.blocks import DefenderApplicationCredentials

    admin = emulator.admin
    admin.patch_config(time_scale=300.0, action_outcomes={})
    tid = tenants["contoso"]
    save_emulator_block(prefect_server, conn, BLOCK)
    machines = admin.dump(tid, "machines")
    free = [m for m in machines if m["isolationState"] == "NotIsolated"]
    ws = [m for m in free if "-ws-" in m["computerDnsName"]][5:10]
    dc = next(m for m in free if "DomainController" in m["machineTags"])
    common = {
        "credentials": f"defender-application-credentials/{BLOCK}",
        "approval": {"poll_interval_seconds": 1, "timeout_seconds": 900},
    }
    device_incident = _incident(admin, tid, "Ransomware on two workstations", [*ws[:2], dc], [])
    users = [f"jdoe@{DOMAIN}", f"breakglass@{DOMAIN}"]
    identity_incident = _incident(admin, tid, "Password spray on two accounts", [], users)
    both = _incident(admin, tid, "Hands-on-keyboard attack", [ws[2]], [f"ckent@{DOMAIN}"])
    creds = DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=300.0)
    # (asyncio on a worker thread: Playwright's loop is marked as running on this one)
    released = off_thread(contained_incident, emulator, tid, creds, ws[3:5], (f"bwayne@{DOMAIN}",))
    plans = {
        "device": (
            "prefect_defender.flows.contain",
            "contain_device",
            "defender-contain-device",
            {**common, "incident_id": device_incident, "poll_interval_seconds": 0.2},
            device_incident,
        ),
        "identity": (
            "prefect_defender.flows.contain_identity",
            "contain_identity",
            "defender-contain-identity",
            {**common, "incident_id": identity_incident},
            identity_incident,
        ),
        "incident": (
            "prefect_defender.flows.contain_incident",
            "contain_incident",
            "defender-contain-incident",
            {**common, "incident_id": both},
            both,
        ),
        "release": (
            "prefect_defender.flows.release",
            "release_containment",
            "defender-release",
            {**common, "incident_id": released, "release_accounts": True},
            released,
        ),
        "hunt": (
            "prefect_defender.flows.hunt_respond",
            "hunt_and_respond",
            "defender-hunt-and-respond",
            {**common, "ioc_kind": "ip", "ioc_values": [IOC], "response": "scan"},
            None,
        ),
    }
    proc, log = start_flows(
        prefect_server, [(m, fn, params) for m, fn, _, params, _ in plans.values()], "forms.log"
    )
    out: dict[str, Paused] = {}
    try:
        for kind, (_, _, flow, _, iid) in plans.items():

            def paused_run(flow: str = flow) -> Any:
                if proc.poll() is not None:
                    raise AssertionError(f"the playbooks exited early; see {log.name}")
                runs = prefect_api.runs_of_flow(flow, "PAUSED")
                return runs[0] if runs else None

            run = wait_for(paused_run, 180, f"{flow} to pause for approval")
            out[kind] = Paused(flow, run["id"], iid)
        out["device"].facts = {"ws": ws[:2], "dc": dc, "users": users}
        out["identity"].facts = {"users": users}
        out["incident"].facts = {"ws": [ws[2]], "users": [f"ckent@{DOMAIN}"]}
        out["release"].facts = {"ws": ws[3:5], "users": [f"bwayne@{DOMAIN}"]}
        yield out
    finally:
        stop_flow(proc)
        log.close()
        admin.patch_config(time_scale=1.0)


@pytest.fixture
def tall_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page tall enough that the dialog (at most 80% of the viewport) shows a whole form."""
    context = browser.new_context(viewport={"width": 1280, "height": 4400})
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _open_dialog(page: Any, ui_url: str, run_id: str) -> Any:
    from playwright.sync_api import expect

    page.goto(f"{ui_url}/runs/flow-run/{run_id}")
    page.get_by_role("button", name="Open menu").first.click()
    page.get_by_role("menuitem", name="Resume").click()
    dialog = page.get_by_role("dialog", name="Resume Flow Run")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Resume")).to_be_visible()
    return dialog


def _fits(page: Any, dialog: Any, name: str) -> dict[str, Any]:
    """Measure the dialog, save its screenshot; fail naming whatever is wider."""
    scroller = dialog.locator(".overflow-y-auto").first
    if scroller.count():
        scroller.evaluate("el => { el.scrollTop = 0 }")
    found: dict[str, Any] = dialog.evaluate(MEASURE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"approval-{name}-form.png"
    dialog.screenshot(path=str(shot))
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOCS_IMAGES / shot.name)
    print(f"{name} form: dialog {found['dialog']:.0f}px, content {found['content']:.0f}px wide")
    assert found["wide"] == [], found["wide"]
    assert found["content"] <= found["dialog"] + 0.5
    return found


def _page_shot(page: Any, name: str) -> None:
    """The page at a laptop's size, the dialog open (the README's picture)."""
    page.set_viewport_size({"width": 1280, "height": 820})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / name))
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        shutil.copy(ARTIFACTS / name, DOCS_IMAGES / name)
    page.set_viewport_size({"width": 1280, "height": 4400})


def _first_screen(page: Any, dialog: Any, name: str, texts: list[str | re.Pattern[str]]) -> None:
    """At a laptop's size (1280 x 820), the dialog scrolled to its top: each of ``texts`` is
    visible without scrolling (what the operator reads first); the screen is saved."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1280, "height": 820})
    try:
        scroller = dialog.locator(".overflow-y-auto").first
        if scroller.count():
            scroller.evaluate("el => { el.scrollTop = 0 }")
        page.wait_for_timeout(300)
        for text in texts:
            expect(dialog.get_by_text(text).first).to_be_in_viewport(ratio=1)
        page.screenshot(path=str(ARTIFACTS / f"approval-{name}-first-screen.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 4400})


def _shows(dialog: Any, texts: list[str | re.Pattern[str]]) -> None:
    from playwright.sync_api import expect

    for text in texts:
        expect(dialog.get_by_text(text).first).to_be_attached()


def _device_facts(dialog: Any, machines: list[dict[str, Any]], verb: str = "isolate") -> None:
    from playwright.sync_api import expect

    for n, m in enumerate(machines, 1):
        expect(
            dialog.get_by_role("heading", name=f"Device {n}: {m['computerDnsName']}")
        ).to_be_visible()
        expect(
            dialog.get_by_role(
                "switch",
                name=re.compile(rf"^Device {n}: {re.escape(m['computerDnsName'])}: {verb}"),
            )
        ).to_be_visible()
    _shows(
        dialog,
        [
            re.compile(r"OS: Windows"),
            re.compile(r"Health: Active; last seen \d{4}-\d\d-\d\d \d\d:\d\d UTC"),
            re.compile(r"Risk: \w+; exposure: \w+"),
            re.compile(r"Tags: "),
            "Open the device in Defender",
        ],
    )


def _account_facts(dialog: Any, users: list[str]) -> None:
    from playwright.sync_api import expect

    for n, upn in enumerate(users, 1):
        expect(dialog.get_by_role("heading", name=f"Account {n}: {upn}")).to_be_visible()
        expect(
            dialog.get_by_role("switch", name=re.compile(rf"^Account {n}: {re.escape(upn)}: "))
        ).to_be_visible()
    _shows(
        dialog,
        [
            re.compile(r"Providers: .*; enabled: (yes|no|unknown)"),
            re.compile(r"Risk level: "),
            "Last sign-ins:",
            re.compile(r"Privileged groups: "),
            "Open the user in Defender",
        ],
    )


def _decision_facts(dialog: Any) -> None:
    """What every form shows: the tenant by its name, the deadline, the blast radius."""
    _shows(
        dialog,
        [
            "Tenant: Contoso Ltd",
            re.compile(r"Decide by \d{4}-\d\d-\d\d \d\d:\d\d UTC\."),
            re.compile(r"Blast radius:"),
        ],
    )


def _incident_facts(dialog: Any, incident_id: int, title: str, action: str = "containment") -> None:
    _shows(
        dialog,
        [
            re.compile(rf"Approve {action} of incident {incident_id} \(High\)\?"),
            title,
            re.compile(r"severity High · status (Active|Resolved)"),
            "open the incident in Defender",
            re.compile(r"Why:"),
            re.compile(r"Alerts \(\d+\):"),
        ],
    )
    _decision_facts(dialog)


def _fields(dialog: Any, present: list[str], absent: list[str]) -> None:
    """The form's own fields, by their labels."""
    from playwright.sync_api import expect

    for label in present:
        expect(dialog.get_by_text(re.compile(rf"^{label}\b")).first).to_be_visible()
    for label in absent:
        expect(dialog.get_by_text(re.compile(rf"^{label}\b"))).to_have_count(0)


def test_identity_form_shows_every_field_within_the_dialog(
    tall_page, ui_url, forms: dict[str, Paused]
) -> None:
    paused = forms["identity"]
    dialog = _open_dialog(tall_page, ui_url, paused.run_id)
    _incident_facts(dialog, paused.incident_id, "Password spray on two accounts")
    _account_facts(dialog, paused.facts["users"])
    _shows(dialog, ["Protected: yes, protected account pattern 'breakglass*'"])
    _fits(tall_page, dialog, "identity")


def test_incident_form_shows_devices_and_accounts_within_the_dialog(
    tall_page, ui_url, forms: dict[str, Paused]
) -> None:
    paused = forms["incident"]
    dialog = _open_dialog(tall_page, ui_url, paused.run_id)
    _incident_facts(dialog, paused.incident_id, "Hands-on-keyboard attack")
    _device_facts(dialog, paused.facts["ws"])
    _account_facts(dialog, paused.facts["users"])
    _shows(dialog, [re.compile(r"1 device and 1 account: 3 write actions")])
    _fits(tall_page, dialog, "incident")


def test_device_form_fits_and_its_answer_is_heard(
    tall_page, ui_url, forms: dict[str, Paused], prefect_api: PrefectAPI, emulator, tenants
) -> None:
    from playwright.sync_api import expect

    paused = forms["device"]
    ws, dc = paused.facts["ws"], paused.facts["dc"]
    dialog = _open_dialog(tall_page, ui_url, paused.run_id)
    _incident_facts(dialog, paused.incident_id, "Ransomware on two workstations")
    _device_facts(dialog, [*ws, dc])
    _shows(dialog, [re.compile(r"Protected: yes, protected tag 'DomainController'")])
    _fits(tall_page, dialog, "device")
    _page_shot(tall_page, "approval-dialog.png")  # the run page as the operator sees it

    # the operator approves, leaves the second workstation out, says why and who
    approve = dialog.get_by_role("switch", name=re.compile(r"^Approve\b"))
    expect(approve).to_have_attribute("aria-checked", "false")  # the default is "do not act"
    approve.click()
    second = dialog.get_by_role("switch", name=re.compile(r"^Device 2: "))
    expect(second).to_have_attribute("aria-checked", "true")
    second.click()
    expect(second).to_have_attribute("aria-checked", "false")
    dialog.get_by_label(re.compile(r"^Comment")).fill("Ransom note seen on ws 1; ws 2 is a decoy")
    dialog.get_by_label(re.compile(r"^Approved By")).fill("ui-analyst")
    dialog.get_by_role("button", name="Resume").click()
    expect(dialog).to_be_hidden()

    def final() -> dict[str, Any] | None:
        run = prefect_api.flow_run(paused.run_id)
        return run if run["state_type"] in {"COMPLETED", "FAILED", "CRASHED"} else None

    assert wait_for(final, 180, "contain-device to finish")["state_type"] == "COMPLETED"
    tid = tenants["contoso"]
    isolated = {
        a["machineId"]
        for a in emulator.admin.dump(tid, "machineActions")
        if a["type"] == "Isolate" and a["machineId"] in {ws[0]["id"], ws[1]["id"], dc["id"]}
    }
    assert isolated == {ws[0]["id"]}  # the chosen row only (the DC is protected, not included)
    said = "Ransom note seen on ws 1; ws 2 is a decoy"
    incident = next(
        i for i in emulator.admin.dump(tid, "incidents") if i["incidentId"] == paused.incident_id
    )
    assert f'comment: "{said}"' in incident["comments"][-1]["comment"]
    assert f"left out: {ws[1]['computerDnsName']}" in incident["comments"][-1]["comment"]
    (artifact,) = [
        a
        for a in prefect_api.artifacts_of_run(paused.run_id)
        if a["key"] == "defender-contain-device"
    ]
    assert f"Operator comment: {said}" in artifact["data"]
    assert "Approver's name: ui-analyst (typed in the form, self-declared)" in artifact["data"]
    event = wait_for(lambda: _decided_event(prefect_api, paused.run_id), 30, "the decided event")
    assert event["payload"]["comment"] == said and event["payload"]["approved_by"] == "ui-analyst"
    assert event["payload"]["left_out"] == [ws[1]["computerDnsName"]]


def test_release_form_says_what_each_row_undoes_within_the_dialog(
    tall_page, ui_url, forms: dict[str, Paused]
) -> None:
    from playwright.sync_api import expect

    paused = forms["release"]
    iid = paused.incident_id
    dialog = _open_dialog(tall_page, ui_url, paused.run_id)
    _incident_facts(dialog, iid, "Contained and cleaned", action="release")
    _shows(dialog, [f"release incident {iid}"])  # the run's name, not a random one
    _shows(
        dialog,
        [
            re.compile(r"status Resolved · classified [Ff]alse ?[Pp]ositive"),
            "Why: this run was started to undo the containment: lift isolation, delete the "
            "indicators playbooks added for the incident, re-enable disabled accounts",
            "2 devices, 1 account and 2 indicators: 5 write actions",
        ],
    )
    _device_facts(dialog, paused.facts["ws"], verb="release from isolation")
    _shows(
        dialog,
        [
            re.compile(
                r"Why: isolated \(Selective\) since \d{4}-\d\d-\d\d \d\d:\d\d UTC by an "
                rf'application: "prefect-defender contain-device \(incident {iid}, approved by '
                r'alice\)"'
            ),
            "Why: disabled now",
        ],
    )
    _account_facts(dialog, paused.facts["users"])
    for n in (1, 2):
        name = f"DomainName release-{iid}-{n}.example"
        expect(dialog.get_by_role("heading", name=f"Indicator {n}: {name}")).to_be_visible()
        expect(dialog.get_by_role("switch", name=f"Indicator {n}: {name}: delete")).to_be_visible()
        _shows(dialog, [f"Title: prefect-defender: incident {iid} domain {n}"])
    _shows(dialog, [re.compile(r"Now: Block; expires "), re.compile(r"Created \d{4}-.* UTC by ")])
    _fields(dialog, ["Approve", "Comment", "Approved By"], ["Isolation Type", "Include Protected"])
    _fits(tall_page, dialog, "release")
    _first_screen(
        tall_page,
        dialog,
        "release",
        [
            f"Approve release of incident {iid} (High)?",
            "To do: release from isolation on 2 devices; enable on 1 account; delete on 2 "
            "indicators",
            re.compile(r"Decide by \d{4}-\d\d-\d\d \d\d:\d\d UTC\."),
            "Contained and cleaned",
        ],
    )


def test_hunt_form_says_what_the_hunt_saw_within_the_dialog(
    tall_page, ui_url, forms: dict[str, Paused]
) -> None:
    from playwright.sync_api import expect

    dialog = _open_dialog(tall_page, ui_url, forms["hunt"].run_id)
    _shows(dialog, [f"hunt-and-respond ip {IOC}"])  # the run's name
    devices = dialog.get_by_role("heading", name=re.compile(r"^Device \d+: "))
    expect(devices.first).to_be_visible()
    n = devices.count()
    assert n >= 3
    _shows(
        dialog,
        [
            f"Approve antivirus scan of {n} devices that saw ip {IOC}?",
            f"Why: an IOC hunt for ip {IOC} over the last 7 days found it on {n} devices",
            f"{n} devices: {n} write actions",
            re.compile(rf"Why: saw ip {re.escape(IOC)}: \d+ events?, (at )?\d{{4}}-\d\d-\d\d"),
            re.compile(r"OS: "),
            re.compile(r"Health: \w+; last seen "),
            "Open the device in Defender",
        ],
    )
    _decision_facts(dialog)
    for i in range(1, n + 1):
        switch = dialog.get_by_role(
            "switch", name=re.compile(rf"^Device {i}: .*: run a full antivirus scan")
        )
        expect(switch).to_be_visible()
    _fields(dialog, ["Approve", "Include Protected", "Comment"], ["Isolation Type"])
    _fits(tall_page, dialog, "hunt")
    _first_screen(
        tall_page,
        dialog,
        "hunt",
        [
            f"Approve antivirus scan of {n} devices that saw ip {IOC}?",
            f"To do: run a full antivirus scan on {n} devices",
            re.compile(r"Decide by \d{4}-\d\d-\d\d \d\d:\d\d UTC\."),
            f"Why: an IOC hunt for ip {IOC}",
        ],
    )


def _decided_event(api: PrefectAPI, run_id: str) -> dict[str, Any] | None:
    body = {
        "filter": {
            "event": {"name": ["defender.approval.decided"]},
            "resource": {"id": [f"defender.approval.{run_id}"]},
        },
        "limit": 5,
    }
    resp = api.http.post("/events/filter", json=body)
    resp.raise_for_status()
    events = resp.json().get("events") or []
    return events[0] if events else None


def test_triage_report_renders_lists_and_tables(
    page, ui_url, forms: dict[str, Paused], prefect_server: PrefectServer, prefect_api: PrefectAPI
) -> None:
    """The triage report in the artifact page: the summary is a list, the devices and the
    entities are tables (a table inside a list item would show as text)."""
    from playwright.sync_api import expect

    params = {"credentials": f"defender-application-credentials/{BLOCK}", "incident_id": 1001}
    proc, log = start_flow(
        prefect_server, "prefect_defender.flows.triage", "triage_incident", params, "triage.log"
    )
    try:
        assert proc.wait(timeout=180) == 0, f"triage failed; see {log.name}"
    finally:
        stop_flow(proc)
        log.close()
    (run,) = prefect_api.runs_of_flow("defender-triage-incident")[:1]
    (artifact,) = [
        a for a in prefect_api.artifacts_of_run(run["id"]) if a["key"] == "defender-triage"
    ]
    page.goto(f"{ui_url}/artifacts/artifact/{artifact['id']}")
    expect(page.get_by_role("listitem").filter(has_text="Tenant: ")).to_have_count(1)
    expect(page.get_by_role("link", name="Open the incident in Defender")).to_be_visible()
    for header in ("device", "tags", "risk", "health", "entity", "outcome", "detail"):
        expect(page.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Devices \(\d+\)"))).to_be_visible()
    rendered = page.locator(
        ".prose"
    ).first  # the rendered markdown (the page also shows the source)
    expect(rendered.get_by_role("table")).to_have_count(2)
    expect(rendered.get_by_text("| device |")).to_have_count(0)  # no table left as raw text
