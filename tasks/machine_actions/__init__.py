"""Tasks for machine actions on one machine, and for reading, waiting for and cancelling actions.

Single-machine tasks return :class:`ActionOutcome` (the action, and whether it was already in
progress). Each is the one-machine request (``_one``) for its action type with its own
arguments; its parameters are its action's options and nothing else differs between the tasks.

The package is the public face; its parts are private: the one-machine tasks and the reads
(``_single``), the many-machine tasks (``isolate_machines`` ..., ``_bulk``) and the investigation
package downloads (``_packages``).
"""

from __future__ import annotations

from prefect_defender.tasks.machine_actions._bulk import (
    collect_investigation_packages,
    isolate_machines,
    request_machine_actions,
    restrict_machines,
    run_antivirus_scans,
    stop_and_quarantine_files,
    unisolate_machines,
    unrestrict_machines,
)
from prefect_defender.tasks.machine_actions._packages import (
    download_investigation_package,
    get_investigation_package_uri,
    store_investigation_packages,
)
from prefect_defender.tasks.machine_actions._single import (
    ActionOutcome,
    cancel_machine_action,
    collect_investigation_package,
    get_machine_action,
    isolate_machine,
    list_machine_actions,
    offboard_machine,
    restrict_machine,
    run_antivirus_scan,
    stop_and_quarantine_file,
    unisolate_machine,
    unrestrict_machine,
    wait_for_machine_action,
)

__all__ = [
    "ActionOutcome",
    "cancel_machine_action",
    "collect_investigation_package",
    "collect_investigation_packages",
    "download_investigation_package",
    "get_investigation_package_uri",
    "get_machine_action",
    "isolate_machine",
    "isolate_machines",
    "list_machine_actions",
    "offboard_machine",
    "request_machine_actions",
    "restrict_machine",
    "restrict_machines",
    "run_antivirus_scan",
    "run_antivirus_scans",
    "stop_and_quarantine_file",
    "stop_and_quarantine_files",
    "store_investigation_packages",
    "unisolate_machine",
    "unisolate_machines",
    "unrestrict_machine",
    "unrestrict_machines",
    "wait_for_machine_action",
]
