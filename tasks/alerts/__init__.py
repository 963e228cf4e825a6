"""Tasks for alerts: Defender for Endpoint (``/api/alerts``) and Graph (``alerts_v2``).

The package is the public face; its parts are private: the Defender for Endpoint alerts
(``_mde``) and the Graph alerts (``_graph``).
"""

from __future__ import annotations

from prefect_defender.tasks.alerts._graph import (
    add_graph_alert_comment,
    get_graph_alert,
    list_graph_alerts,
    update_graph_alert,
)
from prefect_defender.tasks.alerts._mde import (
    batch_update_alerts,
    create_alert_by_reference,
    get_alert,
    get_alert_related,
    list_alerts,
    update_alert,
)

__all__ = [
    "add_graph_alert_comment",
    "batch_update_alerts",
    "create_alert_by_reference",
    "get_alert",
    "get_alert_related",
    "get_graph_alert",
    "list_alerts",
    "list_graph_alerts",
    "update_alert",
    "update_graph_alert",
]
