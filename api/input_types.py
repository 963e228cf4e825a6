"""Input types: each parameter type carries the check its values get, wherever it is declared.

A parameter annotated ``MachineId`` is a string checked as a machine id, ``TenantId`` one
checked as a GUID, ``Limit`` an integer of at least 0 ... Each type is
``typing.Annotated[<base>, Check(...)]``: type checkers and Prefect see the base type (a flow
parameter's schema and its form in the UI are those of a plain ``str`` or ``int``), while the
task decorator's argument check (``tasks.arguments``) and the bad-input suite (tests/security)
read the :class:`Check` and run it. A new parameter of a known type is checked and fuzzed
without any table naming it.

Example:
    >>> from prefect_defender.api.input_types import Limit, check_of
    >>> check_of(Limit)(-1, "limit")
    Traceback (most recent call last):
    ...
    prefect_defender.api.errors.ValidationError: InvalidInput: limit: -1 is out of range (from 0)
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

from prefect_defender.api.models.graph_security import check_email, check_rule_id
from prefect_defender.api.models.live_response import check_library_name
from prefect_defender.api.resources.action_requests import action_comment
from prefect_defender.api.resources.enrichment import check_sha1_only
from prefect_defender.api.resources.indicators import check_indicator_id
from prefect_defender.api.resources.investigations import (
    check_investigation_comment,
    check_investigation_id,
)
from prefect_defender.api.resources.machines import MachinesAPI, check_machine_ref
from prefect_defender.api.resources.triage import check_tags
from prefect_defender.api.resources.vulnerabilities import (
    check_software_id,
    check_vulnerability_id,
)
from prefect_defender.api.sigma import check_lookback
from prefect_defender.api.validation import (
    CheckedAlertId,
    CheckedGuid,
    CheckedIncidentId,
    CheckedUpn,
    carry,
    carry_machine_id,
    check_alert_id,
    check_comment,
    check_domain,
    check_guid,
    check_hash,
    check_incident_id,
    check_int,
    check_ip,
    check_local_path,
    check_number,
    check_odata_filter,
    check_opaque_id,
    check_query,
    check_required_text,
    check_sam_name,
    check_sha1,
    check_upn,
    check_user_ref,
    fail,
    text_of,
    user_ref_kind,
)

__all__ = [
    "AccountName",
    "ActionComment",
    "ActionId",
    "ActionOption",
    "ActionOptions",
    "AlertId",
    "AutomatedActions",
    "BetaOptIn",
    "BlockRef",
    "BulkItems",
    "Check",
    "Concurrency",
    "Cvss",
    "DeploymentRef",
    "Domain",
    "EmailAddress",
    "EmailRemediationAction",
    "EmailRemediationSeverity",
    "EndpointName",
    "ExistingFile",
    "FileHash",
    "FileSha1",
    "FilterText",
    "HuntLookbackHours",
    "IncidentId",
    "IncidentRef",
    "Index",
    "IndicatorId",
    "IndicatorListAction",
    "IndicatorSpecs",
    "InvestigationComment",
    "InvestigationId",
    "IocValues",
    "IpAddress",
    "KqlQueries",
    "KqlQuery",
    "LibraryFileName",
    "Limit",
    "LiveCommands",
    "LiveResponseText",
    "LocalFile",
    "LocalFloat",
    "LocalInt",
    "LocalPath",
    "LookBackHours",
    "Lookback",
    "LookbackDays",
    "MachineActionStatus",
    "MachineId",
    "MachineRef",
    "ODataFilterText",
    "OpaqueId",
    "OpenChoice",
    "PackageFiles",
    "PageSize",
    "PathParams",
    "PositiveLimit",
    "QueryParams",
    "ReportId",
    "RequestBody",
    "RequiredText",
    "RiskLevel",
    "RiskState",
    "RuleFrequency",
    "RuleId",
    "RuleStatus",
    "RunKey",
    "Sample",
    "Seconds",
    "Sha1",
    "ShortText",
    "SigmaSources",
    "SoftwareId",
    "StorageBlockRef",
    "StrictBool",
    "Tag",
    "Tags",
    "TenantId",
    "Text",
    "Timespan",
    "Upn",
    "UserObjectId",
    "UserRef",
    "UserRefs",
    "VariableName",
    "VulnerabilityId",
    "WritableStorage",
    "as_given",
    "check_existing_file",
    "check_of",
    "check_positive_timedelta",
    "check_strict_bool",
    "check_writable_storage",
]


@dataclass(frozen=True)
class Check:
    """What an input type carries: ``fn(value, field)`` raises our ``ValidationError`` naming
    ``field``, or returns the value the callee gets.

    ``passes_checked``: the callee gets what ``fn`` returned (a normalised id); otherwise it
    gets the value as given (free text keeps its spaces). ``empty_is_unset``: when the
    parameter is optional, an empty value (``""``, ``0``) means "not given", as ``None`` does.
    ``in_context``: the value is checked by the callee together with its other arguments (a
    rule's frequency for each converted rule, a path parameter against the endpoint); it says
    where, and ``fn`` checks only what holds without them.
    """

    name: str
    fn: Callable[[Any, str], Any]
    passes_checked: bool = False
    empty_is_unset: bool = False
    in_context: str = ""

    def __call__(self, value: Any, field: str) -> Any:
        checked = self.fn(value, field)
        return checked if self.passes_checked else value

    def __repr__(self) -> str:
        return f"Check({self.name})"


def check_of(annotation: Any) -> Check | None:
    """The :class:`Check` an input type carries (``None`` for any other annotation).

    Example:
        >>> check_of(TenantId).name, check_of(str)
        ('TenantId', None)
    """
    if typing.get_origin(annotation) is Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, Check):
                return meta
    return None


def _text(value: Any, field: str) -> str:
    return check_comment(value, field)


def as_given(value: Any, field: str) -> Any:
    """The check of a type whose values the callee checks in context: none here."""
    return value


#: no length bound of its own: the endpoint that takes the text bounds it
_UNBOUNDED = 1 << 62


def _ranged(low: int | None = None, high: int | None = None) -> Callable[[Any, str], int]:
    return lambda v, f: check_int(v, f, low, high)


E = TypeVar("E", bound=Enum)

#: an incident id's check, carried as a ``CheckedIncidentId`` (its number)
_carried_incident = carry(check_incident_id, CheckedIncidentId)

# -- identifiers --------------------------------------------------------------------------------
#: an Entra ID tenant (a GUID), passed on as given, as a ``CheckedGuid`` that no later check
#: examines again
TenantId = Annotated[str, Check("TenantId", carry(check_guid, CheckedGuid), passes_checked=True)]
#: a Defender for Endpoint machine id: 40 hexadecimal characters, passed on as given, as a
#: ``CheckedMachineId`` that no later check examines again
MachineId = Annotated[
    str, Check("MachineId", carry_machine_id, passes_checked=True, empty_is_unset=True)
]
#: a Defender XDR incident id: a positive integer, passed on as a ``CheckedIncidentId`` that no
#: later check examines again
IncidentId = Annotated[
    int, Check("IncidentId", _carried_incident, passes_checked=True, empty_is_unset=True)
]
#: a Defender alert id (letters, digits, ``_ - . :``), passed on as given, as a
#: ``CheckedAlertId`` that no later check examines again
AlertId = Annotated[
    str,
    Check(
        "AlertId", carry(check_alert_id, CheckedAlertId), passes_checked=True, empty_is_unset=True
    ),
]
#: a SHA-1 file hash
Sha1 = Annotated[str, Check("Sha1", check_sha1)]
#: a SHA-1 or SHA-256 file hash
FileHash = Annotated[str, Check("FileHash", lambda v, f: check_hash(v, f, ("sha1", "sha256")))]
#: an IPv4 or IPv6 address
IpAddress = Annotated[str, Check("IpAddress", check_ip)]
#: a DNS domain name
Domain = Annotated[str, Check("Domain", check_domain)]
#: an account's SAM name (``jdoe``)
AccountName = Annotated[str, Check("AccountName", check_sam_name)]
#: an SMTP address (``user@example.com``)
EmailAddress = Annotated[str, Check("EmailAddress", check_email)]
#: a SHA-1 where an endpoint takes nothing else (a SHA-256 or MD5 is named as such)
FileSha1 = Annotated[str, Check("FileSha1", check_sha1_only)]
#: a user principal name (``jdoe@contoso.com``), passed on as given, as a ``CheckedUpn``
Upn = Annotated[str, Check("Upn", carry(check_upn, CheckedUpn), passes_checked=True)]
#: an Entra ID user: object id (GUID) or user principal name, passed on as given, as a
#: ``CheckedGuid`` or ``CheckedUpn`` that no later check examines again
UserRef = Annotated[
    str, Check("UserRef", carry(check_user_ref, user_ref_kind), passes_checked=True)
]

# -- choices -----------------------------------------------------------------------------------
#: one of an enum's values, or other text of at most 4,000 characters (Microsoft adds values)
OpenChoice = Annotated[E | str, Check("OpenChoice", _text)]

# -- text ---------------------------------------------------------------------------------------
#: free text sent to Defender: no control characters (its length is bounded by the endpoint)
Text = Annotated[str, Check("Text", lambda v, f: check_comment(v, f, _UNBOUNDED))]
#: the comment of a machine action (required; room left for the client's correlation reference)
ActionComment = Annotated[str, Check("ActionComment", lambda v, f: action_comment(v))]
#: the comment an automated investigation is started with (required)
InvestigationComment = Annotated[str, Check("InvestigationComment", check_investigation_comment)]
#: free text that must not be empty
RequiredText = Annotated[
    str, Check("RequiredText", lambda v, f: check_required_text(v, f, _UNBOUNDED))
]
#: a value compared in an OData filter (escaped when sent, never refused for its content)
FilterText = Annotated[str, Check("FilterText", check_comment)]
#: a raw OData ``$filter`` expression (non-empty, bounded)
ODataFilterText = Annotated[str, Check("ODataFilterText", check_odata_filter)]
#: an advanced hunting (KQL) query
KqlQuery = Annotated[str, Check("KqlQuery", check_query)]
#: an ISO 8601 duration such as ``P7D`` (Graph hunting's ``Timespan``)
Timespan = Annotated[
    str, Check("Timespan", as_given, in_context="the hunting client, which takes it on Graph only")
]
#: a local file path to write to
LocalPath = Annotated[str, Check("LocalPath", check_local_path)]

# -- numbers ------------------------------------------------------------------------------------
#: how many items at most (0 or more)
Limit = Annotated[int, Check("Limit", _ranged(0))]
#: how many items at most, at least 1
PositiveLimit = Annotated[int, Check("PositiveLimit", _ranged(1))]
#: how many calls at once (1 to 100)
Concurrency = Annotated[int, Check("Concurrency", _ranged(1, 100))]
#: a position in a list (0 or more)
Index = Annotated[int, Check("Index", _ranged(0))]
#: days to look back (1 to 30)
LookbackDays = Annotated[int, Check("LookbackDays", _ranged(1, 30))]
#: hours to look back (1 to 720)
LookBackHours = Annotated[int, Check("LookBackHours", _ranged(1, 720))]
#: how many items to sample (1 to 1,000)
Sample = Annotated[int, Check("Sample", _ranged(1, 1000))]
#: items asked per page (1 or more)
PageSize = Annotated[int, Check("PageSize", _ranged(1))]
#: a duration in seconds, greater than 0
Seconds = Annotated[float, Check("Seconds", lambda v, f: check_number(v, f, positive=True))]
#: a CVSS score, 0 to 10
Cvss = Annotated[float, Check("Cvss", lambda v, f: check_number(v, f, 0, 10))]


# -- more identifiers and names -----------------------------------------------------------------
#: a machine action id (a GUID)
ActionId = Annotated[str, Check("ActionId", check_guid)]
#: a machine id (40 hex) or a computer DNS name
MachineRef = Annotated[str, Check("MachineRef", check_machine_ref)]
#: an Entra ID user's object id (a GUID; not a user principal name)
UserObjectId = Annotated[str, Check("UserObjectId", lambda v, f: check_user_ref(v, f, upn=False))]
#: a custom indicator id (digits)
IndicatorId = Annotated[str, Check("IndicatorId", check_indicator_id)]
#: an automated investigation id (or the alert id that started it)
InvestigationId = Annotated[str, Check("InvestigationId", check_investigation_id)]
#: a custom detection rule id
RuleId = Annotated[str, Check("RuleId", check_rule_id)]
#: a software id (``vendor-_-name``)
SoftwareId = Annotated[str, Check("SoftwareId", check_software_id)]
#: a vulnerability id (``CVE-2024-12345``)
VulnerabilityId = Annotated[str, Check("VulnerabilityId", check_vulnerability_id)]
#: an identifier Microsoft hands out (letters, digits, ``-_.``)
OpaqueId = Annotated[str, Check("OpaqueId", check_opaque_id)]
#: a live response library file name (no path)
LibraryFileName = Annotated[str, Check("LibraryFileName", check_library_name)]
#: a machine tag (non-empty, at most 200 characters)
Tag = Annotated[str, Check("Tag", lambda v, f: MachinesAPI.check_tag(v, f))]
#: tags of an incident or alert (at most 50, each non-empty)
Tags = Annotated[list[str], Check("Tags", check_tags)]
#: short free text (an owner, an assignee): at most 256 characters
ShortText = Annotated[str, Check("ShortText", lambda v, f: check_comment(v, f, 256))]


# -- more text and numbers ----------------------------------------------------------------------
#: text a live response command takes (arguments, a path on the machine): at most 2,000 characters
LiveResponseText = Annotated[str, Check("LiveResponseText", lambda v, f: check_comment(v, f, 2000))]
#: hours a Sigma hunt looks back (1 to 720)
HuntLookbackHours = Annotated[int, Check("HuntLookbackHours", check_lookback)]


def check_positive_timedelta(value: Any, field: str) -> timedelta:
    """A ``timedelta`` longer than zero."""
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise fail(field, f"expected a positive timedelta, got {str(value)[:40]!r}")
    return value


def check_existing_file(value: Any, field: str) -> str:
    """The path of an existing local file."""
    text_of(value, field)
    if not Path(value).is_file():
        raise fail(field, f"{value!r} is not a file")
    return str(value)


def check_strict_bool(value: Any, field: str) -> bool:
    """``True`` or ``False`` itself (no other value read as one)."""
    if not isinstance(value, bool):
        raise fail(field, "true or false")
    return value


def check_writable_storage(value: Any, field: str) -> Any:
    """A Prefect filesystem block (anything with ``write_path``)."""
    if not callable(getattr(value, "write_path", None)):
        raise fail(field, "expected a Prefect filesystem block (with write_path)")
    return value


#: a time window before now, longer than zero
Lookback = Annotated[timedelta, Check("Lookback", check_positive_timedelta)]
#: an existing local file to upload
ExistingFile = Annotated[str, Check("ExistingFile", check_existing_file)]
#: ``True`` or ``False`` only (a flag the call sends as it is)
StrictBool = Annotated[bool, Check("StrictBool", check_strict_bool)]
#: a Prefect filesystem block (``write_path``) to store files in
WritableStorage = Annotated[Any, Check("WritableStorage", check_writable_storage)]


# -- types the callee checks with its other arguments (``in_context``) ---------------------------
#: a Machine action status (Pending, InProgress ...), any case
MachineActionStatus = Annotated[
    str, Check("MachineActionStatus", _text, in_context="the machine actions client")
]
#: an indicator action as listed (Alert, Block, Allowed ... and the legacy spellings)
IndicatorListAction = Annotated[
    str, Check("IndicatorListAction", _text, in_context="the indicators client")
]
#: an identity risk level (low, medium, high, hidden, none)
RiskLevel = Annotated[
    str, Check("RiskLevel", as_given, in_context="the identity protection client")
]
#: an identity risk state (atRisk, confirmedCompromised ...)
RiskState = Annotated[
    str, Check("RiskState", as_given, in_context="the identity protection client")
]
#: what an e-mail remediation does (moveToJunk, softDelete ...; new Graph values accepted)
EmailRemediationAction = Annotated[
    str, Check("EmailRemediationAction", _text, in_context="the e-mail remediation model")
]
#: an e-mail remediation's severity (low, medium, high; new Graph values accepted)
EmailRemediationSeverity = Annotated[
    str, Check("EmailRemediationSeverity", as_given, in_context="the e-mail remediation model")
]
#: the explicit opt-in to a Microsoft Graph beta API
BetaOptIn = Annotated[
    bool, Check("BetaOptIn", as_given, in_context="the task, which names the beta API")
]
#: a detection rule's schedule (ISO 8601 duration, 1 hour or more ...)
RuleFrequency = Annotated[
    str, Check("RuleFrequency", as_given, in_context="the task, for each rule it creates")
]
#: a detection rule's status (enabled, disabled)
RuleStatus = Annotated[
    str, Check("RuleStatus", as_given, in_context="the task, for each rule it creates")
]
#: a detection rule's automated actions (``automatedActionSet``), columns of the rule's query
AutomatedActions = Annotated[
    dict[str, Any],
    Check("AutomatedActions", as_given, in_context="the task, against each rule's query columns"),
]
#: the id an alert is created by reference with
ReportId = Annotated[str, Check("ReportId", as_given, in_context="the alerts client")]
#: a local key that makes a playbook's re-run idempotent (written into each comment)
RunKey = Annotated[str, Check("RunKey", as_given, in_context="the comment it is written into")]
#: the options of the action types of a plan (each action type takes its own)
ActionOptions = Annotated[
    dict[str, Any], Check("ActionOptions", as_given, in_context="the plan, per action type")
]
#: one option of a machine action (``isolation_type``, ``scan_type``, ``sha1``)
ActionOption = Annotated[
    Any, Check("ActionOption", as_given, in_context="the action's own options")
]
#: investigation package file names and the actions they come from
PackageFiles = Annotated[
    dict[str, str], Check("PackageFiles", as_given, in_context="the task (names, action ids)")
]
#: IOC values of the kind the hunt is given (hashes, IPs, domains ...)
IocValues = Annotated[
    list[str], Check("IocValues", as_given, in_context="the hunt, as its kind of indicator")
]
#: items of a bulk lookup: a bad one ends as its own failed outcome, not a refusal
BulkItems = Annotated[
    list[str], Check("BulkItems", as_given, in_context="the task, item by item (one outcome each)")
]
#: Entra ID users (object ids, or UPNs where the endpoint takes them)
UserRefs = Annotated[
    list[str], Check("UserRefs", as_given, in_context="the task, as its endpoint takes users")
]
#: named KQL queries
KqlQueries = Annotated[
    dict[str, str], Check("KqlQueries", as_given, in_context="the task, query by query")
]
#: live response commands (``RunScript``, ``GetFile`` ...)
LiveCommands = Annotated[
    list[dict[str, Any]], Check("LiveCommands", as_given, in_context="the live response model")
]
#: a catalog endpoint name (``mde.machines.get``)
EndpointName = Annotated[
    str, Check("EndpointName", as_given, in_context="the task, with its path parameters")
]
#: the path parameters of a catalog endpoint
PathParams = Annotated[
    dict[str, Any], Check("PathParams", as_given, in_context="the task, against its endpoint")
]
#: query parameters of a catalog endpoint (``$filter``, ``$top`` ...)
QueryParams = Annotated[
    dict[str, Any], Check("QueryParams", as_given, in_context="the task, against the endpoint")
]
#: a request body for a catalog endpoint
RequestBody = Annotated[
    dict[str, Any] | list[Any], Check("RequestBody", as_given, in_context="the task (writes only)")
]

# -- playbook parameters ---------------------------------------------------------------------------
#: a saved Prefect block, ``<block-type-slug>/<name>``
BlockRef = Annotated[
    str, Check("BlockRef", as_given, in_context="the playbook, which loads it from the Prefect API")
]
#: a saved Prefect filesystem block to store files in, ``<block-type-slug>/<name>``
StorageBlockRef = Annotated[
    str, Check("StorageBlockRef", as_given, in_context="the playbook, which loads it to store")
]
#: a Prefect deployment, ``<flow>/<deployment>``
DeploymentRef = Annotated[
    str, Check("DeploymentRef", as_given, in_context="the playbook, which reads it from Prefect")
]
#: a Defender XDR incident id as a form gives it: a positive integer, or its digits; the
#: playbook gets its number, a ``CheckedIncidentId`` that no later check examines again
IncidentRef = Annotated[
    int | str, Check("IncidentId", _carried_incident, passes_checked=True, empty_is_unset=True)
]
#: a number the playbook uses itself (a wait, a local bound, a window), never sent
LocalInt = Annotated[int, Check("LocalInt", as_given, in_context="the playbook itself")]
#: a number of seconds the playbook waits itself, never sent
LocalFloat = Annotated[float, Check("LocalFloat", as_given, in_context="the playbook itself")]
#: a Prefect variable name
VariableName = Annotated[str, Check("VariableName", as_given, in_context="the Prefect API")]
#: a local folder or file the playbook reads or writes
LocalFile = Annotated[
    str, Check("LocalFile", as_given, in_context="the playbook, when it opens it")
]
#: Sigma rules (files or YAML texts), parsed before any hunt
SigmaSources = Annotated[
    list[str], Check("SigmaSources", as_given, in_context="the Sigma parser, before any hunt")
]
#: indicators as a form gives them: each is checked when it is made (a bad one is its own outcome)
IndicatorSpecs = Annotated[
    list[dict[str, Any]], Check("IndicatorSpecs", as_given, in_context="the task, item by item")
]
