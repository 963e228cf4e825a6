"""Sigma rules converted to KQL, refused with a reason when they cannot be (see the package)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from prefect_defender.api.errors import ValidationError
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
from prefect_defender.api.sigma._local import LocalSchema, check_query_locally, short_reason
from prefect_defender.api.sigma._sources import (
    RuleSource,
    check_lookback,
)

__all__ = [
    "ConversionStatus",
    "SigmaConversion",
    "content_hash",
    "convert_rules",
    "hunt_query",
]


class ConversionStatus(StrEnum):
    """How converting one rule ended."""

    CONVERTED = "converted"
    #: a valid Sigma rule that Defender KQL cannot express (or the backend would get wrong)
    UNSUPPORTED = "unsupported"
    #: not a Sigma rule: YAML or Sigma syntax errors
    INVALID = "invalid"
    #: a rule whose id was already seen in this batch
    DUPLICATE = "duplicate"


class SigmaConversion(BaseModel):
    """One Sigma rule and its Defender KQL, or why it has none."""

    source: str = Field(description="The file (or rule_texts[i]) the rule came from.")
    rule_id: str = Field(description="The rule's id, or a stable id derived from its content.")
    title: str
    level: str | None = None
    tags: list[str] = Field(default_factory=list)
    status: ConversionStatus
    reason: str | None = Field(default=None, description="Why the rule was not converted.")
    table: str | None = None
    kql: str | None = Field(default=None, description="The rule as a Defender KQL filter.")
    stock_kql: str | None = Field(
        default=None, description="The stock backend's output, when ours differs from it."
    )
    fixes: list[str] = Field(default_factory=list, description="Backend faults corrected.")
    warnings: list[str] = Field(default_factory=list)
    validation: str | None = Field(
        default=None, description="How the query was checked: 'schema+engine' or 'syntax'."
    )

    @property
    def ok(self) -> bool:
        """True when the rule has a query to run."""
        return self.status is ConversionStatus.CONVERTED and self.kql is not None


# --------------------------------------------------------------------------- conversion


def _convert_one(rule: Any, label: str, text: str, schema: LocalSchema) -> SigmaConversion:
    base: dict[str, Any] = {
        "source": label,
        "rule_id": rule_id(rule, text),
        "title": str(getattr(rule, "title", "") or "(untitled)"),
        "level": rule_level(rule),
        "tags": [str(t) for t in getattr(rule, "tags", None) or []],
    }
    refused = _refused_before_conversion(rule, base)
    if refused is not None:
        return refused
    ours_backend, stock_backend = kusto_backends()
    try:
        # conversion applies the pipeline to the rule in place: convert copies
        queries = ours_backend.convert_rule(hunt_copy(rule))
    except NotImplementedError as exc:
        return _unsupported(base, f"not supported: {short_reason(exc)}")
    except Exception as exc:
        return _unsupported(base, f"{type(exc).__name__}: {short_reason(exc)}")
    if not queries:
        return _unsupported(base, "the backend produced no query")
    kql = queries[0] if len(queries) == 1 else "union " + ", ".join(f"({q})" for q in queries)
    try:
        stock_queries = stock_backend.convert_rule(hunt_copy(rule))
        stock = stock_queries[0] if len(stock_queries) == 1 else None
    except Exception:
        stock = None
    info: dict[str, Any] = {
        **base,
        "table": kql.split("\n", 1)[0].strip() if not kql.startswith("union ") else None,
        "kql": kql,
        "stock_kql": stock if stock is not None and stock != kql else None,
        "fixes": backend_fixes(kql, stock),
    }
    return _checked(rule, kql, info, schema)


def _unsupported(base: dict[str, Any], reason: str, **more: Any) -> SigmaConversion:
    return SigmaConversion(**base, status=ConversionStatus.UNSUPPORTED, reason=reason, **more)


def _refused_before_conversion(rule: Any, base: dict[str, Any]) -> SigmaConversion | None:
    """The entry of a rule that is not converted at all: invalid, a correlation, keywords."""
    from sigma.correlations import SigmaCorrelationRule

    errors = list(getattr(rule, "errors", None) or [])
    if errors:
        return SigmaConversion(
            **base,
            status=ConversionStatus.INVALID,
            reason="; ".join(short_reason(e) for e in errors),
        )
    if isinstance(rule, SigmaCorrelationRule):
        return _unsupported(
            base,
            "Sigma correlation rules are not converted (the Kusto backend has no "
            "correlation support); their base rules are converted on their own",
        )
    keywords = keyword_values(rule)
    if keywords:
        return _unsupported(
            base,
            f"keyword search ({', '.join(repr(k) for k in keywords[:3])}): Defender KQL "
            "has no search over every column; name the fields in the rule",
        )
    return None


def _checked(rule: Any, kql: str, info: dict[str, Any], schema: LocalSchema) -> SigmaConversion:
    """The converted entry, or an unsupported one (without its query) when the query keeps a
    literal ``*`` the rule did not ask for, or fails the local check."""
    stars = literal_star_comparisons(kql)
    if stars and not has_literal_star(rule):
        return _unsupported(
            {**info, "kql": None},
            f"the backend left a literal '*' in a plain comparison ({stars[0]}), which "
            "KQL does not treat as a wildcard (a value ending in a backslash before a "
            "wildcard, common in registry rules): rewrite that value",
        )
    problem, validation, warnings = check_query_locally(hunt_query(kql, 24), schema)
    if problem:
        return _unsupported(
            {**info, "kql": None},
            f"the converted query fails local validation: {problem}",
            warnings=warnings,
        )
    return SigmaConversion(
        **info, status=ConversionStatus.CONVERTED, validation=validation, warnings=warnings
    )


#: YAML aliases one rule text may hold: Sigma rules have no use for many, and a few dozen
#: nested ones ("billion laughs") make every walk over the parsed rule exponential
MAX_YAML_ALIASES = 16


def yaml_alias_count(text: str) -> int:
    """How many ``*alias`` references ``text`` holds (a linear token scan, nothing expanded).

    Examples:
        >>> yaml_alias_count("a: &x [1]\\nb: *x\\nc: *x")
        2
    """
    import yaml

    try:
        return sum(isinstance(t, yaml.AliasToken) for t in yaml.scan(text))
    except yaml.YAMLError:
        return 0  # not YAML at all: the Sigma parser reports that


def convert_rules(sources: Sequence[RuleSource]) -> list[SigmaConversion]:
    """One :class:`SigmaConversion` per rule in ``sources``, in order; nothing is dropped.

    A text that is not YAML, YAML that is not a Sigma rule, or a text with more than
    :data:`MAX_YAML_ALIASES` aliases (an alias bomb) gives one ``invalid`` entry; a second rule
    with an id already seen gives a ``duplicate`` entry.

    Example:
        ```python
        from prefect_defender.api.sigma import convert_rules, load_rule_sources

        for c in convert_rules(load_rule_sources(["examples/sigma"])):
            print(c.status, c.title, c.reason or c.kql)
        ```
    """
    schema = LocalSchema()
    out: list[SigmaConversion] = []
    first_seen: dict[str, str] = {}
    try:
        for src in sources:
            rules = _parse_rules(src)
            if isinstance(rules, SigmaConversion):
                out.append(rules)
                continue
            for rule in rules:
                conv = _convert_one(rule, src.label, src.text, schema)
                out.append(_unless_seen(conv, first_seen, src.label))
    finally:
        schema.close()
    return out


def _parse_rules(src: RuleSource) -> list[Any] | SigmaConversion:
    """The Sigma rules of one source, or the ``invalid`` entry that stands for the source."""
    from sigma.collection import SigmaCollection

    aliases = yaml_alias_count(src.text)
    if aliases > MAX_YAML_ALIASES:
        return _invalid_source(
            src,
            "(refused)",
            f"refused: {aliases} YAML aliases (at most {MAX_YAML_ALIASES}); "
            "alias expansion could take unbounded time",
        )
    try:
        rules = list(SigmaCollection.from_yaml(src.text, collect_errors=True).rules)
    except Exception as exc:
        return _invalid_source(
            src, "(unreadable)", f"not a Sigma rule: {type(exc).__name__}: {short_reason(exc)}"
        )
    return rules or _invalid_source(src, "(empty)", "no Sigma rule in this text")


def _invalid_source(src: RuleSource, title: str, reason: str) -> SigmaConversion:
    return SigmaConversion(
        source=src.label,
        rule_id=str(uuid.uuid5(RULE_NAMESPACE, src.text)),
        title=title,
        status=ConversionStatus.INVALID,
        reason=reason,
    )


def _unless_seen(conv: SigmaConversion, first_seen: dict[str, str], label: str) -> SigmaConversion:
    """``conv``, or a ``duplicate`` entry when a valid rule with its id came earlier."""
    if conv.rule_id in first_seen and conv.status is not ConversionStatus.INVALID:
        return conv.model_copy(
            update={
                "status": ConversionStatus.DUPLICATE,
                "reason": f"rule id {conv.rule_id} already came from {first_seen[conv.rule_id]}",
                "kql": None,
            }
        )
    first_seen.setdefault(conv.rule_id, label)
    return conv


# --------------------------------------------------------------------------- queries


def hunt_query(kql: str, lookback_hours: int) -> str:
    """The query a hunt runs: the rule's filter over ``lookback_hours``, summarised per device.

    Columns: ``DeviceId``, ``DeviceName``, ``Hits``, ``FirstSeen``, ``LastSeen``.

    Example:
        >>> print(hunt_query('DeviceInfo\\n| where OSPlatform =~ "Windows11"', 24))
        DeviceInfo
        | where OSPlatform =~ "Windows11"
        | where Timestamp > ago(24h)
        | summarize Hits=count(), FirstSeen=min(Timestamp), LastSeen=max(Timestamp)
            by DeviceId, DeviceName
        | order by Hits desc
    """
    hours = check_lookback(lookback_hours)
    if not isinstance(kql, str) or not kql.strip():
        raise ValidationError("kql: a converted query is required", field="kql")
    return (
        f"{kql.rstrip()}\n| where Timestamp > ago({hours}h)\n"
        "| summarize Hits=count(), FirstSeen=min(Timestamp), LastSeen=max(Timestamp)\n"
        "    by DeviceId, DeviceName\n| order by Hits desc"
    )


def content_hash(values: Iterable[str]) -> str:
    """A short stable hash of ``values`` (order-insensitive)."""
    return hashlib.sha256("\n".join(sorted(values)).encode()).hexdigest()[:16]
