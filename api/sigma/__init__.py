"""Sigma rules to Defender advanced hunting KQL, checked before anything is sent.

Conversion uses pySigma with ``pysigma-backend-kusto`` and its Microsoft XDR pipeline, with
three corrections of known faults of the stock backend (``shared/reference/kql-sigma.md``):

* a wildcard in the middle of a value (``urlcache*split``) becomes an anchored,
  **case-insensitive** ``matches regex "(?is)^...$"``; the stock backend writes a
  case-sensitive, unanchored regex, which misses ``URLCache`` although Sigma matching is
  case-insensitive;
* wildcard values in a value list stay separate ``startswith``/``endswith``/``contains``/regex
  tests; the stock backend splits ``\\cert*util.exe`` into two unordered ``contains``;
* ``field|all: [a, b]`` becomes ``=~ a and =~ b`` instead of ``has_all`` (a whole-term match),
  and ``field: null`` becomes ``isempty()`` (Defender strings are empty, never null).

What cannot be converted faithfully is refused with its reason, never dropped: keyword rules
(``| where "mimikatz"`` is not KQL), unmapped fields and log sources
(``SigmaTransformationError``), ``|cased``, correlation rules and the retired ``| count()``
pipe, and queries in which the backend left a literal ``*`` in a plain string comparison (it
does so for registry values ending in a backslash).

Every converted query is then checked locally: KQL syntax (duckdb-kql), the case of table and
column names against Defender's schema (Advanced Hunting resolves names case-sensitively), and
a run of the hunt query over a null row of each table, with Defender's columns and types.

Example:
    >>> rule = '''
    ... title: Encoded PowerShell
    ... id: 4a6e0b8f-5c3e-4d47-9d0e-2b1f6c9a7e01
    ... level: high
    ... logsource: {category: process_creation, product: windows}
    ... detection:
    ...   sel:
    ...     Image|endswith: '\\powershell.exe'
    ...     CommandLine|contains: ' -enc '
    ...   condition: sel
    ... '''
    >>> [c] = convert_rules(load_rule_sources(texts=[rule]))
    >>> c.status.value, c.table
    ('converted', 'DeviceProcessEvents')
    >>> print(c.kql)
    DeviceProcessEvents
    | where FolderPath endswith "\\powershell.exe" and ProcessCommandLine contains " -enc "

The package is the public face; its parts (``_convert``, ``_backend``, ``_local``, ``_rules``,
``_sources``) are private.
"""

from __future__ import annotations

from prefect_defender.api.sigma._backend import (
    RULE_NAMESPACE,
    backend_fixes,
    has_literal_star,
    hunt_copy,
    keyword_values,
    kusto_backends,
    literal_star_comparisons,
    rule_id,
    rule_level,
)
from prefect_defender.api.sigma._convert import (
    ConversionStatus,
    SigmaConversion,
    content_hash,
    convert_rules,
    hunt_query,
)
from prefect_defender.api.sigma._local import (
    DEFENDER_ONLY_FUNCTIONS,
    KQL_STRING,
    LocalSchema,
    check_query_locally,
    short_reason,
)
from prefect_defender.api.sigma._rules import (
    SIGMA_SEVERITY,
    detection_rule_from_sigma,
    sigma_tactics,
)
from prefect_defender.api.sigma._sources import (
    MAX_LOOKBACK_HOURS,
    MAX_RULE_BYTES,
    MAX_RULES,
    RULE_SUFFIXES,
    RuleSource,
    check_lookback,
    load_rule_sources,
)

__all__ = [
    "DEFENDER_ONLY_FUNCTIONS",
    "KQL_STRING",
    "MAX_LOOKBACK_HOURS",
    "MAX_RULES",
    "MAX_RULE_BYTES",
    "RULE_NAMESPACE",
    "RULE_SUFFIXES",
    "SIGMA_SEVERITY",
    "ConversionStatus",
    "LocalSchema",
    "RuleSource",
    "SigmaConversion",
    "backend_fixes",
    "check_lookback",
    "check_query_locally",
    "content_hash",
    "convert_rules",
    "detection_rule_from_sigma",
    "has_literal_star",
    "hunt_copy",
    "hunt_query",
    "keyword_values",
    "kusto_backends",
    "literal_star_comparisons",
    "load_rule_sources",
    "rule_id",
    "rule_level",
    "short_reason",
    "sigma_tactics",
]
