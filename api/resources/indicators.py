"""Indicators: submit (create or update), import up to 500 per call, list, delete, batch delete.

Every indicator is validated before anything is sent (value against type, documented action,
expiry in the future, ``generateAlert`` for ``Audit``). Import answers carry one row per
indicator (``indicator``, ``isFailed``, ``failureReason``) without the type, so rows are matched
to the inputs by value, in order (two inputs may share a value, e.g. a SHA-1 as ``FileSha1`` and
as ``CertificateThumbprint``), and by position when the service rewrote a value; an input with no
row becomes a failed result, never a lost one.
"""

from __future__ import annotations

import builtins
import re
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from prefect_defender.api.answers import read_model, shape_error
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import BadRequestError, ValidationError
from prefect_defender.api.models.indicators import (
    BATCH,
    LEGACY_ACTIONS,
    Indicator,
    IndicatorAction,
    IndicatorInput,
    IndicatorSeverity,
    IndicatorType,
    coerce_indicators,
)
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import collect, skip_models
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import ascii_digits, check_choice

__all__ = [
    "MAX_ACTIVE",
    "ImportResult",
    "IndicatorLimitError",
    "IndicatorsAPI",
    "check_indicator_id",
    "limit_reached",
    "match_import_rows",
]

#: documented maximum of active indicators per tenant
MAX_ACTIVE = 15_000
#: the 13 properties get-ti-indicators-collection documents for ``$filter``
INDICATOR_FILTERS = ODataFilter(
    {
        "application",
        "createdByDisplayName",
        "expirationTime",
        "generateAlert",
        "title",
        "rbacGroupNames",
        "rbacGroupIds",
        "indicatorValue",
        "indicatorType",
        "creationTimeDateTimeUtc",
        "createdBy",
        "action",
        "severity",
    }
)
_READ_ACTIONS = {a.value for a in IndicatorAction} | set(LEGACY_ACTIONS)
_LIMIT = re.compile(
    r"15,?000|maximum number of (active )?indicators|active indicators? (limit|quota)", re.I
)
LIMIT_ADVICE = (
    f"the tenant has reached Defender's limit of {MAX_ACTIVE:,} active indicators: delete "
    "indicators (or let some expire) before adding more"
)


def limit_reached(message: str | None) -> bool:
    """True when Defender's message says the 15,000 active-indicator limit was hit."""
    return bool(message) and bool(_LIMIT.search(str(message)))


class IndicatorLimitError(BadRequestError):
    """400: the tenant already holds Defender's maximum of 15,000 active indicators."""


@dataclass(frozen=True)
class ImportResult:
    """Per-indicator result of an import call (``id`` is ``None`` when it failed)."""

    indicator: IndicatorInput
    id: str | None
    failed: bool
    reason: str | None

    @property
    def limit_reached(self) -> bool:
        """True when this item failed on the 15,000 active-indicator limit."""
        return self.failed and limit_reached(self.reason)


def _reason(row: dict[str, Any]) -> str | None:
    reason = row.get("failureReason")
    if reason is None:
        return None
    text = str(reason)
    return f"{text} ({LIMIT_ADVICE})" if limit_reached(text) else text


def match_import_rows(
    items: Sequence[IndicatorInput], rows: Sequence[dict[str, Any]]
) -> list[ImportResult]:
    """One :class:`ImportResult` per input item, matching the answer's rows to the inputs."""
    queues: dict[str, deque[int]] = {}
    for n, row in enumerate(rows):
        queues.setdefault(str(row.get("indicator") or "").lower(), deque()).append(n)
    claimed: dict[int, int] = {}  # item index -> row index
    for i, item in enumerate(items):
        q = queues.get(item.value.lower())
        if q:
            claimed[i] = q.popleft()
    if len(rows) == len(items):  # the service rewrote some values: fall back on position
        taken = set(claimed.values())
        for i in range(len(items)):
            if i not in claimed and i not in taken:
                claimed[i] = i
                taken.add(i)
    out = []
    for i, item in enumerate(items):
        if i not in claimed:
            out.append(ImportResult(item, None, True, "no result for this indicator in the answer"))
            continue
        row = rows[claimed[i]]
        failed = bool(row.get("isFailed")) or row.get("id") is None
        out.append(
            ImportResult(
                item,
                None if row.get("id") is None else str(row["id"]),
                failed,
                _reason(row) or ("no id in the answer" if failed else None),
            )
        )
    return out


def check_indicator_id(value: Any, field: str = "indicator_id") -> str:
    """An indicator id: a string of digits (ints accepted)."""
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected an indicator id", field=field)
    text = str(value).strip()
    if not ascii_digits(text) or len(text) > 20:
        raise ValidationError(f"{field}: {text[:40]!r} is not an indicator id", field=field)
    return text


