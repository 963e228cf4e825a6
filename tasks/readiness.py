"""The API readiness report: which deployments depend on Defender endpoints Microsoft is
retiring, and whether each credentials block's Graph token carries what the Graph paths need.
The models and the analysis; the flow ``defender-api-readiness`` (``flows.readiness``) reads the
deployments and renders the report.

For each deployment (``deployments/prefect.yaml``, and the server's when one is configured) the
endpoints its playbook can call come from the tasks it uses
(:mod:`prefect_defender.tasks.playbook_endpoints`); each deprecated or retired one is classified:

* ``selected``: a ``*surface`` parameter of the deployment (or the flow's default) chooses that
  API (``surface: xdr``): the deployment depends on it; switch the parameter to ``graph``;
* ``required``: the playbook has no other way (no task of it calls a replacement): the
  deployment depends on it; when Microsoft documents no Graph successor the report says why;
* ``optional``: a replacement is the playbook's default; the old API is used only on explicit
  request. Listed, not a problem.

``selected`` and ``required`` findings block readiness: the report's exit code is 1 when there
is one (those with no documented successor can be let through with ``allow_no_successor``,
since nothing can be configured for them; they stay listed).

For each credentials block and tenant the Graph token is requested and its ``roles`` (or
``scp``) read; each Graph endpoint the block's deployments use, and each Graph replacement of
their deprecated endpoints, needs one of its permissions; a missing one is named (the least
privileged to grant, and the alternatives).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.clouds import Surface
from prefect_defender.api.lifecycle import Status
from prefect_defender.tasks.playbook_endpoints import PlaybookEndpoints

__all__ = [
    "CredentialReadiness",
    "DeploymentReadiness",
    "EndpointFinding",
    "PermissionGap",
    "ReadinessReport",
    "classify",
    "deployment_readiness",
    "endpoint_status",
    "graph_needs",
    "graph_permission_rows",
    "permission_gaps",
    "successor_rows",
]

Use = Literal["selected", "required", "optional"]


class EndpointFinding(BaseModel):
    """A deprecated or retired endpoint a deployment's playbook can call."""

    endpoint: str
    call: str = Field(description="Method, path and Entra API.")
    status: str
    retires: date | None = None
    source: str = ""
    replacement: list[str] = Field(default_factory=list)
    replacement_text: str = ""
    use: Use
    fix: str = ""

    @property
    def blocking(self) -> bool:
        """The deployment depends on it (not only on explicit request)."""
        return self.use != "optional"

    @property
    def no_successor(self) -> bool:
        """Microsoft documents no replacement."""
        return not self.replacement


class DeploymentReadiness(BaseModel):
    """One deployment: its playbook, the endpoints it can call and the findings."""

    name: str
    origin: str = Field(description="prefect.yaml or server")
    entrypoint: str
    credentials: str | None = None
    surfaces: dict[str, str] = Field(default_factory=dict)
    endpoints: list[str] = Field(default_factory=list)
    findings: list[EndpointFinding] = Field(default_factory=list)
    note: str | None = None

    def blocking(self, allow_no_successor: bool = False) -> list[EndpointFinding]:
        """The findings that make this deployment not ready."""
        return [
            f
            for f in self.findings
            if f.blocking and not (allow_no_successor and f.no_successor and f.status != "retired")
        ]


class PermissionGap(BaseModel):
    """A Graph permission the token lacks: grant ``permission`` (or one of ``any_of``)."""

    permission: str
    any_of: list[str]
    endpoints: list[str]
    deployments: list[str]


class CredentialReadiness(BaseModel):
    """One credentials block in one tenant: the Graph permissions its token carries."""

    block: str
    tenant_id: str
    tenant: str = ""
    context: str = Field(description="application (roles) or delegated (scp)")
    granted: list[str] = Field(default_factory=list)
    missing: list[PermissionGap] = Field(default_factory=list)
    error: str | None = None


class ReadinessReport(BaseModel):
    """Deployments and credentials, as of ``generated``."""

    generated: datetime = Field(default_factory=lambda: datetime.now(UTC))
    deployments: list[DeploymentReadiness] = Field(default_factory=list)
    credentials: list[CredentialReadiness] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    allow_no_successor: bool = False

    def not_ready(self) -> list[DeploymentReadiness]:
        """The deployments with a blocking finding."""
        return [d for d in self.deployments if d.blocking(self.allow_no_successor)]

    @property
    def exit_code(self) -> int:
        """1 when a deployment depends on a retiring endpoint with no replacement configured."""
        return 1 if self.not_ready() else 0


def _call(name: str) -> str:
    ep = endpoint(name)
    return f"{ep.method} {ep.path} ({ep.api_name})"


def _finding(name: str, found: PlaybookEndpoints, surfaces: dict[str, str]) -> EndpointFinding:
    ep = endpoint(name)
    life = ep.lifecycle
    chosen = [p for p, v in surfaces.items() if v == ep.surface.value]
    usable = [r for r in life.replacements if r in found.endpoints]
    use: Use = "selected" if chosen else ("optional" if usable else "required")
    if chosen:
        fix = f"set {', '.join(chosen)} to graph"
    elif use == "required" and life.replacements:
        fix = "the playbook's tasks do not call the replacement yet"
    elif use == "required":
        fix = "none possible yet: Microsoft documents no Graph successor"
    else:
        fix = ""
    return EndpointFinding(
        endpoint=name,
        call=_call(name),
        status=life.status.value,
        retires=life.retires,
        source=life.source,
        replacement=list(life.replacements),
        replacement_text=life.replacement_text(),
        use=use,
        fix=fix,
    )


