"""Indicators: submit (create or update), import up to 500 per call, list, delete, batch delete."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.indicators import Indicator, IndicatorInput, IndicatorType
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import iterate_skip
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import check_choice

__all__ = ["ImportResult", "IndicatorsAPI", "coerce_indicators"]

BATCH = 500
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


@dataclass(frozen=True)
class ImportResult:
    """Per-indicator result of an import call."""

    indicator: IndicatorInput
    id: str | None
    failed: bool
    reason: str | None


def coerce_indicators(items: Sequence[IndicatorInput | dict[str, Any]]) -> list[IndicatorInput]:
    """Validate every item; one error names every invalid index (nothing is sent)."""
    if isinstance(items, str | bytes):
        raise ValidationError("indicators: expected a list", field="indicators")
    out: list[IndicatorInput] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        try:
            out.append(item if isinstance(item, IndicatorInput) else IndicatorInput(**item))
        except (ValidationError, ValueError, TypeError) as exc:
            problems.append(f"[{i}] {exc}")
    if problems:
        raise ValidationError(
            f"indicators: {len(problems)} invalid item(s): " + "; ".join(problems[:20]),
            field="indicators",
        )
    return out


class IndicatorsAPI(Resource):
    """Defender for Endpoint custom indicators."""

    async def submit(self, indicator: IndicatorInput | dict[str, Any]) -> Indicator:
        """Create or update one indicator (Defender matches on value and type)."""
        item = coerce_indicators([indicator])[0]
        data = await self.transport.request_json(
            endpoint("mde.indicators.submit"), json=item.to_api(), idempotent=True
        )
        return Indicator.model_validate(data)

    async def import_batch(
        self, indicators: Sequence[IndicatorInput | dict[str, Any]]
    ) -> builtins.list[ImportResult]:
        """Import up to 500 indicators in one call; one result per input item."""
        items = coerce_indicators(indicators)
        if not 0 < len(items) <= BATCH:
            raise ValidationError(f"indicators: 1 to {BATCH} per call", field="indicators")
        body = await self.transport.request_json(
            endpoint("mde.indicators.import"),
            json={"Indicators": [i.to_api() for i in items]},
            idempotent=True,  # create-or-update by value and type: repeating it is harmless
        )
        rows = (body or {}).get("value", [])
        by_value: dict[str, dict[str, Any]] = {}
        for row in rows:
            by_value.setdefault(str(row.get("indicator", "")).lower(), row)
        results = []
        for item in items:
            row = by_value.get(item.value.lower())
            if row is None:
                results.append(ImportResult(item, None, True, "not in the import response"))
            else:
                results.append(
                    ImportResult(
                        item,
                        str(row["id"]) if row.get("id") is not None else None,
                        bool(row.get("isFailed")),
                        row.get("failureReason"),
                    )
                )
        return results

    def iterate(
        self,
        *,
        odata_filter: str | None = None,
        indicator_type: IndicatorType | str | None = None,
        value: str | None = None,
        page_size: int = 10_000,
        limit: int | None = None,
    ) -> AsyncIterator[Indicator]:
        """Indicators matching the filters."""
        f = INDICATOR_FILTERS
        expr = f.and_(
            odata_filter,
            f.eq("indicatorType", check_choice(indicator_type, IndicatorType, "indicator_type"))
            if indicator_type
            else None,
            f.eq("indicatorValue", value) if value else None,
        )
        return self._models(
            iterate_skip(
                self.transport,
                endpoint("mde.indicators.list"),
                page_size=page_size,
                params={"$filter": expr} if expr else None,
                limit=limit,
            )
        )

    async def list(self, **kw: Any) -> builtins.list[Indicator]:
        """All of :meth:`iterate` as a list."""
        return [i async for i in self.iterate(**kw)]

    async def delete(self, indicator_id: str) -> None:
        """Delete one indicator (404 if it does not exist)."""
        await self.transport.request(
            endpoint("mde.indicators.delete"), path_params={"id": _check_id(indicator_id)}
        )

    async def batch_delete(self, indicator_ids: Sequence[str]) -> None:
        """Delete up to 500 indicators in one call (204)."""
        ids = [_check_id(i) for i in indicator_ids]
        if not 0 < len(ids) <= BATCH:
            raise ValidationError(f"indicator_ids: 1 to {BATCH} per call", field="indicator_ids")
        await self.transport.request(
            endpoint("mde.indicators.batch_delete"), json={"IndicatorIds": ids}, idempotent=True
        )

    @staticmethod
    async def _models(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[Indicator]:
        async for item in items:
            yield Indicator.model_validate(item)


def _check_id(value: Any) -> str:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 20:
        raise ValidationError(
            f"indicator id: {text[:40]!r} is not an indicator id", field="indicator_id"
        )
    return text
