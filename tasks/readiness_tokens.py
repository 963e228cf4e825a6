"""Each credentials block's Microsoft Graph token against what the deployments' Graph paths
need (``tasks.readiness``): the token's ``roles`` (application) or ``scp`` (delegated) are read,
no API call is made."""

from __future__ import annotations

from prefect_defender.api.clouds import Surface
from prefect_defender.api.errors import DefenderError
from prefect_defender.blocks import DefenderUserCredentials
from prefect_defender.tasks.readiness import (
    CredentialReadiness,
    DeploymentReadiness,
    graph_needs,
    permission_gaps,
)
from prefect_defender.tasks.scope import TenantScopes, load_credentials, tenants_of

__all__ = ["check_credentials"]


async def check_credentials(
    ref: str, deployments: list[DeploymentReadiness]
) -> list[CredentialReadiness]:
    """The Graph token of block ``ref`` in each of its tenants, against what ``deployments``
    need (those that use the block, or all of them when none does).

    Example:
        ```python
        from pathlib import Path

        import prefect_defender.deployments
        from prefect_defender.flows.readiness_sources import yaml_deployments

        table = Path(prefect_defender.deployments.__file__).parent / "prefect.yaml"
        deployments = yaml_deployments(table)
        rows = await check_credentials("defender-application-credentials/soc", deployments)
        print([(r.tenant, [g.permission for g in r.missing]) for r in rows])
        ```
    """
    creds = await load_credentials(ref)
    users = [d for d in deployments if d.credentials == ref] or deployments
    needs = graph_needs(users)
    delegated = isinstance(creds, DefenderUserCredentials)
    out = []
    async with TenantScopes(creds, tenants_of(creds)) as scopes:
        for scope in scopes:
            base = CredentialReadiness(
                block=ref,
                tenant_id=scope.tenant,
                tenant=scope.label,
                context="delegated" if delegated else "application",
            )
            try:
                client = scope.client
                token = await client.transport.provider.get_token(
                    client.endpoints.scope(Surface.GRAPH)
                )
            except DefenderError as exc:
                out.append(base.model_copy(update={"error": f"{type(exc).__name__}: {exc}"}))
                continue
            granted = set(token.permissions)
            out.append(
                base.model_copy(
                    update={
                        "granted": sorted(granted),
                        "missing": permission_gaps(granted, delegated, needs),
                    }
                )
            )
    return out
