"""The emulator's in-memory world: tenants, apps, users, per-tenant data, knobs and counters.

One :class:`EmulatorState` per server, guarded by one re-entrant lock. Route modules keep their
data in ``tenant.data[<collection>]`` (dicts keyed by id) so the admin API can dump any of it.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect_defender.emulator.permissions import DELEGATED_SCOPES
from prefect_defender.emulator.retirement import SURFACES, retired_surfaces

__all__ = ["App", "EmulatorState", "Tenant", "User", "tenant_guid"]

DEFAULT_CONFIG: dict[str, Any] = {
    "time_scale": 1.0,
    "rate_limits_enabled": True,
    "token_lifetime_seconds": 3599,
    "refresh_token_lifetime_seconds": 90 * 86400,
    "device_code_pending_polls": 1,
    "device_code_interval": 1,
    "seed": 1,
    "machines_per_tenant": 60,
    "incidents_per_tenant": 40,
    "graph_incidents_per_tenant": None,
    #: names of the tenants that get them (all customer tenants when unset)
    "graph_incidents_tenants": None,
    "next_link_host": None,
    #: surfaces answering as retired APIs (emulator.retirement): ``["xdr"]``, ``["mde", "xdr"]``
    "retired_surfaces": [],
    #: how identity accounts are answered: ``"resource"`` (the resource pages' shape:
    #: ``identityProvider`` in camel case, the derived security.user's UPN and e-mail, get
    #: unwrapped) or ``"example"`` (the list and get pages' examples: ``provider`` spelled
    #: ``ActiveDirectory``/``EntraID``/``Okta``, no UPN or e-mail, get wrapped in ``value``)
    "identity_shape": "resource",
    #: users (by name, e.g. ``["ckent"]``) with an Entra ID account but no identity account in
    #: Defender's inventory (no sensor or connector observes them): identity actions on them
    #: can only take Entra ID's own route
    "unobserved_identities": [],
    "faults": {
        "rate_429": 0.0,
        "rate_429_no_retry_after": 0.0,
        "rate_500": 0.0,
        "rate_502": 0.0,
        "rate_503": 0.0,
        "reset_before": 0.0,
        "reset_after": 0.0,
        "slow": 0.0,
        "slow_seconds": 30.0,
        "routes": None,
    },
    "apps": {},
}

#: each family's quota as its page writes it (the emulator's own reading of the pages; the
#: Defender for Endpoint pages are https://learn.microsoft.com/defender-endpoint/api/<name>,
#: "Rate limitations for this API are ...")
_PAGE_QUOTAS: dict[str, str] = {
    # isolate-machine and every other per-API page of Defender for Endpoint
    "mde": "100 calls per minute and 1,500 calls per hour",
    # https://learn.microsoft.com/defender-xdr/api-list-incidents ("Maximum rate of requests")
    "xdr_incidents": "50 calls per minute and 1500 calls per hour",
    # run-advanced-query-api ("The number of executions is limited per tenant")
    "hunting": "Up to 45 calls per minute, and up to 1,500 calls per hour",
    "live_response": "10 calls per minute",  # run-live-response
    "package_uri": "2 calls per minute and 120 calls per hour",  # get-package-sas-uri
    "alerts_batch": "10 calls per minute and 500 calls per hour",  # batch-update-alerts
    "create_alert": "15 calls per minute",  # create-alert-by-reference
    "indicators_import": "30 calls per minute",  # import-ti-indicators
    # batch-delete-ti-indicators
    "indicators_batch_delete": "30 calls per minute and 1,500 calls per hour",
    "investigation_start": "50 calls per hour",  # initiate-autoir-investigation
    # get-discovered-vulnerabilities (GET /api/machines/{id}/vulnerabilities)
    "machine_vulnerabilities": "50 calls per minute and 1500 calls per hour",
    # https://learn.microsoft.com/graph/throttling-limits, "Security detections and incidents
    # service limits": any request on /security, per app per tenant
    "graph_security": "150 requests per minute",
}
_QUOTA = re.compile(r"([\d,]+) (?:calls|requests) per (minute|hour)")


def page_quota(sentence: str) -> tuple[tuple[int, float], ...]:
    """``(calls, window seconds)`` pairs of a page's rate sentence
    (``"10 calls per minute and 500 calls per hour"`` -> ``((10, 60.0), (500, 3600.0))``)."""
    windows = {"minute": 60.0, "hour": 3600.0}
    return tuple(
        (int(calls.replace(",", "")), windows[unit]) for calls, unit in _QUOTA.findall(sentence)
    )


#: documented quotas per family: (calls, window seconds)
RATE_LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    family: page_quota(sentence) for family, sentence in _PAGE_QUOTAS.items()
}


def tenant_guid(name: str) -> str:
    """The fixed GUID of a seeded tenant or app."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.prefect-defender.emulator"))


