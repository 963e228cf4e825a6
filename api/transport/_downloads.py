"""Saving a short-lived download link (SAS URL) to a file, without any bearer token, and
reading an error answer's JSON, both within the bounds of :mod:`~prefect_defender.api.body`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from prefect_defender.api.body import BodyClock, BodyLimits, loads, receive
from prefect_defender.api.errors import (
    DefenderError,
    InvalidResponseError,
    error_from_response,
)
from prefect_defender.api.redact import redact_url

__all__ = ["json_or_none", "save_link"]


def json_or_none(resp: httpx.Response, max_depth: int = BodyLimits.max_depth) -> Any:
    """The JSON body of an answer, or ``None`` when it is not JSON (or nests too deep)."""
    try:
        return loads(resp.content, max_depth)
    except (ValueError, DefenderError):
        return None


async def save_link(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    limits: BodyLimits,
    timeout: float,
    deadline: float,
) -> int:
    """Stream ``url`` to ``dest`` (through ``dest.part``, renamed when complete) within
    ``limits.download`` decoded bytes, the ``deadline`` (monotonic) and the bytes-per-second
    floor; redirects and error answers raise and save nothing. Returns the bytes written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shown = redact_url(url.split("?")[0])
    clock = BodyClock(deadline, timeout, limits.min_rate, limits.rate_grace)
    try:
        resp = await receive(
            client, client.build_request("GET", url), clock, limits.download, limits.error, dest
        )
    except httpx.TimeoutException:
        overrun = clock.overrun(shown, "GET")
        if overrun is not None:
            raise overrun from None
        raise
    except InvalidResponseError as exc:
        raise exc.at(method="GET", url=shown) from None
    if 300 <= resp.status_code < 400:  # never followed, never saved as the file
        raise InvalidResponseError(
            f"the download link answered with a redirect ({resp.status_code}); "
            "redirects are not followed",
            status=resp.status_code,
            code="UnexpectedRedirect",
            method="GET",
            url=shown,
        )
    if resp.status_code >= 400:
        raise error_from_response(
            resp.status_code,
            json_or_none(resp, limits.max_depth),
            method="GET",
            url=shown,
            text=resp.text,
        )
    return dest.stat().st_size
