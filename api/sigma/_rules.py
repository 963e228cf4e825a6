"""A converted Sigma rule as a Graph v1.0 custom detection rule
(:class:`~prefect_defender.api.models.graph_security.DetectionRuleInput`).

* id ``sigma-<rule id>`` (the create page wants a client-provided id; the same Sigma rule gives
  the same id, so deploying it twice is refused by the service, not duplicated);
* the query is the converted KQL as it is: a custom detection's query must return
  ``Timestamp`` and ``ReportId`` with the entity columns, and the converted filter keeps every
  column of its table;
* severity from the Sigma ``level`` (``critical`` becomes ``high``, Graph's highest);
* ``tactics`` from the ``attack.*`` tags: ``attack.initial_access`` -> ``InitialAccess``,
  ``attack.t1059.001`` -> technique ``T1059.001``. Sigma does not say which tactic a technique
  belongs to, so each technique is listed under each tactic of the rule;
* ``entityMappings`` ``hosts`` (``DeviceId``, ``DeviceName``) for the ``Device*`` tables, whose
  rows name the device;
* no automated actions unless the caller gives them: they act on every match without asking.
"""

from __future__ import annotations

import re
from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.graph_security import DetectionRuleInput
from prefect_defender.api.sigma._convert import SigmaConversion

__all__ = [
    "SIGMA_SEVERITY",
    "detection_rule_from_sigma",
    "sigma_tactics",
]

#: Sigma ``level`` -> Graph alert severity
SIGMA_SEVERITY = {
    "informational": "informational",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "high",
}
_TECHNIQUE_TAG = re.compile(r"^attack\.(t[0-9]{4}(?:\.[0-9]{3})?)$", re.IGNORECASE)
_TACTIC_TAG = re.compile(r"^attack\.([a-z]+(?:[_-][a-z]+)*)$", re.IGNORECASE)


def sigma_tactics(tags: list[str]) -> dict[str, list[str]]:
    """``{"Execution": ["T1059.001"]}`` from a Sigma rule's ``attack.*`` tags.

    Examples:
        >>> sigma_tactics(["attack.execution", "attack.t1059.001", "attack.defense_evasion"])
        {'Execution': ['T1059.001'], 'DefenseEvasion': ['T1059.001']}
    """
    techniques, tactics = [], []
    for tag in tags:
        if m := _TECHNIQUE_TAG.match(tag.strip()):
            techniques.append(m.group(1).upper())
        elif m := _TACTIC_TAG.match(tag.strip()):
            name = "".join(part.capitalize() for part in re.split(r"[_-]", m.group(1)))
            if not name.startswith("G") or not name[1:].isdigit():  # attack.g0016 is a group
                tactics.append(name)
    return {tactic: list(techniques) for tactic in dict.fromkeys(tactics)}


def detection_rule_from_sigma(
    conversion: SigmaConversion,
    *,
    frequency: str = "PT1H",
    status: str = "enabled",
    automated_actions: dict[str, Any] | None = None,
) -> DetectionRuleInput:
    """The custom detection rule for one converted Sigma rule (``ValidationError`` for a rule
    that was not converted, or when the result is not a valid rule).

    Example:
        >>> conv = SigmaConversion(source="x.yml", rule_id="4a6e0b8f", title="Encoded PS",
        ...     level="high", tags=["attack.execution", "attack.t1059.001"],
        ...     status="converted", table="DeviceProcessEvents",
        ...     kql="DeviceProcessEvents | where ProcessCommandLine contains ' -enc '")
        >>> body = detection_rule_from_sigma(conv).to_api()
        >>> template = body["detectionAction"].get("alertTemplate")
        >>> body["id"], template["severity"]
        ('sigma-4a6e0b8f', 'high')
    """
    if not conversion.ok or not conversion.kql:
        raise ValidationError(
            f"conversion: {conversion.title!r} was not converted ({conversion.status.value}: "
            f"{conversion.reason})",
            field="conversion",
        )
    mappings: dict[str, Any] = {}
    if (conversion.table or "").startswith("Device"):
        mappings["hosts"] = [{"deviceIdColumn": "DeviceId", "nameColumn": "DeviceName"}]
    return DetectionRuleInput(
        rule_id=f"sigma-{conversion.rule_id}"[:128],
        display_name=f"Sigma: {conversion.title}"[:256],
        description=f"Converted from Sigma rule {conversion.rule_id} ({conversion.source}).",
        status=status,
        query_text=conversion.kql,
        frequency=frequency,
        alert_title=conversion.title[:256],
        alert_severity=SIGMA_SEVERITY.get((conversion.level or "").lower(), "medium"),
        alert_description=f"Sigma rule {conversion.title} matched ({conversion.rule_id}).",
        tactics=sigma_tactics(list(conversion.tags)),  # type: ignore[arg-type]
        entity_mappings=mappings,
        automated_actions=automated_actions or {},
    )
