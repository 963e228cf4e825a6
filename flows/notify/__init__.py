"""Notifications: one concise message per playbook run, through Prefect's notification blocks.

Every playbook takes two parameters::

    notify: list[str] | None = None        # saved blocks, e.g. ["slack-webhook/soc"]
    notify_on: "always" | "failure" | "action" = "always"

and is decorated with :func:`notifying`, which adds a completion/failure/crash hook. When the run
ends, the hook builds one message from the run's report(s) (see :func:`remember_report`, called
by ``write_report``) and sends it to every named block: playbook, tenant, incident, outcome
counts per status, what was done, failed items, and links (the Prefect flow run, the report
artifact, the Defender portal).

Any block derived from ``prefect.blocks.abstract.NotificationBlock`` works: ``SlackWebhook``
(``slack-webhook/<name>``), ``MicrosoftTeamsWebhook`` (``ms-teams-webhook/<name>``),
``CustomWebhookNotificationBlock`` (``custom-webhook/<name>``), ``SendgridEmail``
(``sendgrid-email/<name>``), PagerDuty, Opsgenie, Discord, Mattermost, Twilio SMS.

The package is the public face; its parts are private: the hook, the decorator and the reports
kept per run (``_hook``), the message (``_message``) and its delivery (``_delivery``).

A notification never fails the playbook nor changes its outcome: a failed delivery is logged as
a warning (with every secret of the block masked) and recorded in a ``defender-notifications``
artifact of the run.

Example:
    ```python
    # needs a Slack workspace
    import asyncio

    from prefect.blocks.notifications import SlackWebhook

    from prefect_defender.flows.contain import contain_device

    SlackWebhook(url="https://hooks.slack.com/services/T0/B0/XXXX").save("soc", overwrite=True)
    asyncio.run(contain_device(incident_id=1001, notify=["slack-webhook/soc"], notify_on="action"))
    ```
"""

from __future__ import annotations

from prefect_defender.flows.notify._delivery import (
    SEND_TIMEOUT,
    Delivery,
    Message,
    notify_outcome,
    scrub,
)
from prefect_defender.flows.notify._hook import (
    notify_hook,
    notifying,
    record_deliveries,
    remember_report,
)
from prefect_defender.flows.notify._message import (
    MAX_BODY,
    NotifyOn,
    OutcomeMessage,
    Report,
    build_message,
    flow_run_url,
)

__all__ = [
    "MAX_BODY",
    "SEND_TIMEOUT",
    "Delivery",
    "Message",
    "NotifyOn",
    "OutcomeMessage",
    "Report",
    "build_message",
    "flow_run_url",
    "notify_hook",
    "notify_outcome",
    "notifying",
    "record_deliveries",
    "remember_report",
    "scrub",
]
