"""Sending a notification to Prefect notification blocks, never failing and never leaking.

:func:`notify_outcome` sends one :class:`~prefect_defender.flows.notify.OutcomeMessage`
to every named block concurrently and reports each :class:`Delivery`; an error text has every
secret of its block replaced (:func:`scrub`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.core import Block
from pydantic import SecretStr

from prefect_defender.flows.notify._message import NotifyOn, OutcomeMessage

__all__ = [
    "SEND_TIMEOUT",
    "Delivery",
    "Message",
    "notify_outcome",
    "scrub",
]

#: seconds one notification block may take before it counts as failed
SEND_TIMEOUT = 30.0


class Message(Protocol):
    """What can be sent: an outcome message, an approval notice."""

    def render(self) -> tuple[str, str]:
        """The subject and the plain-text body."""
        ...

    def wanted(self, notify_on: str) -> bool:
        """Whether ``notify_on`` asks for this message."""
        ...


@dataclass
class Delivery:
    """The result of sending to one notification block."""

    target: str
    delivered: bool
    error: str | None = None


def _secret_values(block: Any) -> list[str]:
    """Every secret string of a block, and the parts of secret URLs an error message may quote."""
    raw: list[str] = []
    for name in type(block).model_fields:
        value: Any = getattr(block, name, None)
        if name.endswith("url") and isinstance(value, str):
            raw.append(value)  # a plain URL field may still carry a token
        elif isinstance(value, SecretStr):
            raw.append(value.get_secret_value())
        elif hasattr(value, "get_secret_value"):
            inner = value.get_secret_value()
            if isinstance(inner, dict):
                raw += [str(v) for v in inner.values()]
            elif isinstance(inner, str):
                raw.append(inner)
    out: set[str] = set()
    for s in raw:
        out.add(s)
        parts = urlsplit(s)
        if parts.scheme and parts.netloc:
            out.update(p for p in (parts.path, parts.query) if len(p) > 1)
            out.update(p for p in (parts.password, parts.username) if p)
            pieces = parts.path.split("/") + [v for _, v in parse_qsl(parts.query)]
            out.update(p for p in pieces if _token_like(p))
    return sorted((s for s in out if len(s) >= 4), key=len, reverse=True)


def _token_like(text: str) -> bool:
    """A URL piece that may be a credential: long, and not a plain lowercase word."""
    return len(text) >= 8 and not (text.isalpha() and text.islower())


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``***``.

    Example:
        ```python
        scrub("POST https://hooks.example/T0/SECRET failed", ["SECRET"])
        # 'POST https://hooks.example/T0/*** failed'
        ```
    """
    for s in secrets:
        text = text.replace(s, "***")
    return text


async def _load(ref: str | NotificationBlock) -> NotificationBlock:
    if isinstance(ref, NotificationBlock):
        return ref
    if not isinstance(ref, str) or "/" not in ref:
        raise ValueError(
            f"expected '<block-type-slug>/<block-name>', e.g. 'slack-webhook/soc', got {ref!r}"
        )
    block: Any = await Block.aload(ref)
    if not isinstance(block, NotificationBlock):
        raise ValueError(f"{ref!r} is not a notification block")
    return block


async def _send_one(
    ref: str | NotificationBlock, subject: str, body: str, timeout: float
) -> Delivery:
    label = ref if isinstance(ref, str) else type(ref).__name__
    secrets: list[str] = []
    try:
        block = await _load(ref)
        secrets = _secret_values(block)
        with block.raise_on_failure():
            send = getattr(block, "anotify", None) or block.notify
            result = send(body, subject)
            if asyncio.iscoroutine(result):
                await asyncio.wait_for(result, timeout)
        return Delivery(label, True)
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        if isinstance(exc, TimeoutError):
            text = f"no answer within {timeout:g} s"
        return Delivery(label, False, scrub(f"{type(exc).__name__}: {text}", secrets))


async def notify_outcome(
    targets: Sequence[str | NotificationBlock],
    message: OutcomeMessage | Message,
    notify_on: NotifyOn | str = "always",
    timeout: float = SEND_TIMEOUT,
) -> list[Delivery]:
    """Send ``message`` to every notification block in ``targets``; never raises.

    ``targets`` are ``<block-type-slug>/<name>`` references of saved blocks (or block
    instances). Blocks are sent to concurrently; each delivery is reported, and an error text
    never contains the block's secrets. Nothing is sent when ``notify_on`` does not ask for
    this message.

    Example:
        ```python
        # needs a Slack workspace
        from prefect_defender.flows.notify import OutcomeMessage, notify_outcome

        msg = OutcomeMessage(playbook="defender-block-indicators", counts={"succeeded": 3})
        deliveries = await notify_outcome(["slack-webhook/soc"], msg, notify_on="action")
        assert all(d.delivered for d in deliveries)
        ```
    """
    if not targets or not message.wanted(notify_on):
        return []
    subject, body = message.render()
    return list(await asyncio.gather(*(_send_one(t, subject, body, timeout) for t in targets)))
