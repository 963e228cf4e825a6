"""The API readiness report as markdown (the ``defender-api-readiness`` artifact, the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_defender.flows.reports import markdown_table

if TYPE_CHECKING:
    from prefect_defender.tasks.readiness import (
        CredentialReadiness,
        DeploymentReadiness,
        ReadinessReport,
    )

__all__ = ["render"]

_USE = {
    "selected": "uses it (chosen by a parameter)",
    "required": "depends on it",
    "optional": "only on explicit request",
}


def _deployment(d: DeploymentReadiness, allow_no_successor: bool) -> list[str]:
    blocking = d.blocking(allow_no_successor)
    state = "NOT READY" if blocking else "ready"
    head = f"### {d.name}: {state}"
    lines = [
        head,
        "",
        f"`{d.entrypoint}` ({d.origin}); credentials: `{d.credentials or 'not set'}`; "
        f"{len(d.endpoints)} endpoint(s)"
        + (
            f"; surfaces: {', '.join(f'{k}={v}' for k, v in d.surfaces.items())}"
            if d.surfaces
            else ""
        ),
        "",
    ]
    if d.note:
        lines += [f"Note: {d.note}", ""]
    if not d.findings:
        return [*lines, "No deprecated or retired endpoint.", ""]
    rows = [
        {
            "endpoint": f"`{f.endpoint}`",
            "call": f.call,
            "status": f"{f.status}, {'retires' if f.status == 'deprecated' else 'retired'} "
            f"{f.retires} ({f.source})",
            "use": _USE[f.use],
            "replacement": f.replacement_text,
            "to do": f.fix,
        }
        for f in d.findings
    ]
    return [
        *lines,
        markdown_table(rows, ["endpoint", "call", "status", "use", "replacement", "to do"]),
        "",
    ]


def _credential(c: CredentialReadiness) -> list[str]:
    title = f"### {c.block} in {c.tenant or c.tenant_id}"
    if c.error:
        return [title, "", f"Could not get a Graph token: {c.error}", ""]
    if not c.missing:
        return [title, "", f"The {c.context} token carries every Graph permission needed.", ""]
    rows = [
        {
            "grant": f"**{g.permission}**",
            "or one of": ", ".join(g.any_of[1:]) or "",
            "needed by": ", ".join(f"`{e}`" for e in g.endpoints),
            "deployments": ", ".join(g.deployments),
        }
        for g in c.missing
    ]
    return [
        title,
        "",
        f"The {c.context} token lacks {len(c.missing)} Microsoft Graph permission(s):",
        "",
        markdown_table(rows, ["grant", "or one of", "needed by", "deployments"]),
        "",
    ]


def render(report: ReadinessReport) -> str:
    """The whole report."""
    not_ready = report.not_ready()
    lines = [
        "# Defender API readiness",
        "",
        f"Generated {report.generated:%Y-%m-%d %H:%M} UTC. Microsoft retires the Defender for "
        "Endpoint and Defender XDR APIs after 1 February 2027 (MC1220762); starting automated "
        "investigations ended on 1 September 2026 (MC1411577).",
        "",
        f"- Deployments: {len(report.deployments)}, not ready: {len(not_ready)}"
        + (f" ({', '.join(d.name for d in not_ready)})" if not_ready else ""),
        f"- Credentials checked: {len(report.credentials)}, missing Graph permissions: "
        f"{sum(1 for c in report.credentials if c.missing)}",
        *(f"- {n}" for n in report.notes),
        "",
        "## Deployments",
        "",
    ]
    for d in report.deployments:
        lines += _deployment(d, report.allow_no_successor)
    lines += ["## Credentials", ""]
    if not report.credentials:
        lines += ["No credentials block was checked.", ""]
    for c in report.credentials:
        lines += _credential(c)
    return "\n".join(lines)
