"""Helpers shared by the playbooks: loading credentials, iterating tenants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prefect.blocks.core import Block

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.validation import check_guid, check_machine_id
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderPartnerCredentials,
    DefenderUserCredentials,
)

__all__ = ["load_credentials", "tenants_of"]

Credentials = DefenderApplicationCredentials | DefenderUserCredentials | DefenderPartnerCredentials


async def load_credentials(ref: str | Credentials) -> Credentials:
    """A credentials block from its ``<block-type-slug>/<name>`` reference (or the block itself).

    Playbook parameters name the block as a string so that deployments and event triggers can
    template it, e.g. ``defender-application-credentials/soc``.
    """
    if isinstance(
        ref, DefenderApplicationCredentials | DefenderUserCredentials | DefenderPartnerCredentials
    ):
        return ref
    if not isinstance(ref, str) or "/" not in ref or any(c < " " for c in ref) or len(ref) > 300:
        raise ValidationError(
            f"credentials: expected '<block-type-slug>/<block-name>', e.g. "
            f"'defender-application-credentials/soc', got {str(ref)[:80]!r}",
            field="credentials",
        )
    try:
        block: Any = await Block.aload(ref)
    except ValueError as exc:  # Prefect: no such block document / block type
        raise ValidationError(
            f"credentials: no saved block {ref!r} ({str(exc).splitlines()[0][:160]})",
            field="credentials",
        ) from None
    if not isinstance(
        block, DefenderApplicationCredentials | DefenderUserCredentials | DefenderPartnerCredentials
    ):
        raise ValidationError(
            f"credentials: {ref!r} is not a Defender credentials block", field="credentials"
        )
    return block


def check_machine_ids(values: Iterable[Any] | None, field: str = "machine_ids") -> list[str]:
    """Every id of a machine list checked before anything is requested (lower-cased)."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"{field}: expected a list of machine ids", field=field)
    out = []
    for i, value in enumerate(values):
        out.append(check_machine_id(value, f"{field}[{i}]").lower())
    return out


def tenants_of(creds: Credentials, only: Sequence[str] | None = None) -> list[str | None]:
    """The tenants a playbook acts in: every partner tenant (or ``only``), else the block's own.

    ``None`` stands for "the block's own tenant".
    """
    if isinstance(creds, DefenderPartnerCredentials):
        ids = creds.tenant_ids()
        if only:
            wanted = [check_guid(t, "tenant_ids") for t in only]
            unknown = [t for t in wanted if t not in ids]
            if unknown:
                raise ValueError(f"tenant_ids: not in the partner block: {', '.join(unknown)}")
            return list(wanted)
        return list(ids)
    return [None]


def tenant_label(creds: Credentials, tenant_id: str | None) -> str:
    """A readable tenant name for reports."""
    if isinstance(creds, DefenderPartnerCredentials) and tenant_id:
        return creds.display_name(tenant_id)
    return str(getattr(creds, "tenant_id", tenant_id) or "")


def own_tenant(creds: Credentials, tenant_id: str | None) -> str:
    """The concrete tenant id behind ``tenant_id`` (``None`` = the block's own)."""
    return tenant_id or str(getattr(creds, "tenant_id", ""))
