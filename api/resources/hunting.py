"""Advanced hunting through Graph ``runHuntingQuery`` (the default), XDR or MDE, one or many
queries.

The surface is the ``surface`` argument, else the client's ``settings.hunting_surface`` (Graph
unless a block says otherwise). XDR and MDE hunting are retiring with their APIs on 1 February
2027 (MC1220762): their endpoints are deprecated in the catalog, so the first call of each logs
one warning per process (:mod:`~prefect_defender.api.lifecycle`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.api.models.hunting import HuntingResult, HuntingSurface
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.surface_choice import check_hunting_surface
from prefect_defender.api.validation import check_query

__all__ = ["HuntingAPI"]

_DURATION = re.compile(r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
_ENDPOINTS = {
    HuntingSurface.GRAPH: "graph.hunting.run",
    HuntingSurface.XDR: "xdr.hunting.run",
    HuntingSurface.MDE: "mde.hunting.run",
}


class HuntingAPI(Resource):
    """Run advanced hunting queries (read-only POSTs: safe to retry)."""

    def surface(self, surface: HuntingSurface | str | None = None) -> HuntingSurface:
        """The surface a query runs on: ``surface``, else the client's ``hunting_surface``."""
        return check_hunting_surface(surface, self.client.settings.hunting_surface)

    async def run(
        self,
        query: str,
        *,
        surface: HuntingSurface | str | None = None,
        timespan: str | None = None,
    ) -> HuntingResult:
        """Run one query. ``timespan`` (ISO 8601, e.g. ``P7D``) is Graph-only."""
        kind = self.surface(surface)
        body = self._body(kind, query, timespan)
        data = await self.transport.request_json(
            endpoint(_ENDPOINTS[kind]), json=body, idempotent=True
        )
        return HuntingResult.from_api(kind, data)

    @staticmethod
    def _body(kind: HuntingSurface, query: str, timespan: str | None) -> dict[str, Any]:
        text = check_query(query)
        body: dict[str, Any] = {"Query": text}
        if timespan is not None:
            if kind is not HuntingSurface.GRAPH:
                raise ValidationError(
                    "timespan: only the Graph endpoint takes a Timespan", field="timespan"
                )
            if not _DURATION.match(timespan):
                raise ValidationError(
                    "timespan: an ISO 8601 duration such as P7D or PT12H", field="timespan"
                )
            body["Timespan"] = timespan
        return body

    async def run_to_file(
        self,
        query: str,
        dest: Path,
        *,
        surface: HuntingSurface | str | None = None,
        timespan: str | None = None,
    ) -> Path:
        """Run one query and stream the raw answer (JSON) to ``dest`` without holding it.

        Read it back row by row with :func:`prefect_defender.api.jsonstream.iter_object`
        (members ``results``/``Results``); an error answer raises as :meth:`run` does.
        """
        kind = self.surface(surface)
        body = self._body(kind, query, timespan)
        dest.parent.mkdir(parents=True, exist_ok=True)
        await self.transport.request(
            endpoint(_ENDPOINTS[kind]), json=body, idempotent=True, stream_to=dest
        )
        return dest

    async def run_many(
        self,
        queries: Sequence[str],
        *,
        surface: HuntingSurface | str | None = None,
        timespan: str | None = None,
        concurrency: int = 4,
    ) -> list[HuntingResult | DefenderError]:
        """Run several queries; each slot holds its result or the error it raised."""
        surface = self.surface(surface)
        for i, q in enumerate(queries):
            check_query(q, f"queries[{i}]")
        sem = asyncio.Semaphore(max(1, concurrency))

        async def one(q: str) -> HuntingResult | DefenderError:
            async with sem:
                try:
                    return await self.run(q, surface=surface, timespan=timespan)
                except DefenderError as exc:
                    return exc

        return list(await asyncio.gather(*(one(q) for q in queries)))
