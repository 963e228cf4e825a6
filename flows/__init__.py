"""prefect_defender.flows.

Playbooks are imported from their modules (``prefect_defender.flows.<module>``); the names
below are also reachable here, imported on first use so that importing one playbook does not
load the others' dependencies (pySigma for ``sigma_hunt`` and ``sigma_detection_rules``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["sigma_detection_rules", "sigma_hunt"]

_LAZY = {
    "sigma_hunt": "prefect_defender.flows.sigma",
    "sigma_detection_rules": "prefect_defender.flows.sigma_rules",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
