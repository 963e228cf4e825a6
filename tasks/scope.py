"""One playbook run's tenant: the credentials block, the tenant acted in, and one client.

A playbook opens a :class:`TenantScope` once and hands ``scope.client`` to every task it calls,
so the run checks its tenant id once, names it one way (``scope.tenant_id``: the partner
customer asked for, ``None`` for the block's own tenant; ``scope.tenant``: the tenant acted in)
and uses one connection pool. A playbook that acts in every tenant of a block (the poller, the
Sigma hunt, block-indicators, the MSSP fan-out) opens :class:`TenantScopes`: one scope per
tenant, so a run builds exactly one client per tenant. The loading and tenant helpers the
playbooks share live here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prefect.blocks.core import Block

from prefect_defender.api.client import DefenderClient
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.validation import CheckedGuid, check_guid
from prefect_defender.blocks import (
    CREDENTIAL_BLOCKS,
    DefenderCredentials,
    DefenderPartnerCredentials,
)

__all__ = [
    "Credentials",
    "TenantScope",
    "TenantScopes",
    "load_credentials",
    "own_tenant",
    "tenant_label",
    "tenants_of",
]

#: any credential block a playbook takes (``blocks.CREDENTIAL_BLOCKS``)
Credentials = DefenderCredentials


async def load_credentials(ref: str | Credentials) -> Credentials:
    """A credentials block from its ``<block-type-slug>/<name>`` reference (or the block itself).

    Playbook parameters name the block as a string so that deployments and event triggers can
    template it, e.g. ``defender-application-credentials/soc``.

    Example:
        ```python
        creds = await load_credentials("defender-application-credentials/soc")
        ```
    """
    if isinstance(ref, CREDENTIAL_BLOCKS):
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
    if not isinstance(block, CREDENTIAL_BLOCKS):
        raise ValidationError(
            f"credentials: {ref!r} is not a Defender credentials block", field="credentials"
        )
    return block


def tenants_of(creds: Credentials, only: Sequence[str] | None = None) -> list[str | None]:
    """The tenants a playbook acts in: every partner tenant (or ``only``), else the block's own.

    ``None`` stands for "the block's own tenant".
    """
    if isinstance(creds, DefenderPartnerCredentials):
        ids = creds.tenant_ids()
        if only:
            wanted = [str(check_guid(t, "tenant_ids")) for t in only]
            unknown = [t for t in wanted if t not in ids]
            if unknown:
                raise ValueError(f"tenant_ids: not in the partner block: {', '.join(unknown)}")
            return list(wanted)
        return list(ids)
    return [None]


def tenant_label(creds: Credentials, tenant_id: str | None) -> str:
    """A readable tenant name for reports: a partner's customer by its display name, a
    one-tenant block by its ``tenant_name``; the tenant id when the block names none."""
    if isinstance(creds, DefenderPartnerCredentials) and tenant_id:
        return creds.display_name(tenant_id)
    return str(getattr(creds, "tenant_name", "") or getattr(creds, "tenant_id", tenant_id) or "")


def own_tenant(creds: Credentials, tenant_id: str | None) -> str:
    """The concrete tenant id behind ``tenant_id`` (``None`` = the block's own)."""
    return tenant_id or str(getattr(creds, "tenant_id", ""))


def _checked_tenant(tenant_id: str | None) -> str | None:
    """``tenant_id`` checked, in canonical form, as a ``CheckedGuid`` that no later check parses
    again (one carried as such from a playbook's entry is only lower-cased)."""
    if tenant_id is None:
        return None
    checked = check_guid(tenant_id, "tenant_id")
    return checked if type(checked) is CheckedGuid else CheckedGuid(checked)


class TenantScope:
    """The tenant of one playbook run and the one client its tasks share.

    ``tenant_id`` is what the run was asked for (a partner's customer, or ``None`` for the
    block's own tenant), checked once here, or on the playbook's entry (a ``TenantId``
    parameter, carried as checked to the client); ``tenant`` is the tenant acted in. Both are
    plain text in canonical form (for reports, keys and Prefect variables). The client is
    built on first use and closed with the scope.

    Example:
        ```python
        from prefect_defender.tasks.incidents import get_incident

        async with await TenantScope.load("defender-application-credentials/soc") as scope:
            incident = await get_incident(scope.client, 1001)
            print(scope.tenant, scope.link("incident", 1001))
        ```
    """

    def __init__(self, credentials: Credentials, tenant_id: str | None = None) -> None:
        self.credentials = credentials
        #: checked here or on the playbook's entry, carried to the client as checked
        self._checked = _checked_tenant(tenant_id)
        self.tenant_id = str(self._checked) if self._checked is not None else None
        self.tenant = own_tenant(credentials, self.tenant_id)
        self._client: DefenderClient | None = None

    @classmethod
    async def load(cls, ref: str | Credentials, tenant_id: str | None = None) -> TenantScope:
        """The scope of a saved block (``<block-type-slug>/<name>``) in ``tenant_id``, checked
        before the block is loaded."""
        checked = _checked_tenant(tenant_id)
        return cls(await load_credentials(ref), checked)

    @property
    def label(self) -> str:
        """A readable tenant name for reports."""
        return tenant_label(self.credentials, self.tenant_id)

    @property
    def client(self) -> DefenderClient:
        """The run's client (one connection pool and token provider), built on first use."""
        if self._client is None:
            try:
                self._client = self.credentials.get_client(self._checked)
            except ValidationError:
                raise
            except ValueError as exc:  # the block's own tenant checks
                raise ValidationError(f"tenant_id: {exc}", field="tenant_id") from None
        return self._client

    def link(self, kind: str, ident: str | int) -> str:
        """A Defender portal link (incident, alert, machine) in this tenant."""
        return self.client.portal_link(kind, ident)

    async def aclose(self) -> None:
        """Close the client, if one was built."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> TenantScope:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"TenantScope(tenant={self.tenant!r}, customer={self.tenant_id is not None})"


class TenantScopes:
    """The tenants of one multi-tenant playbook run, one :class:`TenantScope` (one client) each.

    ``TenantScopes.load`` opens a scope for every tenant the block acts in: every customer of a
    partner block (or ``only``), else the block's own tenant. :meth:`scope_for` finds the scope
    acting in a tenant, opening (and keeping) one more if the run needs a tenant it does not
    act in, so every task of the run on that tenant shares one client. All clients close with
    the scopes.

    Example:
        ```python
        from prefect_defender.tasks.incidents import list_incidents

        async with await TenantScopes.load("defender-partner-credentials/mssp") as scopes:
            for scope in scopes:
                print(scope.label, await list_incidents(scope.client, limit=5))
        ```
    """

    def __init__(self, credentials: Credentials, tenant_ids: Sequence[str | None]) -> None:
        self.credentials = credentials
        self._scopes = [TenantScope(credentials, t) for t in tenant_ids]
        self._extra: list[TenantScope] = []

    @classmethod
    async def load(cls, ref: str | Credentials, only: Sequence[str] | None = None) -> TenantScopes:
        """Scopes for every tenant of a saved block (``<block-type-slug>/<name>``), or ``only``."""
        creds = await load_credentials(ref)
        return cls(creds, tenants_of(creds, only))

    def __iter__(self) -> Iterator[TenantScope]:
        return iter(self._scopes)

    def __len__(self) -> int:
        return len(self._scopes)

    def scope_for(self, tenant_id: str | None) -> TenantScope:
        """The run's scope acting in ``tenant_id`` (``None``: the block's own tenant).

        For a block acting in one tenant, its tenant id and ``None`` name the same scope.
        """
        tenant_id = _checked_tenant(tenant_id)
        partner = isinstance(self.credentials, DefenderPartnerCredentials)
        for scope in (*self._scopes, *self._extra):
            if scope.tenant_id == tenant_id or (
                not partner
                and scope.tenant.lower() == own_tenant(self.credentials, tenant_id).lower()
            ):
                return scope
        scope = TenantScope(self.credentials, tenant_id)
        self._extra.append(scope)
        return scope

    async def aclose(self) -> None:
        """Close every client the scopes built."""
        for scope in (*self._scopes, *self._extra):
            await scope.aclose()

    async def __aenter__(self) -> TenantScopes:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"TenantScopes({[s.tenant for s in self._scopes]!r})"
