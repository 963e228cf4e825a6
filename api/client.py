"""``DefenderClient``: one tenant, one token provider, every Defender API area.

Usable from any Python program (no Prefect import); a block's ``get_client()`` builds one:

```python
from prefect_defender.api.client import DefenderClient


async def active(client: DefenderClient) -> list[int]:
    return [i.incident_id async for i in client.incidents.iterate(status="Active")]


async with creds.get_client() as client:
    print(await active(client))
```

Create one client per event loop (an ``httpx.AsyncClient`` belongs to the loop that first used
it); tokens and rate limiters are shared process-wide, so many clients cost nothing extra.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from prefect_defender.api.auth import TokenProvider
from prefect_defender.api.body import BodyLimits
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.clouds import CloudEndpoints, Surface
from prefect_defender.api.page_guard import PagingLimits
from prefect_defender.api.paging import iterate_next_link, iterate_skip
from prefect_defender.api.proxy import ProxyConfig
from prefect_defender.api.ratelimit import DEFAULT_LIMITS, Limit, scaled
from prefect_defender.api.resources.graph_incidents import GraphIncidentsAPI
from prefect_defender.api.resources.incidents import IncidentsAPI
from prefect_defender.api.resources.machines import MachinesAPI
from prefect_defender.api.transport import RetryPolicy, Transport

if TYPE_CHECKING:
    from prefect_defender.api.resources.alerts import AlertsAPI
    from prefect_defender.api.resources.enrichment import EntitiesAPI
    from prefect_defender.api.resources.graph_alerts import GraphAlertsAPI
    from prefect_defender.api.resources.graph_security import (
        AnalyzedEmailsAPI,
        DetectionRulesAPI,
    )
    from prefect_defender.api.resources.hunting import HuntingAPI
    from prefect_defender.api.resources.identities import (
        EntraUsersAPI,
        HealthIssuesAPI,
        IdentityAccountsAPI,
    )
    from prefect_defender.api.resources.identity_protection import (
        RiskDetectionsAPI,
        RiskyUsersAPI,
        SignInsAPI,
    )
    from prefect_defender.api.resources.indicators import IndicatorsAPI
    from prefect_defender.api.resources.investigations import InvestigationsAPI
    from prefect_defender.api.resources.live_response import LiveResponseAPI
    from prefect_defender.api.resources.machine_actions import MachineActionsAPI
    from prefect_defender.api.resources.vulnerabilities import VulnerabilitiesAPI
    from prefect_defender.api.resources.xdr_incidents import XdrIncidentsAPI

__all__ = ["ClientSettings", "DefenderClient"]


class ClientSettings(BaseModel):
    """Behaviour knobs of a client (the blocks expose the common ones)."""

    model_config = ConfigDict(frozen=True)

    ca_bundle: str | None = Field(default=None, description="Extra trusted CA (path or PEM).")
    proxy: ProxyConfig | None = Field(
        default=None, description="Explicit outbound proxy (environment variables are ignored)."
    )
    max_concurrency: int = Field(default=10, ge=1, le=100)
    timeout: float = Field(default=60.0, gt=0)
    deadline: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=50)
    rate_limits_enabled: bool = True
    rate_limits: dict[str, list[tuple[int, float]]] | None = Field(
        default=None, description="Overrides per family: {'mde': [[100, 60], [1500, 3600]]}."
    )
    rate_limit_time_scale: float = Field(
        default=1.0, gt=0, description="Divide every window (emulator tests only)."
    )
    http2: bool = False
    incident_surface: Literal["graph", "xdr"] = Field(
        default="graph",
        description="Where incidents are read and written: graph, or xdr (retiring 2027-02-01).",
    )
    hunting_surface: Literal["graph", "xdr", "mde"] = Field(
        default="graph",
        description="Where hunting queries run: graph, or xdr/mde (retiring 2027-02-01).",
    )
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)
    body_limits: BodyLimits = Field(
        default_factory=BodyLimits,
        description="Decoded size per kind of answer, bytes-per-second floor, JSON depth.",
    )
    paging_limits: PagingLimits = Field(
        default_factory=PagingLimits,
        description="Pages per listing and the time spent fetching them.",
    )

    def limits(self) -> dict[str, tuple[Limit, ...]]:
        """The effective per-family limits."""
        base: dict[str, tuple[Limit, ...]] = dict(DEFAULT_LIMITS)
        for fam, pairs in (self.rate_limits or {}).items():
            base[fam] = tuple(Limit(int(c), float(s)) for c, s in pairs)
        return scaled(base, self.rate_limit_time_scale) if self.rate_limit_time_scale != 1 else base

    def retry_policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            deadline=self.deadline,
            timeout=self.timeout,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
        )


class DefenderClient:
    """Async client for one tenant across Defender XDR, Defender for Endpoint and Graph."""

    def __init__(
        self,
        endpoints: CloudEndpoints,
        provider: TokenProvider,
        settings: ClientSettings | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.settings = settings or ClientSettings()
        self.transport = Transport(
            endpoints=endpoints,
            provider=provider,
            ca_bundle=self.settings.ca_bundle,
            retry=self.settings.retry_policy(),
            rate_limits=self.settings.limits(),
            rate_limits_enabled=self.settings.rate_limits_enabled,
            max_concurrency=self.settings.max_concurrency,
            http2=self.settings.http2,
            proxy=self.settings.proxy,
            body_limits=self.settings.body_limits,
            paging_limits=self.settings.paging_limits,
        )

    @property
    def tenant_id(self) -> str:
        """The tenant this client acts in."""
        return self.transport.tenant_id

    @property
    def portal_url(self) -> str:
        """The Defender portal of this cloud (for links in reports)."""
        return self.endpoints.portal_url

    def portal_link(self, kind: str, ident: str | int) -> str:
        """A Defender portal link to an incident, alert, machine or user (by Entra object id),
        for this tenant."""
        paths = {
            "incident": f"/incidents/{ident}/overview",
            "alert": f"/alerts/{ident}",
            "machine": f"/machines/{ident}/overview",
            "action_center": "/action-center/history",
            # the user page takes the Entra object id as ``aad`` (the portal's own user links)
            "user": f"/user/?aad={quote(str(ident), safe='')}&",
        }
        path = paths[kind]
        joiner = "" if path.endswith("&") else "?"
        return f"{self.portal_url}{path}{joiner}tid={self.tenant_id}"

    async def __aenter__(self) -> DefenderClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (tokens stay cached for the process)."""
        await self.transport.aclose()

    # -- low level -----------------------------------------------------------------------------
    async def call(
        self,
        name: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Call the catalog endpoint ``name`` and return its decoded JSON body."""
        return await self.transport.request_json(
            endpoint(name),
            path_params=path_params,
            params=params,
            json=json,
            idempotent=idempotent,
        )

    def paginate(
        self,
        name: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = 10_000,
        limit: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Iterate a catalog collection: ``$top``/``$skip`` on MDE/XDR, nextLink on Graph."""
        ep = endpoint(name)
        if ep.surface is Surface.GRAPH:
            return iterate_next_link(
                self.transport, ep, path_params=path_params, params=params, limit=limit
            )
        return iterate_skip(
            self.transport,
            ep,
            page_size=page_size,
            path_params=path_params,
            params=params,
            limit=limit,
        )

    async def download(self, url: str, dest: str | Path) -> int:
        """Fetch a download link (SAS URL) to ``dest`` without sending the bearer token."""
        return await self.transport.download(url, Path(dest))

    # -- areas ---------------------------------------------------------------------------------
    @cached_property
    def incidents(self) -> IncidentsAPI:
        """Incidents as :class:`~prefect_defender.api.models.incidents.Incident`, on Graph (or
        on XDR when asked: ``surface="xdr"`` or ``settings.incident_surface``)."""
        return IncidentsAPI(self)

    @cached_property
    def xdr_incidents(self) -> XdrIncidentsAPI:
        """Defender XDR incidents (retiring 1 February 2027; warns once per process)."""
        from prefect_defender.api.resources.xdr_incidents import XdrIncidentsAPI

        return XdrIncidentsAPI(self)

    @cached_property
    def graph_incidents(self) -> GraphIncidentsAPI:
        """Graph security incidents."""
        return GraphIncidentsAPI(self)

    @cached_property
    def machines(self) -> MachinesAPI:
        """Defender for Endpoint machines."""
        return MachinesAPI(self)

    # Each API area adds its accessor(s) below, replacing its own marker line.
    @cached_property
    def alerts(self) -> AlertsAPI:
        """Defender for Endpoint alerts."""
        from prefect_defender.api.resources.alerts import AlertsAPI

        return AlertsAPI(self)

    @cached_property
    def graph_alerts(self) -> GraphAlertsAPI:
        """Graph security alerts (``alerts_v2``)."""
        from prefect_defender.api.resources.graph_alerts import GraphAlertsAPI

        return GraphAlertsAPI(self)

    @cached_property
    def hunting(self) -> HuntingAPI:
        """Advanced hunting (Graph, XDR or MDE)."""
        from prefect_defender.api.resources.hunting import HuntingAPI

        return HuntingAPI(self)

    @cached_property
    def machine_actions(self) -> MachineActionsAPI:
        """Machine actions: isolate, scan, restrict, collect, quarantine, offboard."""
        from prefect_defender.api.resources.machine_actions import MachineActionsAPI

        return MachineActionsAPI(self)

    @cached_property
    def live_response(self) -> LiveResponseAPI:
        """Live response sessions and the library."""
        from prefect_defender.api.resources.live_response import LiveResponseAPI

        return LiveResponseAPI(self)

    @cached_property
    def indicators(self) -> IndicatorsAPI:
        """Custom indicators (files, IPs, domains, URLs, certificates)."""
        from prefect_defender.api.resources.indicators import IndicatorsAPI

        return IndicatorsAPI(self)

    @cached_property
    def entities(self) -> EntitiesAPI:
        """Files, IPs, domains and users: statistics and related data."""
        from prefect_defender.api.resources.enrichment import EntitiesAPI

        return EntitiesAPI(self)

    @cached_property
    def investigations(self) -> InvestigationsAPI:
        """Automated investigations."""
        from prefect_defender.api.resources.investigations import InvestigationsAPI

        return InvestigationsAPI(self)

    @cached_property
    def vulnerabilities(self) -> VulnerabilitiesAPI:
        """Threat and vulnerability management."""
        from prefect_defender.api.resources.vulnerabilities import VulnerabilitiesAPI

        return VulnerabilitiesAPI(self)

    @cached_property
    def identity_accounts(self) -> IdentityAccountsAPI:
        """Defender XDR identity accounts and their response actions (Graph)."""
        from prefect_defender.api.resources.identities import IdentityAccountsAPI

        return IdentityAccountsAPI(self)

    @cached_property
    def users(self) -> EntraUsersAPI:
        """Entra ID users: read, disable/enable, revoke sign-in sessions (Graph)."""
        from prefect_defender.api.resources.identities import EntraUsersAPI

        return EntraUsersAPI(self)

    @cached_property
    def risky_users(self) -> RiskyUsersAPI:
        """Identity Protection risky users (Graph)."""
        from prefect_defender.api.resources.identity_protection import RiskyUsersAPI

        return RiskyUsersAPI(self)

    @cached_property
    def sign_ins(self) -> SignInsAPI:
        """Entra ID sign-in logs (Graph)."""
        from prefect_defender.api.resources.identity_protection import SignInsAPI

        return SignInsAPI(self)

    @cached_property
    def risk_detections(self) -> RiskDetectionsAPI:
        """Identity Protection risk detections (Graph)."""
        from prefect_defender.api.resources.identity_protection import RiskDetectionsAPI

        return RiskDetectionsAPI(self)

    @cached_property
    def identity_health_issues(self) -> HealthIssuesAPI:
        """Defender for Identity health issues (Graph)."""
        from prefect_defender.api.resources.identities import HealthIssuesAPI

        return HealthIssuesAPI(self)

    @cached_property
    def detection_rules(self) -> DetectionRulesAPI:
        """Custom detection rules (Graph **beta**: Microsoft does not support it in production)."""
        from prefect_defender.api.resources.graph_security import DetectionRulesAPI

        return DetectionRulesAPI(self)

    @cached_property
    def analyzed_emails(self) -> AnalyzedEmailsAPI:
        """Email remediation (Graph **beta**, application only; unsupported in production)."""
        from prefect_defender.api.resources.graph_security import AnalyzedEmailsAPI

        return AnalyzedEmailsAPI(self)