@dataclass
class Tenant:
    """A directory with its Defender data.

    A customer tenant's data is made on first use (:attr:`data`, :attr:`counters`) by its
    ``loader``, so an emulator with 1,000 partner tenants starts at once and only pays for the
    tenants a run touches.
    """

    tenant_id: str
    name: str
    display_name: str
    domain: str
    loader: Callable[[Tenant], None] | None = field(default=None, repr=False, compare=False)
    _data: dict[str, dict[Any, Any]] = field(
        default_factory=lambda: defaultdict(dict), repr=False, compare=False
    )
    _counters: Counter[str] = field(default_factory=Counter, repr=False, compare=False)
    load_lock: Any = field(default_factory=threading.RLock, repr=False, compare=False)
    _loading: bool = field(default=False, repr=False, compare=False)

    @property
    def loaded(self) -> bool:
        """Whether the tenant's data exists yet (reading :attr:`data` makes it)."""
        return self.loader is None

    def _load(self) -> None:
        # the loading thread itself reads data while filling it (re-entrant, sees it partly
        # filled); any other thread waits for the lock until it is complete
        with self.load_lock:
            loader = self.loader
            if loader is not None and not self._loading:
                self._loading = True
                try:
                    loader(self)
                    self.loader = None
                finally:
                    self._loading = False

    @property
    def data(self) -> dict[str, dict[Any, Any]]:
        """The tenant's collections (``machines``, ``incidents``...), keyed by id."""
        if self.loader is not None:
            self._load()
        return self._data

    @property
    def counters(self) -> Counter[str]:
        """The last id handed out per kind (see :meth:`next_id`)."""
        if self.loader is not None:
            self._load()
        return self._counters

    def next_id(self, kind: str, start: int = 1) -> int:
        """A monotonically increasing integer id of ``kind``."""
        counters = self.counters
        if kind not in counters:
            counters[kind] = start - 1
        counters[kind] += 1
        return counters[kind]


@dataclass
class App:
    """An app registration."""

    name: str
    client_id: str
    home_tenant: str
    kind: str  # confidential | public
    client_secret: str | None = None
    cert_sha1: str | None = None
    cert_sha256: str | None = None
    certificate: Any = None
    roles: dict[str, list[str]] = field(default_factory=dict)
    consented_tenants: set[str] = field(default_factory=set)
    cert_paths: dict[str, str] = field(default_factory=dict)


@dataclass
class User:
    """A user of a tenant (delegated sign-in)."""

    username: str
    password: str
    tenant_id: str
    oid: str
    display_name: str
    scopes: dict[str, list[str]] = field(default_factory=lambda: copy.deepcopy(DELEGATED_SCOPES))
    revoked_before: float = 0.0
    disabled: bool = False  # accountEnabled false: every sign-in fails with AADSTS50057


