"""The playbook deployments, served from one process (``prefect-defender serve``).

This mirrors ``deployments/prefect.yaml`` (which a process worker runs in production): the
incident poller, the scheduled triage and the Sigma hunt on schedules; triage and one
containment per new High incident triggered by the poller's events (contain-device when it names
only devices, contain-identity when only accounts, contain-incident, one approval, when both);
everything else on demand from the UI. A test keeps the two in step.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from prefect import serve
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Interval

from prefect_defender.flows.block_indicators import block_indicators
from prefect_defender.flows.connectivity import defender_connectivity_check
from prefect_defender.flows.contain import contain_device
from prefect_defender.flows.contain_identity import contain_identity
from prefect_defender.flows.contain_incident import contain_incident
from prefect_defender.flows.evidence import collect_evidence
from prefect_defender.flows.hunt_respond import hunt_and_respond
from prefect_defender.flows.mssp import mssp_fanout
from prefect_defender.flows.poller import incident_poller
from prefect_defender.flows.release import release_containment
from prefect_defender.flows.sigma import EXAMPLE_RULES, sigma_hunt
from prefect_defender.flows.triage import triage_incident, triage_open_incidents

__all__ = [
    "EVENT_PARAMETERS",
    "build_deployments",
    "contain_identity_trigger",
    "contain_incident_trigger",
    "contain_trigger",
    "triage_trigger",
]

#: flow parameters filled from the poller's event
EVENT_PARAMETERS = {
    "incident_id": "{{ event.resource['defender.incident.id'] }}",
    "tenant_id": "{{ event.resource['defender.tenant.id'] }}",
}


def triage_trigger() -> DeploymentEventTrigger:
    """Triage every new incident the poller reports."""
    return DeploymentEventTrigger(
        name="defender-incident-created-triage",
        expect={"defender.incident.created"},
        match={"prefect.resource.id": "defender.incident.*"},
        parameters=dict(EVENT_PARAMETERS),
    )


def _created(name: str, severities: tuple[str, ...], **labels: str) -> DeploymentEventTrigger:
    """A trigger on new incidents of ``severities`` whose resource carries ``labels``
    (``has_devices``/``has_accounts``: "true" or "false", as the poller sets them)."""
    return DeploymentEventTrigger(
        name=name,
        expect={"defender.incident.created"},
        match={
            "prefect.resource.id": "defender.incident.*",
            "defender.incident.severity": list(severities),
            **{f"defender.incident.{k}": v for k, v in labels.items()},
        },
        parameters=dict(EVENT_PARAMETERS),
    )


def contain_trigger(severities: tuple[str, ...] = ("High",)) -> DeploymentEventTrigger:
    """Propose device containment for new incidents that name devices and no account."""
    return _created(
        "defender-incident-created-contain", severities, has_devices="true", has_accounts="false"
    )


def contain_incident_trigger(severities: tuple[str, ...] = ("High",)) -> DeploymentEventTrigger:
    """Propose one containment (one approval) for new incidents naming devices and accounts."""
    return _created(
        "defender-incident-created-contain-incident",
        severities,
        has_devices="true",
        has_accounts="true",
    )


def _approval_only(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters identity containment shares with device containment (approval, safety)."""
    return {k: v for k, v in (parameters or {}).items() if k in ("approval", "safety", "notify")}


def contain_identity_trigger(severities: tuple[str, ...] = ("High",)) -> DeploymentEventTrigger:
    """Propose identity containment for new incidents that name accounts and no device."""
    return _created(
        "defender-incident-created-contain-identity",
        severities,
        has_devices="false",
        has_accounts="true",
    )


def build_deployments(
    credentials: str,
    partner_credentials: str | None = None,
    poll_every: timedelta = timedelta(minutes=1),
    contain_parameters: dict[str, Any] | None = None,
) -> list[Any]:
    """Runner deployments for every playbook, parameterised with the credentials block."""
    common = {"credentials": credentials}
    deployments = [
        incident_poller.to_deployment(
            name="incident-poller",
            parameters=common,
            schedules=[Interval(poll_every, slug="poll")],
            concurrency_limit=1,
            tags=["defender"],
        ),
        triage_incident.to_deployment(
            name="triage-on-incident",
            parameters=common,
            triggers=[triage_trigger()],
            tags=["defender"],
        ),
        triage_open_incidents.to_deployment(
            name="triage-scheduled",
            parameters=common,
            schedules=[Interval(timedelta(minutes=15), slug="every-15-min")],
            tags=["defender"],
        ),
        contain_device.to_deployment(
            name="contain-on-incident",
            parameters={**common, **(contain_parameters or {})},
            triggers=[contain_trigger()],
            tags=["defender"],
        ),
        contain_device.to_deployment(name="contain-device", parameters=common, tags=["defender"]),
        contain_identity.to_deployment(
            name="contain-identity", parameters=common, tags=["defender"]
        ),
        contain_identity.to_deployment(
            name="contain-identity-on-incident",
            parameters={**common, **_approval_only(contain_parameters)},
            triggers=[contain_identity_trigger()],
            tags=["defender"],
        ),
        contain_incident.to_deployment(
            name="contain-incident", parameters=common, tags=["defender"]
        ),
        contain_incident.to_deployment(
            name="contain-incident-on-incident",
            parameters={**common, **(contain_parameters or {})},
            triggers=[contain_incident_trigger()],
            tags=["defender"],
        ),
        block_indicators.to_deployment(
            name="block-indicators", parameters=common, tags=["defender"]
        ),
        hunt_and_respond.to_deployment(
            name="hunt-and-respond", parameters=common, tags=["defender"]
        ),
        sigma_hunt.to_deployment(
            name="sigma-hunt",
            parameters={**common, "rule_paths": [str(EXAMPLE_RULES)]},
            schedules=[Interval(timedelta(hours=1), slug="hourly")],
            concurrency_limit=1,
            tags=["defender"],
        ),
        release_containment.to_deployment(name="release", parameters=common, tags=["defender"]),
        collect_evidence.to_deployment(
            name="collect-evidence", parameters=common, tags=["defender"]
        ),
        defender_connectivity_check.to_deployment(
            name="connectivity-check",
            parameters={"block_names": [credentials]},
            tags=["defender"],
        ),
    ]
    if partner_credentials:
        deployments.append(
            mssp_fanout.to_deployment(
                name="mssp-fanout",
                parameters={"credentials": partner_credentials},
                tags=["defender"],
            )
        )
    return deployments


def main(argv: list[str] | None = None) -> None:
    """``python -m prefect_defender.deployments.serve --credentials <block>``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--partner-credentials", default=None)
    parser.add_argument("--poll-seconds", type=float, default=60.0)
    parser.add_argument(
        "--contain-parameters",
        default=None,
        help="JSON with extra contain-device parameters (approval, safety)",
    )
    args = parser.parse_args(argv)
    import json

    serve(
        *build_deployments(
            args.credentials,
            args.partner_credentials,
            timedelta(seconds=args.poll_seconds),
            json.loads(args.contain_parameters) if args.contain_parameters else None,
        )
    )


if __name__ == "__main__":
    main()
