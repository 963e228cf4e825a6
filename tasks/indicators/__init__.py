"""Tasks for custom indicators: submit, import in batches of 500, list, delete, batch delete.

Validation is strict and happens before anything is sent: every indicator is checked (value
against type, documented action, expiry in the future, ``Audit`` needs ``generate_alert``), and
a list with an invalid item raises one ``ValidationError`` naming every bad index, with zero
requests sent. Playbooks that build indicators from incident entities use
:func:`indicators_from_entities`, which reports an entity that cannot become an indicator as an
outcome of its own instead of raising, so nothing is silently dropped.

The package is the public face; its parts are private: the indicator tasks (``_custom``) and the
indicators built from an incident's entities (``_from_incident``).
"""

from __future__ import annotations

from prefect_defender.tasks.indicators._custom import (
    delete_indicator,
    delete_indicators,
    import_indicators,
    list_indicators,
    submit_indicator,
)
from prefect_defender.tasks.indicators._from_incident import ENTITY_KINDS, indicators_from_entities

__all__ = [
    "ENTITY_KINDS",
    "delete_indicator",
    "delete_indicators",
    "import_indicators",
    "indicators_from_entities",
    "list_indicators",
    "submit_indicator",
]
