"""Input checks that run before any request leaves the process: identifiers (GUIDs, machine ids,
hashes, IPs, domains, URLs, user names) and plain values (text, choices, lists, numbers,
queries, models), the one place callers import checks from.

Each checker returns the normalised value or raises
:class:`~prefect_defender.api.errors.ValidationError` naming the field and what was expected.
Annotated pydantic types (``MachineIdStr``, ``Sha256Str`` ...) wrap the same checks for models
and task parameters.

The package is the public face; its parts are private: identifiers and the annotated types
(``_checks``), plain values (``_values``).
"""

from __future__ import annotations

from prefect_defender.api.validation._checks import (
    CommentStr,
    DomainStr,
    FileHashStr,
    GuidStr,
    IpStr,
    MachineIdStr,
    Sha1Str,
    Sha256Str,
    UrlStr,
    check_alert_id,
    check_domain,
    check_guid,
    check_hash,
    check_incident_id,
    check_ip,
    check_machine_id,
    check_machine_ids,
    check_opaque_id,
    check_sam_name,
    check_sha1,
    check_sha256,
    check_upn,
    check_url,
    check_user_ref,
)
from prefect_defender.api.validation._values import (
    MAX_DEPTH,
    MAX_QUERY,
    ascii_digits,
    check_choice,
    check_comment,
    check_int,
    check_items,
    check_local_path,
    check_model,
    check_no_control,
    check_number,
    check_odata_filter,
    check_query,
    check_required_text,
    check_timespan,
    fail,
    text_of,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_QUERY",
    "CommentStr",
    "DomainStr",
    "FileHashStr",
    "GuidStr",
    "IpStr",
    "MachineIdStr",
    "Sha1Str",
    "Sha256Str",
    "UrlStr",
    "ascii_digits",
    "check_alert_id",
    "check_choice",
    "check_comment",
    "check_domain",
    "check_guid",
    "check_hash",
    "check_incident_id",
    "check_int",
    "check_ip",
    "check_items",
    "check_local_path",
    "check_machine_id",
    "check_machine_ids",
    "check_model",
    "check_no_control",
    "check_number",
    "check_odata_filter",
    "check_opaque_id",
    "check_query",
    "check_required_text",
    "check_sam_name",
    "check_sha1",
    "check_sha256",
    "check_timespan",
    "check_upn",
    "check_url",
    "check_user_ref",
    "fail",
    "text_of",
]