class SlidingWindow:
    """Counts admissions per key; refuses when a window is full (returns seconds to wait)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, ...], deque[float]] = defaultdict(deque)

    def admit(
        self, key: tuple[str, ...], limits: tuple[tuple[int, float], ...], now: float
    ) -> tuple[float, int, float] | None:
        """``None`` if admitted (and recorded), else ``(retry_after, calls, window)``."""
        hits = self._hits[key]
        longest = max(w for _, w in limits)
        while hits and hits[0] <= now - longest:
            hits.popleft()
        for calls, window in limits:
            if len(hits) < calls:
                continue
            # the calls-th most recent hit must have left the window
            edge = hits[-calls]
            if edge > now - window:
                return (edge + window - now, calls, window)
        hits.append(now)
        return None

    def clear(self) -> None:
        """Forget every admission."""
        self._hits.clear()


class EmulatorState:
    """Everything the emulator knows, plus knobs and counters."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.lock = threading.RLock()
        self.limiter = SlidingWindow()
        self.config: dict[str, Any] = copy.deepcopy(DEFAULT_CONFIG)
        if config:
            self.patch_config(config)
        self.tenants: dict[str, Tenant] = {}
        self.apps: dict[str, App] = {}
        self.users: dict[str, User] = {}
        self.stats: Counter[tuple[str, ...]] = Counter()
        #: API requests per surface (graph, mde, xdr) and Entra ID requests (entra)
        self.surface_stats: Counter[str] = Counter({name: 0 for name in SURFACES})
        self.token_stats: Counter[tuple[str, ...]] = Counter()
        self.download_stats: Counter[tuple[str, bool]] = Counter()
        #: Entra discovery documents served: (kind, tenant or user realm) -> count.
        self.discovery_stats: Counter[tuple[str, str]] = Counter()
        self.downloads: dict[str, bytes] = {}
        self.throttled = 0
        self.tokens_revoked_before = 0.0
        self.started_at = time.time()
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.server_state: Any = None  # uvicorn ServerState, for connection resets
        self.base_hosts: set[str] = set()
        self.signing_key: Any = None
        self.kid = "emulator-key-1"
        self.verified_tokens: dict[str, dict[str, Any]] = {}
        self.on_tick: list[Callable[[], None]] = []
        #: what route modules keep for the whole emulator (the hunting store)
        self.extensions: dict[str, Any] = {}

    # -- config --------------------------------------------------------------------------
    def patch_config(self, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge ``patch`` into the knobs (``faults`` merged key by key; ``profile`` expanded)."""
        from prefect_defender.emulator.profiles import apply_profile

        patch = apply_profile(dict(patch))
        if "retired_surfaces" in patch:
            patch["retired_surfaces"] = retired_surfaces(patch["retired_surfaces"])
        with self.lock:
            for k, v in patch.items():
                if k == "faults" and isinstance(v, dict):
                    self.config["faults"].update(v)
                elif k == "apps" and isinstance(v, dict):
                    self.config["apps"].update(v)
                else:
                    self.config[k] = v
            if "rate_limits_enabled" in patch or "time_scale" in patch:
                self.limiter.clear()
            return copy.deepcopy(self.config)

    @property
    def time_scale(self) -> float:
        """How many times faster than real time the emulator's windows and clocks run."""
        return float(self.config.get("time_scale") or 1.0)

    def token_cutoff(self) -> float:
        """Tokens issued before this time are rejected: admin revocation, or the
        ``token_expiry_every_seconds`` knob (documented seconds, divided by ``time_scale``) that
        expires every token at each period boundary, like tokens running out mid-run."""
        cutoff = self.tokens_revoked_before
        every = float(self.config.get("token_expiry_every_seconds") or 0)
        if every > 0:
            period = max(1.0, self.scaled(every))
            now = time.time()
            boundary = now - ((now - self.started_at) % period)
            # iat has whole seconds, and a real token is never expired in its first moments:
            # tokens issued within a second before the boundary stay valid until the next one
            cutoff = max(cutoff, float(int(boundary) - 1))
        return cutoff

    def scaled(self, seconds: float) -> float:
        """``seconds`` of documented time, in real seconds under ``time_scale``."""
        return seconds / self.time_scale

    @staticmethod
    def now() -> float:
        """Wall-clock seconds."""
        return time.time()

    # -- lookups -------------------------------------------------------------------------
    def tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant with this id (case-insensitive), if any."""
        return self.tenants.get(tenant_id.lower())

    def app_by_client_id(self, client_id: str) -> App | None:
        """The app registration with this client id."""
        for app in self.apps.values():
            if app.client_id == client_id:
                return app
        return None

    # -- counters ------------------------------------------------------------------------
    def is_retired(self, surface: str) -> bool:
        """Whether ``surface`` answers as a retired API (the ``retired_surfaces`` knob)."""
        return surface in self.config.get("retired_surfaces", ())

    def count_request(
        self,
        method: str,
        route: str,
        status: int,
        tenant: str,
        app: str,
        family: str,
        surface: str = "",
    ) -> None:
        """Record one API request (and one for its ``surface``)."""
        with self.lock:
            self.stats[(method, route, str(status), tenant, app, family)] += 1
            if surface:
                self.surface_stats[surface] += 1
            if status == 429:
                self.throttled += 1

    def count_surface(self, surface: str) -> None:
        """Record one request to ``surface`` outside the guarded API (Entra ID's endpoints)."""
        with self.lock:
            self.surface_stats[surface] += 1

    def count_token(self, tenant: str, audience: str, grant: str, client_id: str) -> None:
        """Record one token issued."""
        with self.lock:
            self.token_stats[(tenant, audience, grant, client_id)] += 1

    def count_discovery(self, kind: str, subject: str) -> None:
        """Record one discovery document served (OpenID metadata, keys, instance, realm)."""
        with self.lock:
            self.discovery_stats[(kind, subject)] += 1

    def stats_dict(self) -> dict[str, Any]:
        """The counters as JSON."""
        with self.lock:
            return {
                "requests": [
                    {
                        "method": m,
                        "route": f"{m} {r}",
                        "path": r,
                        "status": int(s),
                        "tenant": t,
                        "app": a,
                        "family": f,
                        "count": c,
                    }
                    for (m, r, s, t, a, f), c in sorted(self.stats.items())
                ],
                "token_requests": [
                    {"tenant": t, "audience": aud, "grant_type": g, "client_id": cid, "count": c}
                    for (t, aud, g, cid), c in sorted(self.token_stats.items())
                ],
                "downloads": [
                    {"path": p, "authorization": a, "count": c}
                    for (p, a), c in sorted(self.download_stats.items())
                ],
                "discovery_requests": [
                    {"kind": k, "subject": sub, "count": c}
                    for (k, sub), c in sorted(self.discovery_stats.items())
                ],
                "throttled": self.throttled,
                "surfaces": dict(self.surface_stats),
                "retired_surfaces": list(self.config.get("retired_surfaces", ())),
            }

    def reset_stats(self) -> None:
        """Zero the counters."""
        with self.lock:
            self.stats.clear()
            self.surface_stats = Counter({name: 0 for name in SURFACES})
            self.token_stats.clear()
            self.download_stats.clear()
            self.discovery_stats.clear()
            self.throttled = 0

    # -- rate limits ---------------------------------------------------------------------
    def admit(self, family: str, app: str, tenant: str, route: str = "") -> tuple[int, str] | None:
        """``None`` if within the quota, else ``(retry_after_seconds, message)``.

        Each Defender for Endpoint API page says "Rate limitations for this API are 100 calls
        per minute and 1500 calls per hour" (Isolate machine, Run antivirus scan, List
        machines, ...): the emulator counts each of those APIs (``route``) on its own. Advanced
        hunting is counted per tenant; the other families as one budget per app and tenant.
        """
        if not self.config.get("rate_limits_enabled", True):
            return None
        limits = RATE_LIMITS.get(family, RATE_LIMITS["mde"])
        scale = self.time_scale
        scaled_limits = tuple((c, w / scale) for c, w in limits)
        key: tuple[str, ...] = (tenant, family) if family == "hunting" else (app, tenant, family)
        if family == "mde":
            key = (*key, route)
        with self.lock:
            refused = self.limiter.admit(key, scaled_limits, time.monotonic())
        if refused is None:
            return None
        wait, calls, window = refused
        retry = max(1, math.ceil(wait))
        documented = window * scale
        hh, rem = divmod(int(documented), 3600)
        mm, ss = divmod(rem, 60)
        return retry, (
            f"API calls quota exceeded! Maximum allowed {calls} per {hh:02d}:{mm:02d}:{ss:02d}. "
            f"Try again in {retry} seconds."
        )