class IndicatorsAPI(Resource):
    """Defender for Endpoint custom indicators (files, IPs, domains, URLs, certificates)."""

    async def submit(self, indicator: IndicatorInput | dict[str, Any]) -> Indicator:
        """Create or update one indicator (Defender matches on value and type).

        Raises :class:`IndicatorLimitError` when the tenant holds 15,000 active indicators.
        """
        item = coerce_indicators([indicator])[0]
        try:
            data = await self.transport.request_json(
                endpoint("mde.indicators.submit"), json=item.to_api(), idempotent=True
            )
        except BadRequestError as exc:
            if limit_reached(exc.message):
                raise IndicatorLimitError(
                    f"{LIMIT_ADVICE} (Defender said: {exc.message})",
                    status=exc.status,
                    code=exc.code,
                    target=exc.target,
                    method=exc.method,
                    url=exc.url,
                ) from exc
            raise
        return read_model(Indicator, data, "mde.indicators.submit")

    async def import_batch(
        self, indicators: Sequence[IndicatorInput | dict[str, Any]]
    ) -> builtins.list[ImportResult]:
        """Import 1 to 500 indicators in one call; one result per input item, in order."""
        items = coerce_indicators(indicators)
        if not 0 < len(items) <= BATCH:
            raise ValidationError(
                f"indicators: {len(items)} given; 1 to {BATCH} per import call",
                field="indicators",
            )
        body = await self.transport.request_json(
            endpoint("mde.indicators.import"),
            json={"Indicators": [i.to_api() for i in items]},
            idempotent=True,  # create-or-update by value and type: repeating it is harmless
        )
        rows = body.get("value") if isinstance(body, dict) else None
        if not isinstance(rows, builtins.list):
            rows = []
        if not all(isinstance(r, dict) for r in rows):
            raise shape_error(
                "mde.indicators.import", "a list of import results", "an item is not one"
            )
        return match_import_rows(items, rows)

    def iterate(
        self,
        *,
        indicator_type: IndicatorType | str | None = None,
        value: str | None = None,
        action: str | None = None,
        severity: IndicatorSeverity | str | None = None,
        created_by: str | None = None,
        odata_filter: str | None = None,
        page_size: int = 10_000,
        limit: int | None = None,
    ) -> AsyncIterator[Indicator]:
        """Indicators matching the filters (``$top`` pages of at most 10,000).

        ``action`` accepts the legacy ``Alert``/``AlertAndBlock`` too, to find old indicators.
        Without ``Ti.ReadWrite.All`` an app sees only the indicators it created.
        """
        f = INDICATOR_FILTERS
        if action is not None and action not in _READ_ACTIONS:
            raise ValidationError(
                f"action: {str(action)[:40]!r} is not one of: {', '.join(sorted(_READ_ACTIONS))}",
                field="action",
            )
        if not 0 < page_size <= 10_000:
            raise ValidationError("page_size: 1 to 10,000 (the documented $top maximum)")
        expr = f.and_(
            odata_filter,
            f.eq("indicatorType", check_choice(indicator_type, IndicatorType, "indicator_type"))
            if indicator_type
            else None,
            f.eq("indicatorValue", value) if value else None,
            f.eq("action", action) if action else None,
            f.eq("severity", check_choice(severity, IndicatorSeverity, "severity"))
            if severity
            else None,
            f.eq("createdBy", created_by) if created_by else None,
        )
        return skip_models(
            Indicator,
            self.transport,
            endpoint("mde.indicators.list"),
            page_size=page_size,
            params={"$filter": expr} if expr else None,
            limit=limit,
        )

    async def list(self, **kw: Any) -> builtins.list[Indicator]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def delete(self, indicator_id: str | int) -> None:
        """Delete one indicator (204; :class:`NotFoundError` if it does not exist)."""
        await self.transport.request(
            endpoint("mde.indicators.delete"), path_params={"id": check_indicator_id(indicator_id)}
        )

    async def batch_delete(self, indicator_ids: Sequence[str | int]) -> None:
        """Delete 1 to 500 indicators in one call (204).

        Defender answers 404 when any id does not exist (or is not visible to this app); the
        ``delete_indicators`` task then falls back to one call per id to tell which.
        """
        if isinstance(indicator_ids, str | bytes):
            raise ValidationError("indicator_ids: expected a list", field="indicator_ids")
        ids = [check_indicator_id(v, f"indicator_ids[{i}]") for i, v in enumerate(indicator_ids)]
        if not 0 < len(ids) <= BATCH:
            raise ValidationError(
                f"indicator_ids: {len(ids)} given; 1 to {BATCH} per call", field="indicator_ids"
            )
        await self.transport.request(
            endpoint("mde.indicators.batch_delete"), json={"IndicatorIds": ids}, idempotent=True
        )
