"""Notifications end to end: playbooks on the Prefect harness against the emulator, delivered
through Prefect's own notification blocks to local receivers over real sockets."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from typing import Any
from uuid import UUID

import pytest
from prefect.blocks.notifications import (
    CustomWebhookNotificationBlock,
    MicrosoftTeamsWebhook,
    SlackWebhook,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)

from prefect_defender.flows.block_indicators import block_indicators
from prefect_defender.flows.notify import OutcomeMessage, notify_outcome, scrub
from prefect_defender.flows.notify._delivery import _secret_values
from prefect_defender.flows.triage import triage_incident
from prefect_defender.tasks.safety import SafetyPolicy
from tests.flows.conftest import start
from tests.notify.servers import Receiver, closed_port

SECRET = "s3cr3t-T0KEN-do-not-log"
SLACK_URL = "https://hooks.slack.com/services/T0NOTIFY1/B0NOTIFY2/XyZslackSECRETtoken42"
TEAMS_SIG = "tEaMsSiGnAtUrE0123456789"
TEAMS_URL = (
    "https://prod-00.westus.logic.azure.com:443/workflows/0a1b2c3d4e5f/triggers/manual/paths/"
    "invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + TEAMS_SIG
)
RUN_LINK = re.compile(r"/runs/flow-run/([0-9a-f-]{36})")


def save_webhook(name: str, rx: Receiver, path: str = "/hook", port: int | None = None) -> str:
    """A Custom Webhook block posting ``{"subject", "text"}``; the secret is in the URL path."""
    base = rx.url(path) if port is None else f"http://127.0.0.1:{port}{path}"
    CustomWebhookNotificationBlock(
        name=name,
        url=base + "/{{token}}",
        json_data={"subject": "{{subject}}", "text": "{{body}}"},
        secrets={"token": SECRET},
        timeout=5,
    ).save(name, overwrite=True)
    return f"custom-webhook/{name}"


def run_id_of(text: str) -> UUID:
    m = RUN_LINK.search(text)
    assert m, f"no flow-run link in: {text}"
    return UUID(m.group(1))


async def _artifact(run_id: UUID, key: str) -> Any:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            )
        )
    return found[0] if found else None


async def _run_logs(run_id: UUID, must_contain: str, timeout: float = 15.0) -> str:
    """The run's logs as stored by the Prefect API (what the UI shows)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
        text = "\n".join(lg.message for lg in logs)
        if must_contain in text:
            return text
        await asyncio.sleep(0.3)
    raise AssertionError(f"{must_contain!r} not in the run's logs:\n{text}")


def test_playbook_sends_one_message_with_counts_and_links(creds, rx, tenants) -> None:
    target = save_webhook("soc-hook", rx)
    rows = start(
        None,
        block_indicators,
        credentials=creds["app"],
        incident_id=1001,
        indicators=[
            {"value": "198.51.100.78", "type": "IpAddress", "title": "scan", "description": "x"},
            {"value": "not-a-hash", "type": "FileSha256", "title": "bad", "description": "x"},
        ],
        notify=[target],
    ).result(timeout=120)
    assert len(rx.received) == 1, [r.body for r in rx.received]
    msg = rx.received[0]
    assert msg.method == "POST" and msg.path == f"/hook/{SECRET}"  # the secret reached the URL
    payload = msg.json()
    text = payload["text"]
    for status, n in Counter(r["status"] for r in rows).items():
        assert f"{n} {status}" in text
    assert "failed" in payload["subject"] and "defender-block-indicators" in payload["subject"]
    assert "Playbook: defender-block-indicators" in text
    assert f"Tenant: {tenants['contoso']}" in text
    assert "Incident: 1001" in text
    assert "Submitted:" in text  # what was done, from the report
    assert "[1] not-a-hash" in text  # the failed item is named
    assert f"/incidents/1001/overview?tid={tenants['contoso']}" in text
    run_id = run_id_of(text)
    report = asyncio.run(_artifact(run_id, "defender-block-indicators"))
    assert f"/artifacts/artifact/{report.id}" in text
    record = asyncio.run(_artifact(run_id, "defender-notifications"))
    assert f"| {target} | sent |" in record.data


