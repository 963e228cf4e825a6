"""The parts of a Graph v1.0 custom detection rule that hold structure: the schedule's
``frequency``, the alert's MITRE ``tactics`` and ``entityMappings``, and the rule's
``automatedActions``; each checked before anything is sent.

Sources (Microsoft Graph, read December 2026):

* v1.0 https://learn.microsoft.com/graph/api/resources/security-detectionrule?view=graph-rest-1.0
  and https://learn.microsoft.com/graph/api/security-rulesroot-post-detectionrules?view=graph-rest-1.0
  (required on create: ``id``, ``displayName``, ``queryCondition``, ``schedule``,
  ``detectionAction``; ``status`` enabled/disabled);
* v1.0 https://learn.microsoft.com/graph/api/resources/security-automatedaction?view=graph-rest-1.0
  (derived types ``accountObjectIdAction``, ``accountSidAction``, ``deviceAction``,
  ``emailAction``, ``fileAction``, ``isolateDeviceAction``, ``stopAndQuarantineFileAction``) and
  https://learn.microsoft.com/graph/api/resources/security-isolatedeviceaction?view=graph-rest-1.0
  (``deviceIdColumn``, ``isolationType`` full/selective);
* the ``automatedActionSet``, ``entityMappingConfiguration``, ``ruleSchedule``, ``alertTemplate``,
  ``mitreTactic`` and ``mitreTechnique`` pages were readable in their beta view only
  (``?view=graph-rest-beta``, 2026-06-20), which shows the v1.0 shape plus the properties removed
  on 2026-10-01 (``schedule.period``/``nextRunDateTime``, ``alertTemplate.category``,
  ``mitreTechniques``, ``impactedAssets``, ``detectionAction.responseActions``,
  ``isEnabled``); the collections below are theirs.

Graph's column-name values are the names of the rule query's result columns, so they must be
plain identifiers; the query must return them (the service checks that, not us).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from prefect_defender.api.validation import fail as _fail

__all__ = [
    "ACTION_COLUMNS",
    "ENTITY_MAPPINGS",
    "ISOLATION_TYPES",
    "MAX_FREQUENCY",
    "check_automated_actions",
    "check_entity_mappings",
    "check_frequency",
    "check_tactics",
]

#: automatedActionSet: each collection and the columns its action type documents
#: (fileAction: sha1Column, sha256Column, deviceGroupNames; deviceAction: deviceIdColumn;
#: isolateDeviceAction adds isolationType; accountSidAction: accountSidColumn;
#: accountObjectIdAction: accountObjectIdColumn; emailAction: networkMessageIdColumn,
#: recipientColumn; stopAndQuarantineFileAction: deviceIdColumn, sha1Column)
ACTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "allowFiles": ("sha1Column", "sha256Column"),
    "blockFiles": ("sha1Column", "sha256Column"),
    "collectInvestigationPackages": ("deviceIdColumn",),
    "disableUsers": ("accountSidColumn",),
    "forceUserPasswordResets": ("accountSidColumn",),
    "hardDeleteEmails": ("networkMessageIdColumn", "recipientColumn"),
    # listed by the automatedActionSet page; Message Center MC1411577 ended AIR as a separate,
    # manually started investigation on 1 September 2026, so this action may no longer run
    "initiateInvestigations": ("deviceIdColumn",),
    "isolateDevices": ("deviceIdColumn",),
    "markUsersAsCompromised": ("accountObjectIdColumn",),
    "moveEmailsToDeletedItems": ("networkMessageIdColumn", "recipientColumn"),
    "moveEmailsToInbox": ("networkMessageIdColumn", "recipientColumn"),
    "moveEmailsToJunk": ("networkMessageIdColumn", "recipientColumn"),
    "restrictAppExecutions": ("deviceIdColumn",),
    "runAntivirusScans": ("deviceIdColumn",),
    "softDeleteEmails": ("networkMessageIdColumn", "recipientColumn"),
    "stopAndQuarantineFiles": ("deviceIdColumn", "sha1Column"),
}
#: the file actions take a list of device group names too
_FILE_ACTIONS = {"allowFiles", "blockFiles"}
#: isolateDeviceAction.isolationType (the page adds the unknownFutureValue sentinel)
ISOLATION_TYPES = ("full", "selective")
#: entityMappingConfiguration's collections
ENTITY_MAPPINGS = frozenset(
    {
        "accounts",
        "amazonResources",
        "azureResources",
        "cloudApplications",
        "dns",
        "files",
        "googleCloudResources",
        "hosts",
        "ips",
        "mailboxes",
        "mailClusters",
        "mailMessages",
        "oAuthApplications",
        "processes",
        "registryValues",
        "securityGroups",
        "urls",
    }
)
#: hunting data goes back 30 days: a rule that runs less often never sees all of it
MAX_FREQUENCY = timedelta(days=30)

_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
_SHORT = re.compile(r"^(\d+)\s*([MHD])$")
_TACTIC = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_TECHNIQUE = re.compile(r"^T[0-9]{4}$")
_SUB_TECHNIQUE = re.compile(r"^(T[0-9]{4})\.[0-9]{3}$")


def _iso(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if not rest:
        return f"P{days}D"
    time = (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return (f"P{days}D" if days else "P") + "T" + time


def check_frequency(value: Any, field: str = "frequency") -> str:
    """``schedule.frequency``: an ISO 8601 duration (``PT1H``, ``P1D``) between a minute and
    30 days, as Graph spells it. ``1h``, ``3H``, ``24h`` and a ``timedelta`` are accepted too.

    Examples:
        >>> check_frequency("1h"), check_frequency("24H"), check_frequency("PT90M")
        ('PT1H', 'P1D', 'PT1H30M')
    """
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, str):
        text = value.strip().upper()
        short = _SHORT.match(text)
        iso = _DURATION.match(text)
        if short:
            n, unit = int(short.group(1)), short.group(2)
            delta = timedelta(**{{"M": "minutes", "H": "hours", "D": "days"}[unit]: n})
        elif iso and text not in ("P", "PT") and not text.endswith("T"):
            days, hours, mins = (int(g or 0) for g in iso.groups())
            delta = timedelta(days=days, hours=hours, minutes=mins)
        else:
            raise _fail(field, f"{value[:30]!r} is not an ISO 8601 duration such as PT1H or P1D")
    else:
        raise _fail(field, "expected an ISO 8601 duration such as PT1H or P1D")
    if delta < timedelta(minutes=1) or delta > MAX_FREQUENCY or delta.total_seconds() % 60:
        raise _fail(field, "must be whole minutes, at least one minute and at most 30 days (P30D)")
    return _iso(delta)


def _column(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _COLUMN.match(value):
        raise _fail(field, f"{str(value)[:40]!r} is not a column name of the rule's query")
    return value


def _objects(items: Any, field: str) -> list[Mapping[str, Any]]:
    if isinstance(items, Mapping | str) or not isinstance(items, Iterable):
        raise _fail(field, "expected a list of objects")
    out = list(items)
    for i, item in enumerate(out):
        if not isinstance(item, Mapping):
            raise _fail(f"{field}[{i}]", "expected an object")
    return out


def _action(name: str, item: Mapping[str, Any], field: str) -> dict[str, Any]:
    columns = ACTION_COLUMNS[name]
    allowed = set(columns) | {"@odata.type"}
    if name in _FILE_ACTIONS:
        allowed.add("deviceGroupNames")
    if name == "isolateDevices":
        allowed.add("isolationType")
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise _fail(field, f"{unknown[0]!r} is not a property of this action ({sorted(allowed)})")
    out: dict[str, Any] = {}
    for col in columns:
        if item.get(col) is not None:
            out[col] = _column(item[col], f"{field}.{col}")
    if not out:
        raise _fail(field, f"names no column: give {' or '.join(columns)}")
    if name == "isolateDevices":
        kind = str(item.get("isolationType") or "full").strip().lower()
        if kind not in ISOLATION_TYPES:
            raise _fail(f"{field}.isolationType", f"{kind[:20]!r} is not one of: full, selective")
        out["isolationType"] = kind
    if "deviceGroupNames" in item:
        groups = item["deviceGroupNames"]
        if isinstance(groups, str) or not isinstance(groups, Iterable):
            raise _fail(f"{field}.deviceGroupNames", "expected a list of device group names")
        out["deviceGroupNames"] = [str(g) for g in groups]
    return out


def check_automated_actions(value: Any, field: str = "automated_actions") -> dict[str, Any]:
    """``detectionAction.automatedActions``: an object of the documented collections, each a
    list of actions naming the query's columns (``{"isolateDevices": [{"deviceIdColumn":
    "DeviceId", "isolationType": "full"}]}``). Unknown collections or properties are refused.
    """
    if not isinstance(value, Mapping):
        raise _fail(field, "expected an object such as {'isolateDevices': [...]}")
    out: dict[str, Any] = {}
    for name, items in value.items():
        if name == "@odata.type":
            continue
        if name not in ACTION_COLUMNS:
            raise _fail(
                field,
                f"{str(name)[:40]!r} is not an automated action ({', '.join(ACTION_COLUMNS)})",
            )
        where = f"{field}.{name}"
        actions = [_action(name, a, f"{where}[{i}]") for i, a in enumerate(_objects(items, where))]
        if actions:
            out[name] = actions
    return out


def check_entity_mappings(value: Any, field: str = "entity_mappings") -> dict[str, Any]:
    """``alertTemplate.entityMappings``: the documented collections (``hosts``, ``accounts``,
    ``files`` ...), each a list of ``{"<property>Column": "<query column>"}`` objects."""
    if not isinstance(value, Mapping):
        raise _fail(field, "expected an object such as {'hosts': [{'deviceIdColumn': 'DeviceId'}]}")
    out: dict[str, Any] = {}
    for name, items in value.items():
        if name == "@odata.type":
            continue
        if name not in ENTITY_MAPPINGS:
            raise _fail(field, f"{str(name)[:40]!r} is not an entity mapping collection")
        where = f"{field}.{name}"
        mapped = []
        for i, item in enumerate(_objects(items, where)):
            cols = {k: v for k, v in item.items() if k != "@odata.type"}
            if not cols or not all(isinstance(k, str) and k.endswith("Column") for k in cols):
                raise _fail(f"{where}[{i}]", "expected '<property>Column' keys naming columns")
            mapped.append({k: _column(v, f"{where}[{i}].{k}") for k, v in cols.items()})
        if mapped:
            out[name] = mapped
    return out


def _technique(value: Any, field: str) -> dict[str, Any]:
    """A technique as the mitreTechnique page spells it: ``T1059`` with ``subTechniques``."""
    text = value.strip().upper() if isinstance(value, str) else ""
    sub = _SUB_TECHNIQUE.match(text)
    if sub:
        return {"technique": sub.group(1), "subTechniques": [text]}
    if _TECHNIQUE.match(text):
        return {"technique": text}
    raise _fail(field, f"{str(value)[:20]!r} is not a MITRE technique (T1234 or T1234.001)")


def _merge(techniques: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for t in techniques:
        have = by_id.setdefault(t["technique"], {"technique": t["technique"]})
        subs = have.setdefault("subTechniques", [])
        subs.extend(s for s in t.get("subTechniques", []) if s not in subs)
        if not subs:
            del have["subTechniques"]
    return list(by_id.values())


def _techniques_of(tactic: Mapping[str, Any]) -> list[Any]:
    """The technique ids of a Graph ``mitreTactic`` object, sub-techniques included."""
    out: list[Any] = []
    for t in tactic.get("techniques") or []:
        if isinstance(t, Mapping):
            out += [t.get("technique"), *(t.get("subTechniques") or [])]
        else:
            out.append(t)
    return out


def check_tactics(value: Any, field: str = "tactics") -> list[dict[str, Any]]:
    """``alertTemplate.tactics``: MITRE tactics with their techniques, given as
    ``{"Execution": ["T1059.001"]}`` or as Graph's objects (``[{"tactic": "Execution",
    "techniques": [{"technique": "T1059", "subTechniques": ["T1059.001"]}]}]``).

    The mitreTechnique page spells a sub-technique as ``technique`` + ``subTechniques``; the
    create page's example puts ``T1059.001`` in ``technique``. Both are read; the page's
    resource shape is what is sent.

    Examples:
        >>> [t] = check_tactics({"Execution": ["t1059.001", "T1059.003"]})
        >>> t["tactic"], t["techniques"]
        ('Execution', [{'technique': 'T1059', 'subTechniques': ['T1059.001', 'T1059.003']}])
    """
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        pairs = [(item.get("tactic"), _techniques_of(item)) for item in _objects(value, field)]
    out = []
    for i, (tactic, techniques) in enumerate(pairs):
        where = f"{field}[{i}]"
        if not isinstance(tactic, str) or not _TACTIC.match(tactic.strip()):
            raise _fail(where, f"{str(tactic)[:30]!r} is not a MITRE tactic such as Execution")
        if isinstance(techniques, str) or not isinstance(techniques, Iterable):
            raise _fail(where, "expected a list of techniques such as ['T1059.001']")
        parsed = [_technique(t, f"{where}.techniques[{j}]") for j, t in enumerate(techniques)]
        entry: dict[str, Any] = {"tactic": tactic.strip()}
        if parsed:
            entry["techniques"] = _merge(parsed)
        out.append(entry)
    return out
