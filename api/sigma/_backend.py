"""The corrected Kusto backend for Defender (:func:`kusto_backends`) and what the converter reads of
a parsed Sigma rule: its keywords, literal ``*``, id, level, and the stock backend's faults our
output corrects.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterable
from typing import Any

from prefect_defender.api.sigma._local import KQL_STRING

__all__ = [
    "RULE_NAMESPACE",
    "backend_fixes",
    "has_literal_star",
    "hunt_copy",
    "keyword_values",
    "kusto_backends",
    "literal_star_comparisons",
    "rule_id",
    "rule_level",
]

#: namespace of the ids given to rules without an ``id``
RULE_NAMESPACE = uuid.UUID("3d8c2f5e-9b7a-4e61-8f0c-5a2d6b1e7c94")


def kusto_backends() -> tuple[Any, Any]:
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


def _walk_items(detection: Any) -> Iterable[Any]:
    for item in getattr(detection, "detection_items", []):
        if hasattr(item, "detection_items"):
            yield from _walk_items(item)
        else:
            yield item


def keyword_values(rule: Any) -> list[str]:
    """The rule's keyword (field-less) values: Defender KQL has no search over every column."""
    out: list[str] = []
    for det in rule.detection.detections.values():
        for item in _walk_items(det):
            if item.field is None:
                out.extend(str(v) for v in item.value)
    return out


def has_literal_star(rule: Any) -> bool:
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


def literal_star_comparisons(kql: str) -> list[str]:
    """String literals holding ``*`` outside ``matches regex`` (KQL has no wildcards there)."""
    bad = []
    for m in KQL_STRING.finditer(kql):
        before = kql[: m.start()].rstrip()
        if before.endswith("matches regex"):
            continue
        if "*" in m.group(0):
            bad.append(m.group(0))
    return bad


def rule_id(rule: Any, text: str) -> str:
    """The rule's id, or a stable id derived from its content."""
    if getattr(rule, "id", None):
        return str(rule.id)
    try:
        canonical = json.dumps(rule.to_dict(), sort_keys=True, default=str)
    except Exception:
        canonical = text
    return str(uuid.uuid5(RULE_NAMESPACE, canonical))


def rule_level(rule: Any) -> str | None:
    """The rule's level in lower case (``high``), if it has one."""
    level = getattr(rule, "level", None)
    return level.name.lower() if level is not None else None


def backend_fixes(ours: str, stock: str | None) -> list[str]:
    """The faults of the stock backend that our query ``ours`` corrects, in words."""
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


def hunt_copy(rule: Any) -> Any:
    """A copy to convert (the pipeline changes a rule in place), as a standalone rule: pySigma
    turns output off for the base rules of a correlation, which we hunt on their own."""
    dup = copy.deepcopy(rule)
    dup._output = True
    dup._backreferences = []  # else the backend leaves the query without its table
    return dup
