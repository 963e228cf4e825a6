"""The one gate every writing request passes before it is sent.

Every Defender call goes through ``Transport.request``; for a catalog entry that writes
(:attr:`~prefect_defender.api.catalog.Endpoint.writes`: every method but GET, except the hunting
queries) the transport first awaits :func:`check_write`, once per call (not per retry). The
checks are installed by the layers above: the Prefect tasks install the safety rails (the kill
switch, the caps and the dry run of ``tasks.write_rails``) when they are imported, so every
playbook, task, agent tool and future playbook that writes in a Prefect process is held by them,
whichever task or resource method it calls. A plain Python program using only ``api`` has no
check installed and writes as asked.

A check refuses by raising a :class:`WriteRefusedError`; nothing is sent then.

Example:
    >>> from prefect_defender.api.catalog import endpoint
    >>> async def no_writes(ep, tenant_id):
    ...     raise WriteRefusedError(f"{ep.name}: not today", code="Demo")
    >>> install_write_check(no_writes)
    >>> import asyncio
    >>> try:
    ...     asyncio.run(check_write(endpoint("mde.actions.isolate"), "t"))
    ... except WriteRefusedError as exc:
    ...     print(exc.code)
    Demo
    >>> remove_write_check(no_writes)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prefect_defender.api.catalog import Endpoint
from prefect_defender.api.errors import DefenderError

__all__ = [
    "DryRunRefusedError",
    "WriteCapError",
    "WriteCheck",
    "WriteRefusedError",
    "check_write",
    "install_write_check",
    "remove_write_check",
]

#: ``await check(endpoint, tenant_id)``; raises :class:`WriteRefusedError` to refuse the write
WriteCheck = Callable[[Endpoint, str], Awaitable[None]]

_CHECKS: list[WriteCheck] = []


class WriteRefusedError(DefenderError):
    """The safety rails refused a write before it was sent (nothing reached the API)."""


class DryRunRefusedError(WriteRefusedError):
    """The run is a dry run: the write was not sent."""


class WriteCapError(WriteRefusedError):
    """A blast-radius cap (per run, or per tenant per hour) is reached: the write was not sent."""


def install_write_check(check: WriteCheck) -> None:
    """Run ``check`` before every write of this process (installing it twice is a no-op)."""
    if check not in _CHECKS:
        _CHECKS.append(check)


def remove_write_check(check: WriteCheck) -> None:
    """Stop running ``check`` (tests; the safety rails are never removed by the package)."""
    if check in _CHECKS:
        _CHECKS.remove(check)


async def check_write(ep: Endpoint, tenant_id: str) -> None:
    """Run every installed check for a write of ``ep`` in ``tenant_id``; the first refusal
    raises. A call to an endpoint that does not write passes at once."""
    if not ep.writes:
        return
    for check in list(_CHECKS):
        await check(ep, tenant_id)
