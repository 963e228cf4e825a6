"""Base class of the per-area API objects hung off the client
(:class:`~prefect_defender.api.client.DefenderClient`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_defender.api.client import DefenderClient
    from prefect_defender.api.transport import Transport

__all__ = ["Resource"]


class Resource:
    """One Defender API area bound to a client (tenant, token, limits)."""

    def __init__(self, client: DefenderClient) -> None:
        self.client = client

    @property
    def transport(self) -> Transport:
        """The client's transport."""
        return self.client.transport
