"""The demo's stand-in for a chat channel: a webhook receiver on 127.0.0.1 and the Prefect
Custom Webhook block that posts to it, so the demo can show where the waiting-approval message
went (subject, link) without reaching any outside service."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DemoInbox"]

#: the saved block the demo's playbooks notify (``ApprovalPolicy.notify``)
INBOX_BLOCK = "custom-webhook/demo-approvals"


class _Handler(BaseHTTPRequestHandler):
    inbox: DemoInbox

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
        body = self.rfile.read(length) if length else b""
        try:
            message = json.loads(body)
        except ValueError:
            message = {"subject": "", "text": body.decode(errors="replace")}
        with self.inbox.lock:
            self.inbox.messages.append(message if isinstance(message, dict) else {})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints what arrived."""


class DemoInbox:
    """A webhook receiver on 127.0.0.1 (a free port) that keeps every JSON message posted.

    Example:
        ```python
        from prefect.blocks.notifications import CustomWebhookNotificationBlock

        from prefect_defender.cli.demo_inbox import DemoInbox

        with DemoInbox() as inbox:
            inbox.save_block()  # custom-webhook/demo-approvals, which the playbooks notify
            webhook = CustomWebhookNotificationBlock.load("demo-approvals")
            webhook.notify("isolate 2 devices?", subject="Approval needed: contain-device")
            msg = inbox.wait_for("Approval needed", 30)
            assert msg == {"subject": "Approval needed: contain-device",
                           "text": "isolate 2 devices?"}
        ```
    """

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        handler = type("InboxHandler", (_Handler,), {"inbox": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/approvals"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def save_block(self) -> str:
        """Save the Custom Webhook block posting ``{"subject", "text"}`` here; its slug."""
        from prefect.blocks.notifications import CustomWebhookNotificationBlock

        CustomWebhookNotificationBlock(
            name="demo-approvals",
            url=self.url,
            json_data={"subject": "{{subject}}", "text": "{{body}}"},
            timeout=10,
        ).save("demo-approvals", overwrite=True)
        return INBOX_BLOCK

    def wait_for(self, subject_part: str, timeout: float) -> dict[str, Any] | None:
        """The first message whose subject contains ``subject_part`` (None after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if subject_part in str(m.get("subject", ""))]
            if found:
                return found[0]
            time.sleep(0.3)
        return None

    def __enter__(self) -> DemoInbox:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
