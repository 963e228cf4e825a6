"""One HTTP transport for every Defender call: tokens, limits, retries, errors, host checks.

The transport owns, once for the whole package:

* **Host allow-list.** A bearer token is only ever attached to the configured API hosts; any
  other URL (for instance an ``@odata.nextLink`` pointing elsewhere) raises
  :class:`~prefect_defender.api.errors.UnsafeRequestError` before anything is sent. Download
  links (investigation packages, live-response results) are fetched without the token.
* **Rate limits.** A sliding-window limiter per (app, tenant, family; per API for Defender for
  Endpoint, whose pages state each API's limit) paces requests below the documented quotas; a
  429 pushes that limiter out by ``Retry-After``.
* **Retries** with jittered exponential backoff and an overall deadline: on 429 (honouring
  ``Retry-After``), 5xx and connection failures. A request that may already have been applied
  (a non-idempotent POST whose answer was lost, or a 500/502/504 to it) is *not* retried: it
  raises with ``applied_unknown=True`` so the caller can look the outcome up (machine actions
  do: they search the pending action before trying again).
* **Errors** typed by status, with Defender's ``code``, ``message`` and ``target``; a 403 names
  the permission the endpoint needs and the Entra API it belongs to.
* **Lifecycle** (``api.lifecycle``): a retired endpoint is refused before anything is sent, a
  deprecated one warns once per process, and a retired API's 404/410 raises ``ApiRetiredError``.
* **Bounds.** One deadline covers the whole call: connecting, the token (msal's HTTP client
  works within it too), waiting for the answer, every byte of its body (which must also
  average a bytes-per-second floor), retries and rate-limit waits; past it the call raises
  :class:`~prefect_defender.api.errors.DeadlineExceededError`. Bodies are read within a
  decoded size per kind of endpoint and JSON within a nesting depth
  (:mod:`~prefect_defender.api.body`).
* TLS verification is always on; ``ca_bundle`` adds trust anchors (proxy, emulator).

The package is the public face; its parts (``_transport``, ``_retry``, ``_send_gate``,
``_downloads``, ``_permission_hint``) are private.
"""

from __future__ import annotations

from prefect_defender.api.transport._downloads import json_or_none, save_link
from prefect_defender.api.transport._permission_hint import permission_error
from prefect_defender.api.transport._retry import (
    CallState,
    RetryPolicy,
    refresh_budget,
    retry_after_seconds,
    safe_to_repeat,
    tls_refused,
)
from prefect_defender.api.transport._send_gate import MAX_GATE_WAIT, DeadlineWait, Requeue, SendGate
from prefect_defender.api.transport._transport import Transport, TransportStats

__all__ = [
    "MAX_GATE_WAIT",
    "CallState",
    "DeadlineWait",
    "Requeue",
    "RetryPolicy",
    "SendGate",
    "Transport",
    "TransportStats",
    "json_or_none",
    "permission_error",
    "refresh_budget",
    "retry_after_seconds",
    "safe_to_repeat",
    "save_link",
    "tls_refused",
]
