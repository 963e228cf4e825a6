"""Tasks for entity enrichment: files, IP addresses, domains and users.

User endpoints take the account (SAM) name such as ``jdoe``, not the UPN: a UPN is refused
before any request with a message saying so. The file alerts/machines endpoints take a SHA-1
only: a SHA-256 is refused before any request, and the message says to look the SHA-1 up with
:func:`get_file_info`. :func:`enrich_entities` does all of it for many entities in one task.

The package is the public face; its parts are private: one entity per task (``_entities``) and
many entities in one task (``_batch``).
"""

from __future__ import annotations

from prefect_defender.tasks.enrichment._batch import enrich_entities
from prefect_defender.tasks.enrichment._entities import (
    get_domain_alerts,
    get_domain_machines,
    get_domain_stats,
    get_file_alerts,
    get_file_info,
    get_file_machines,
    get_file_stats,
    get_ip_alerts,
    get_ip_stats,
    get_user_alerts,
    get_user_machines,
)

__all__ = [
    "enrich_entities",
    "get_domain_alerts",
    "get_domain_machines",
    "get_domain_stats",
    "get_file_alerts",
    "get_file_info",
    "get_file_machines",
    "get_file_stats",
    "get_ip_alerts",
    "get_ip_stats",
    "get_user_alerts",
    "get_user_machines",
]