def classify(found: PlaybookEndpoints, surfaces: dict[str, str]) -> list[EndpointFinding]:
    """The deprecated and retired endpoints among ``found``, each with how it is used."""
    out = [
        _finding(name, found, surfaces)
        for name in sorted(found.endpoints)
        if endpoint(name).status is not Status.CURRENT
    ]
    order = {"selected": 0, "required": 1, "optional": 2}
    return sorted(out, key=lambda f: (order[f.use], f.endpoint))


def graph_needs(deployments: list[DeploymentReadiness]) -> dict[str, list[str]]:
    """Graph endpoint -> the deployments that need it: those their playbooks call, and the
    Graph replacements of the deprecated endpoints they call."""
    needs: dict[str, set[str]] = {}
    for d in deployments:
        names = set(d.endpoints)
        for name in list(names):
            names.update(endpoint(name).lifecycle.replacements)
        for name in names:
            if endpoint(name).surface is Surface.GRAPH:
                needs.setdefault(name, set()).add(d.name)
    return {k: sorted(v) for k, v in sorted(needs.items())}


def permission_gaps(
    granted: set[str], delegated: bool, needs: dict[str, list[str]]
) -> list[PermissionGap]:
    """The permissions ``granted`` lacks for ``needs``, one gap per permission to grant."""
    gaps: dict[tuple[str, ...], PermissionGap] = {}
    for name, deployments in needs.items():
        ep = endpoint(name)
        allowed = ep.delegated if delegated else ep.application
        if not allowed or granted & set(allowed):
            continue
        gap = gaps.setdefault(
            tuple(allowed),
            PermissionGap(
                permission=allowed[0], any_of=list(allowed), endpoints=[], deployments=[]
            ),
        )
        gap.endpoints.append(name)
        gap.deployments = sorted(set(gap.deployments) | set(deployments))
    return sorted(gaps.values(), key=lambda g: g.permission)


def deployment_readiness(
    name: str,
    origin: str,
    entrypoint: str,
    parameters: dict[str, Any],
    playbook: Any,
) -> DeploymentReadiness:
    """One deployment of ``playbook`` (a prefect-defender flow) analysed."""
    from prefect_defender.tasks.playbook_endpoints import playbook_endpoints, surface_parameters

    found = playbook_endpoints(playbook)
    surfaces = surface_parameters(playbook, parameters)
    creds = parameters.get("credentials")
    return DeploymentReadiness(
        name=name,
        origin=origin,
        entrypoint=entrypoint,
        credentials=creds if isinstance(creds, str) else None,
        surfaces=surfaces,
        endpoints=sorted(found.endpoints),
        findings=classify(found, surfaces),
        note="calls any catalog endpoint it is given (generic task)" if found.generic else None,
    )


def endpoint_status(name: str) -> str:
    """A mark for a catalog endpoint's status in docs tables: ``""``, `` ⚠`` or `` ⛔``."""
    status = endpoint(name).status
    return "" if status is Status.CURRENT else (" ⚠" if status is Status.DEPRECATED else " ⛔")


def graph_permission_rows() -> list[str]:
    """Markdown rows: each Graph endpoint a task calls or that succeeds a deprecated one, with
    its application and delegated permissions (least privileged first)."""
    from prefect_defender.api.catalog import CATALOG
    from prefect_defender.tasks import all_tasks

    names: set[str] = set()
    for _, t in all_tasks():
        names.update(getattr(t, "defender_endpoints", ()))
    for ep in CATALOG.values():
        names.update(ep.lifecycle.replacements)
    rows = []
    for name in sorted(n for n in names if endpoint(n).surface is Surface.GRAPH):
        ep = endpoint(name)
        beta = " (beta)" if ep.beta else ""
        app = ", ".join(ep.application) or "not supported"
        dele = ", ".join(ep.delegated) or "not supported"
        rows.append(f"| `{name}`{beta} | `{ep.method} {ep.path}` | {app} | {dele} |")
    return rows


def successor_rows() -> list[str]:
    """Markdown rows: every endpoint that is not current, its status and date, its source and
    its Graph successor (or why there is none)."""
    from prefect_defender.api.catalog import CATALOG

    rows = ["| endpoint | call | status | Graph successor |", "|---|---|---|---|"]
    for ep in sorted(CATALOG.values(), key=lambda e: (e.surface.value, e.name)):
        life = ep.lifecycle
        if life.is_current:
            continue
        when = "retires" if life.status is Status.DEPRECATED else "retired"
        rows.append(
            f"| `{ep.name}` | `{ep.method} {ep.path}` | {life.status.value}, {when} "
            f"{life.retires} ({life.source}) | {life.replacement_text()} |"
        )
    return rows
