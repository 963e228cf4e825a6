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
    ...     Image|endswith: '\\\\powershell.exe'
    ...     CommandLine|contains: ' -enc '
    ...   condition: sel
    ... '''
    >>> [c] = convert_rules(load_rule_sources(texts=[rule]))
    >>> c.status.value, c.table
    ('converted', 'DeviceProcessEvents')
    >>> print(c.kql)
    DeviceProcessEvents
    | where FolderPath endswith "\\\\powershell.exe" and ProcessCommandLine contains " -enc "
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from prefect_defender.api.errors import ValidationError

__all__ = [
    "MAX_LOOKBACK_HOURS",
    "MAX_RULES",
    "ConversionStatus",
    "RuleSource",
    "SigmaConversion",
    "check_lookback",
    "check_query_locally",
    "convert_rules",
    "hunt_query",
    "load_rule_sources",
]

#: at most this many rule files/texts per call (Advanced Hunting allows 45 queries a minute)
MAX_RULES = 500
#: at most this many bytes per rule file or text
MAX_RULE_BYTES = 256 * 1024
#: Advanced Hunting keeps 30 days
MAX_LOOKBACK_HOURS = 720
RULE_SUFFIXES = (".yml", ".yaml")
#: namespace of the ids given to rules without an ``id``
RULE_NAMESPACE = uuid.UUID("3d8c2f5e-9b7a-4e61-8f0c-5a2d6b1e7c94")
#: functions Defender has that the local engine (duckdb-kql) lacks: checked for syntax only
DEFENDER_ONLY_FUNCTIONS = ("ipv4_is_in_range", "ipv4_is_in_any_range", "ipv4_is_private")
_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DUCK_TYPES = {
    "string": "VARCHAR",
    "datetime": "TIMESTAMP",
    "long": "BIGINT",
    "int": "INTEGER",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "real": "DOUBLE",
    "double": "DOUBLE",
    "dynamic": "VARCHAR",
}


class ConversionStatus(StrEnum):
    """How converting one rule ended."""

    CONVERTED = "converted"
    #: a valid Sigma rule that Defender KQL cannot express (or the backend would get wrong)
    UNSUPPORTED = "unsupported"
    #: not a Sigma rule: YAML or Sigma syntax errors
    INVALID = "invalid"
    #: a rule whose id was already seen in this batch
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class RuleSource:
    """Sigma YAML (one or more rules) and where it came from (a path or ``rule_texts[i]``)."""

    label: str
    text: str


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


# --------------------------------------------------------------------------- input


def _check_text(text: Any, field: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(
            f"{field}: a non-empty Sigma rule (YAML text) is required", field=field
        )
    if len(text.encode("utf-8")) > MAX_RULE_BYTES:
        raise ValidationError(f"{field}: larger than {MAX_RULE_BYTES} bytes", field=field)
    return text


def _rule_files(path: Path, field: str) -> list[Path]:
    if path.is_dir():
        found = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RULE_SUFFIXES
        )
        if not found:
            raise ValidationError(f"{field}: no .yml/.yaml rule in folder {path}", field=field)
        return found
    if path.is_file():
        if path.suffix.lower() not in RULE_SUFFIXES:
            raise ValidationError(f"{field}: {path} is not a .yml/.yaml file", field=field)
        return [path]
    raise ValidationError(f"{field}: {path} does not exist", field=field)


def load_rule_sources(paths: Iterable[str] = (), texts: Iterable[str] = ()) -> list[RuleSource]:
    """Read rule files, folders (``*.yml``/``*.yaml``, recursively) and rule texts.

    Raises :class:`ValidationError` for a missing path, a folder without rules, an empty or
    oversized text, no input at all, or more than :data:`MAX_RULES` sources.

    Example:
        ```python
        sources = load_rule_sources(["examples/sigma"], [open("extra.yml").read()])
        ```
    """
    if isinstance(paths, str) or isinstance(texts, str):
        raise ValidationError("rule_paths and rule_texts: lists of strings", field="rule_paths")
    out: list[RuleSource] = []
    seen: set[Path] = set()
    for i, p in enumerate(paths):
        field = f"rule_paths[{i}]"
        if not isinstance(p, str) or not p.strip():
            raise ValidationError(f"{field}: a file or folder path is required", field=field)
        for f in _rule_files(Path(p).expanduser(), field):
            key = f.resolve()
            if key in seen:
                continue
            seen.add(key)
            if f.stat().st_size > MAX_RULE_BYTES:
                raise ValidationError(
                    f"{field}: {f} is larger than {MAX_RULE_BYTES} bytes", field=field
                )
            out.append(RuleSource(str(f), f.read_text(encoding="utf-8", errors="replace")))
    for i, t in enumerate(texts):
        out.append(RuleSource(f"rule_texts[{i}]", _check_text(t, f"rule_texts[{i}]")))
    if not out:
        raise ValidationError(
            "rule_paths/rule_texts: give at least one rule file, folder or rule text",
            field="rule_paths",
        )
    if len(out) > MAX_RULES:
        raise ValidationError(
            f"rule_paths/rule_texts: {len(out)} rule sources, at most {MAX_RULES} per run",
            field="rule_paths",
        )
    return out


def check_lookback(hours: Any, field: str = "lookback_hours") -> int:
    """Whole hours between 1 and 720 (Advanced Hunting keeps 30 days)."""
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise ValidationError(f"{field}: whole hours, 1 to {MAX_LOOKBACK_HOURS}", field=field)
    if not 1 <= hours <= MAX_LOOKBACK_HOURS:
        raise ValidationError(
            f"{field}: between 1 and {MAX_LOOKBACK_HOURS} hours (30 days), got {hours}",
            field=field,
        )
    return hours


# --------------------------------------------------------------------------- conversion


def _backends() -> tuple[Any, Any]:
    """(our corrected backend, the stock backend), each with a fresh XDR pipeline."""
    from sigma.backends.kusto.kusto import KustoBackend
    from sigma.pipelines.microsoftxdr.microsoftxdr import microsoft_xdr_pipeline

    class DefenderKustoBackend(KustoBackend):  # type: ignore[misc]
        """The Kusto backend with the corrections listed in the module docstring."""

        wildcard_match_expression = '{field} matches regex "(?is)^{regex}$"'
        in_expressions_allow_wildcards = False
        convert_and_as_in = False
        field_null_expression = "isempty({field})"

    ours: Any = DefenderKustoBackend
    stock: Any = KustoBackend
    return (
        ours(processing_pipeline=microsoft_xdr_pipeline()),
        stock(processing_pipeline=microsoft_xdr_pipeline()),
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.split("Please use valid fields", 1)[0].strip()
    first = first.split("\n", 1)[0].strip()
    if len(first) > 300:
        first = first[:297] + "..."
    return first


def _walk_items(detection: Any) -> Iterable[Any]:
    for item in getattr(detection, "detection_items", []):
        if hasattr(item, "detection_items"):
            yield from _walk_items(item)
        else:
            yield item


def _keyword_values(rule: Any) -> list[str]:
    out: list[str] = []
    for det in rule.detection.detections.values():
        for item in _walk_items(det):
            if item.field is None:
                out.extend(str(v) for v in item.value)
    return out


def _has_literal_star(rule: Any) -> bool:
    """True if the rule itself asks for a literal ``*`` (escaped in Sigma as ``\\*``)."""
    from sigma.types import SigmaString

    for det in rule.detection.detections.values():
        for item in _walk_items(det):
            for v in item.value:
                if isinstance(v, SigmaString) and any(
                    isinstance(part, str) and "*" in part for part in v.s
                ):
                    return True
    return False


def _literal_star_comparisons(kql: str) -> list[str]:
    """String literals holding ``*`` outside ``matches regex`` (KQL has no wildcards there)."""
    bad = []
    for m in _STRING.finditer(kql):
        before = kql[: m.start()].rstrip()
        if before.endswith("matches regex"):
            continue
        if "*" in m.group(0):
            bad.append(m.group(0))
    return bad


def _rule_id(rule: Any, text: str) -> str:
    if getattr(rule, "id", None):
        return str(rule.id)
    try:
        canonical = json.dumps(rule.to_dict(), sort_keys=True, default=str)
    except Exception:
        canonical = text
    return str(uuid.uuid5(RULE_NAMESPACE, canonical))


def _level(rule: Any) -> str | None:
    level = getattr(rule, "level", None)
    return level.name.lower() if level is not None else None


def _fixes(ours: str, stock: str | None) -> list[str]:
    fixes = []
    if "(?is)^" in ours:
        if stock is None or "matches regex" in stock:
            fixes.append(
                "wildcard inside a value: matched by an anchored case-insensitive regex (the "
                "stock backend's regex is case-sensitive)"
            )
        else:
            fixes.append(
                "wildcard inside a listed value: an anchored case-insensitive regex (the stock "
                "backend splits it into unordered contains tests)"
            )
    if stock is not None and stock != ours:
        if "has_all" in stock and "has_all" not in ours:
            fixes.append("'|all' list: exact comparisons instead of has_all (a whole-term match)")
        if "isnull(" in stock and "isnull(" not in ours:
            fixes.append("null value: isempty() (Defender strings are empty, never null)")
        if not fixes:
            fixes.append("differs from the stock backend's output (see stock_kql)")
    return fixes


def _hunt_copy(rule: Any) -> Any:
    """A copy to convert (the pipeline changes a rule in place), as a standalone rule: pySigma
    turns output off for the base rules of a correlation, which we hunt on their own."""
    dup = copy.deepcopy(rule)
    dup._output = True
    dup._backreferences = []  # else the backend leaves the query without its table
    return dup


def _convert_one(rule: Any, label: str, text: str, schema: _LocalSchema) -> SigmaConversion:
    from sigma.correlations import SigmaCorrelationRule

    base: dict[str, Any] = {
        "source": label,
        "rule_id": _rule_id(rule, text),
        "title": str(getattr(rule, "title", "") or "(untitled)"),
        "level": _level(rule),
        "tags": [str(t) for t in getattr(rule, "tags", None) or []],
    }
    errors = list(getattr(rule, "errors", None) or [])
    if errors:
        return SigmaConversion(
            **base,
            status=ConversionStatus.INVALID,
            reason="; ".join(_short(e) for e in errors),
        )
    if isinstance(rule, SigmaCorrelationRule):
        return SigmaConversion(
            **base,
            status=ConversionStatus.UNSUPPORTED,
            reason="Sigma correlation rules are not converted (the Kusto backend has no "
            "correlation support); their base rules are converted on their own",
        )
    keywords = _keyword_values(rule)
    if keywords:
        return SigmaConversion(
            **base,
            status=ConversionStatus.UNSUPPORTED,
            reason=f"keyword search ({', '.join(repr(k) for k in keywords[:3])}): Defender KQL "
            "has no search over every column; name the fields in the rule",
        )
    ours_backend, stock_backend = _backends()
    try:
        # conversion applies the pipeline to the rule in place: convert copies
        queries = ours_backend.convert_rule(_hunt_copy(rule))
    except NotImplementedError as exc:
        return SigmaConversion(
            **base, status=ConversionStatus.UNSUPPORTED, reason=f"not supported: {_short(exc)}"
        )
    except Exception as exc:
        return SigmaConversion(
            **base,
            status=ConversionStatus.UNSUPPORTED,
            reason=f"{type(exc).__name__}: {_short(exc)}",
        )
    if not queries:
        return SigmaConversion(
            **base, status=ConversionStatus.UNSUPPORTED, reason="the backend produced no query"
        )
    kql = queries[0] if len(queries) == 1 else "union " + ", ".join(f"({q})" for q in queries)
    try:
        stock_queries = stock_backend.convert_rule(_hunt_copy(rule))
        stock = stock_queries[0] if len(stock_queries) == 1 else None
    except Exception:
        stock = None
    table = kql.split("\n", 1)[0].strip() if not kql.startswith("union ") else None
    info: dict[str, Any] = {
        **base,
        "table": table,
        "kql": kql,
        "stock_kql": stock if stock is not None and stock != kql else None,
        "fixes": _fixes(kql, stock),
    }
    stars = _literal_star_comparisons(kql)
    if stars and not _has_literal_star(rule):
        return SigmaConversion(
            **{**info, "kql": None},
            status=ConversionStatus.UNSUPPORTED,
            reason=f"the backend left a literal '*' in a plain comparison ({stars[0]}), which "
            "KQL does not treat as a wildcard (a value ending in a backslash before a "
            "wildcard, common in registry rules): rewrite that value",
        )
    problem, validation, warnings = check_query_locally(hunt_query(kql, 24), schema)
    if problem:
        return SigmaConversion(
            **{**info, "kql": None},
            status=ConversionStatus.UNSUPPORTED,
            reason=f"the converted query fails local validation: {problem}",
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
        >>> yaml_alias_count("a: &x [1]\nb: *x\nc: *x")
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
        for c in convert_rules(load_rule_sources(["examples/sigma"])):
            print(c.status, c.title, c.reason or c.kql)
        ```
    """
    from sigma.collection import SigmaCollection

    schema = _LocalSchema()
    out: list[SigmaConversion] = []
    first_seen: dict[str, str] = {}
    try:
        for src in sources:
            fallback = str(uuid.uuid5(RULE_NAMESPACE, src.text))
            aliases = yaml_alias_count(src.text)
            if aliases > MAX_YAML_ALIASES:
                out.append(
                    SigmaConversion(
                        source=src.label,
                        rule_id=fallback,
                        title="(refused)",
                        status=ConversionStatus.INVALID,
                        reason=f"refused: {aliases} YAML aliases (at most {MAX_YAML_ALIASES}); "
                        "alias expansion could take unbounded time",
                    )
                )
                continue
            try:
                collection = SigmaCollection.from_yaml(src.text, collect_errors=True)
                rules = list(collection.rules)
            except Exception as exc:
                out.append(
                    SigmaConversion(
                        source=src.label,
                        rule_id=fallback,
                        title="(unreadable)",
                        status=ConversionStatus.INVALID,
                        reason=f"not a Sigma rule: {type(exc).__name__}: {_short(exc)}",
                    )
                )
                continue
            if not rules:
                out.append(
                    SigmaConversion(
                        source=src.label,
                        rule_id=fallback,
                        title="(empty)",
                        status=ConversionStatus.INVALID,
                        reason="no Sigma rule in this text",
                    )
                )
                continue
            for rule in rules:
                conv = _convert_one(rule, src.label, src.text, schema)
                if conv.rule_id in first_seen and conv.status is not ConversionStatus.INVALID:
                    conv = conv.model_copy(
                        update={
                            "status": ConversionStatus.DUPLICATE,
                            "reason": f"rule id {conv.rule_id} already came from "
                            f"{first_seen[conv.rule_id]}",
                            "kql": None,
                        }
                    )
                else:
                    first_seen.setdefault(conv.rule_id, src.label)
                out.append(conv)
    finally:
        schema.close()
    return out


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


class _LocalSchema:
    """Defender's Advanced Hunting schema (as pySigma's XDR pipeline ships it) in an in-memory
    DuckDB with one all-null row per table, so converted queries can be run before they are
    sent."""

    def __init__(self) -> None:
        from sigma.pipelines.microsoftxdr.tables import MICROSOFT_XDR_TABLES

        self.tables: dict[str, dict[str, str]] = {
            t: {c: str(info.get("data_type", "string")) for c, info in cols.items()}
            for t, cols in MICROSOFT_XDR_TABLES.items()
        }
        self.by_lower: dict[str, set[str]] = {}
        for t, cols in self.tables.items():
            for name in (t, *cols):
                self.by_lower.setdefault(name.lower(), set()).add(name)
        self._con: Any = None
        self._made: set[str] = set()

    def connection(self, tables: Iterable[str]) -> Any:
        import duckdb_kql

        if self._con is None:
            self._con = duckdb_kql.connect()
        for t in tables:
            if t in self._made or t not in self.tables:
                continue
            cols = ", ".join(
                f'"{c}" {_DUCK_TYPES.get(kind.lower(), "VARCHAR")}'
                for c, kind in self.tables[t].items()
            )
            self._con.execute(f'CREATE TABLE "{t}" ({cols})')
            # one all-null row, so that expressions are evaluated (a constant such as
            # ``where "text"`` only fails when a row reaches it)
            self._con.execute(f'INSERT INTO "{t}" DEFAULT VALUES')
            self._made.add(t)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
            self._made.clear()


def check_query_locally(query: str, schema: Any = None) -> tuple[str | None, str, list[str]]:
    """Check a hunt query before sending it: ``(problem or None, how it was checked, warnings)``.

    1. KQL syntax (``duckdb_kql.validate``);
    2. table and column names in their exact case, and the table known to Advanced Hunting;
    3. unless it calls a function the local engine lacks (``ipv4_is_in_range`` ...), a run over
       a null row of each table with Defender's columns and types (unknown columns, type
       errors such as ``where "text"``).

    Example:
        >>> check_query_locally('DeviceProcessEvents | where "mimikatz"')[0] is not None
        True
        >>> print(check_query_locally('deviceprocessevents | take 1')[0])
        name 'deviceprocessevents' must be written 'DeviceProcessEvents' (names are case-sensitive)
    """
    import duckdb
    import duckdb_kql

    own = schema is None
    local: _LocalSchema = schema if schema is not None else _LocalSchema()
    try:
        diags = duckdb_kql.validate(query)
        if diags:
            return f"KQL syntax: {_short(Exception(str(diags[0])))}", "syntax", []
        bare = _STRING.sub('""', query)
        idents = _IDENT.findall(bare)
        for ident in dict.fromkeys(idents):
            spellings = local.by_lower.get(ident.lower())
            if spellings and ident not in spellings:
                right = sorted(spellings)[0]
                return (
                    f"name {ident!r} must be written {right!r} (names are case-sensitive)",
                    "syntax",
                    [],
                )
        used = [i for i in dict.fromkeys(idents) if i in local.tables]
        table = idents[0] if idents else ""
        if table not in local.tables and table != "union":
            return f"{table!r} is not an Advanced Hunting table", "syntax", []
        lacking = [f for f in DEFENDER_ONLY_FUNCTIONS if re.search(rf"\b{f}\s*\(", bare)]
        if lacking:
            return (
                None,
                "syntax",
                [f"checked for syntax only: the local engine lacks {', '.join(lacking)}"],
            )
        con = local.connection(used)
        try:
            duckdb_kql.kql(con, query, allow_write=False).fetchall()
        except duckdb_kql.KqlUnsupportedError as exc:
            if "Kusto refuses" in str(exc):  # e.g. regex lookaround: refused by both
                return _short(exc), "syntax", []
            return None, "syntax", [f"checked for syntax only: {_short(exc)}"]
        except (duckdb_kql.KqlError, duckdb.Error) as exc:
            return _short(exc), "schema+engine", []
        return None, "schema+engine", []
    finally:
        if own:
            local.close()


def content_hash(values: Iterable[str]) -> str:
    """A short stable hash of ``values`` (order-insensitive)."""
    return hashlib.sha256("\n".join(sorted(values)).encode()).hexdigest()[:16]