def test_no_notify_sends_nothing_and_notify_on_filters(creds, rx) -> None:
    target = save_webhook("soc-hook", rx)
    clean = [{"value": "198.51.100.79", "type": "IpAddress", "title": "t", "description": "x"}]
    start(None, block_indicators, credentials=creds["app"], indicators=clean).result(timeout=120)
    start(
        None,
        block_indicators,
        credentials=creds["app"],
        indicators=clean,
        notify=[target],
        notify_on="failure",
    ).result(timeout=120)
    assert rx.received == []  # nothing asked / nothing failed
    start(
        None,
        block_indicators,
        credentials=creds["app"],
        indicators=clean,
        safety=SafetyPolicy(dry_run=True),
        notify=[target],
        notify_on="action",
    ).result(timeout=120)
    assert rx.received == []  # a dry run changes nothing
    start(
        None,
        block_indicators,
        credentials=creds["app"],
        indicators=clean,
        notify=[target],
        notify_on="action",
    ).result(timeout=120)
    assert len(rx.received) == 1 and "1 succeeded" in rx.received[0].json()["text"]


def test_a_failed_playbook_is_reported(creds, rx) -> None:
    target = save_webhook("soc-hook", rx)
    fut = start(
        None,
        triage_incident,
        credentials="defender-application-credentials/no-such-block",
        incident_id=1001,
        notify=[target],
        notify_on="failure",
    )
    with pytest.raises(ValueError):
        fut.result(timeout=120)
    assert len(rx.received) == 1
    text = rx.received[0].json()["text"]
    assert "defender-triage-incident: Failed" in text or ": Failed" in text
    assert "Error:" in text and "no-such-block" in text
    assert "Outcome: no items" in text


def test_failing_webhooks_never_fail_the_playbook_nor_leak_the_secret(creds, rx, all_logs) -> None:
    good = save_webhook("good-hook", rx)
    broken = save_webhook("broken-hook", rx, path="/fail")  # answers 500
    gone = save_webhook("gone-hook", rx, port=closed_port())  # connection refused
    rows = start(
        None,
        block_indicators,
        credentials=creds["app"],
        indicators=[
            {"value": "198.51.100.80", "type": "IpAddress", "title": "t", "description": "x"}
        ],
        notify=[broken, gone, good],
    ).result(timeout=120)
    assert [r["status"] for r in rows] == ["succeeded"]  # the outcome is intact
    good_msgs = [r for r in rx.received if r.path.startswith("/hook/")]
    assert len(good_msgs) == 1  # the working block still got its message
    assert len([r for r in rx.received if r.path.startswith("/fail/")]) == 1
    run_id = run_id_of(good_msgs[0].json()["text"])
    record = asyncio.run(_artifact(run_id, "defender-notifications")).data
    assert f"| {broken} | failed |" in record and f"| {gone} | failed |" in record
    assert "500" in record and "ConnectError" in record
    assert SECRET not in record
    api_logs = asyncio.run(_run_logs(run_id, f"notification to {gone} failed"))
    assert f"notification to {broken} failed" in api_logs
    assert SECRET not in api_logs
    assert f"notification to {gone} failed" in all_logs.text
    assert SECRET not in all_logs.text


