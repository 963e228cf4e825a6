"""Saving a short-lived download link (SAS URL) to a file, without any bearer token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from prefect_defender.api.errors import InvalidResponseError, error_from_response

__all__ = ["json_or_none", "save_link"]


def json_or_none(resp: httpx.Response) -> Any:
    """The JSON body of an answer, or ``None`` when it is not JSON."""
    try:
        return resp.json()
    except ValueError:
        return None


async def save_link(client: httpx.AsyncClient, url: str, dest: Path, chunk_size: int) -> int:
    """Stream ``url`` to ``dest`` (through ``dest.part``, renamed when complete); redirects and
    error answers raise and save nothing. Returns the number of bytes written."""
    written = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    async with client.stream("GET", url) as resp:
        if 300 <= resp.status_code < 400:  # never followed, never saved as the file
            raise InvalidResponseError(
                f"the download link answered with a redirect ({resp.status_code}); "
                "redirects are not followed",
                status=resp.status_code,
                code="UnexpectedRedirect",
                method="GET",
                url=url.split("?")[0],
            )
        if resp.status_code >= 400:
            await resp.aread()
            raise error_from_response(
                resp.status_code,
                json_or_none(resp),
                method="GET",
                url=url.split("?")[0],
                text=resp.text,
            )
        with tmp.open("wb") as fh:
            async for chunk in resp.aiter_bytes(chunk_size):
                fh.write(chunk)
                written += len(chunk)
    tmp.replace(dest)
    return written