def test_slack_and_teams_blocks_deliver_through_their_real_urls(
    creds, via_interceptor, all_logs
) -> None:
    """Prefect's Slack and Teams blocks only accept their services' URLs (https, fixed hosts),
    so they cannot point at 127.0.0.1: the interceptor answers for hooks.slack.com and
    *.logic.azure.com instead, with TLS verification on."""
    SlackWebhook(url=SLACK_URL).save("notify-slack", overwrite=True)
    MicrosoftTeamsWebhook(url=TEAMS_URL).save("notify-teams", overwrite=True)
    out = start(
        None,
        triage_incident,
        credentials=creds["app"],
        incident_id=1003,
        dry_run=True,
        notify=["slack-webhook/notify-slack", "ms-teams-webhook/notify-teams"],
    ).result(timeout=120)
    got = {r.host.split(":")[0]: r for r in via_interceptor.received}
    assert len(via_interceptor.received) == 2, [(r.host, r.path) for r in got.values()]
    slack = got["hooks.slack.com"]
    assert slack.path == "/services/T0NOTIFY1/B0NOTIFY2/XyZslackSECRETtoken42"
    slack_text = str(slack.json())
    assert "defender-triage-incident" in slack_text and "Incident: 1003" in slack_text
    teams = got["prod-00.westus.logic.azure.com"]
    assert teams.path.startswith("/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke?")
    assert f"sig={TEAMS_SIG}" in teams.path
    card = str(teams.json())
    assert "Triage of incident 1003" in card and f"Score {out['score']}" in card
    assert "XyZslackSECRETtoken42" not in all_logs.text and TEAMS_SIG not in all_logs.text


def test_notify_outcome_directly_reports_bad_references() -> None:
    msg = OutcomeMessage(playbook="p", counts={"succeeded": 1})
    out = asyncio.run(notify_outcome(["not-a-ref", "slack-webhook/"], msg))
    assert [d.delivered for d in out] == [False, False]
    assert "expected '<block-type-slug>/<block-name>'" in (out[0].error or "")
    assert asyncio.run(notify_outcome([], msg)) == []


def test_secret_values_cover_url_fragments() -> None:
    block = SlackWebhook(url=SLACK_URL)
    secrets = _secret_values(block)
    text = "POST /services/T0NOTIFY1/B0NOTIFY2/XyZslackSECRETtoken42 failed; see " + SLACK_URL
    cleaned = scrub(text, secrets)
    assert "XyZslackSECRETtoken42" not in cleaned and "***" in cleaned
    teams = _secret_values(MicrosoftTeamsWebhook(url=TEAMS_URL))
    assert TEAMS_SIG in teams


def test_message_rules() -> None:
    ok = OutcomeMessage(playbook="p", counts={"succeeded": 2})
    bad = OutcomeMessage(playbook="p", counts={"succeeded": 1, "failed": 1})
    dry = OutcomeMessage(playbook="p", counts={"dry_run": 2}, dry_run=True)
    crashed = OutcomeMessage(playbook="p", state="Crashed")
    assert [m.wanted("failure") for m in (ok, bad, dry, crashed)] == [False, True, False, True]
    assert [m.wanted("action") for m in (ok, bad, dry, crashed)] == [True, True, False, True]
    assert all(m.wanted("always") for m in (ok, bad, dry, crashed))
    long = OutcomeMessage(playbook="p", done=["x" * 190] * 40)
    subject, body = long.render()
    assert len(body) <= 3500 and subject.startswith("[prefect-defender] p: Completed")


def test_email_through_the_sendgrid_block(creds, via_interceptor, all_logs) -> None:
    """Email: Prefect's SendGrid notification block delivers the same message to SendGrid's API
    (answered by the interceptor for api.sendgrid.com, TLS verified); the API key stays out of
    the logs."""
    from prefect.blocks.notifications import SendgridEmail

    key = "SG.notifyMARKERkey.0123456789abcdefghijklmnopqrstuvwxyz0123456"
    SendgridEmail(
        api_key=key, sender_email="soc@contoso.example", to_emails=["oncall@contoso.example"]
    ).save("notify-mail", overwrite=True)
    start(
        None,
        triage_incident,
        credentials=creds["app"],
        incident_id=1003,
        dry_run=True,
        notify=["sendgrid-email/notify-mail"],
    ).result(timeout=120)
    (mail,) = [r for r in via_interceptor.received if r.host.startswith("api.sendgrid.com")]
    body = str(mail.json())
    assert "oncall@contoso.example" in body and "soc@contoso.example" in body
    assert "defender-triage-incident" in body and "1003" in body
    assert key not in all_logs.text
