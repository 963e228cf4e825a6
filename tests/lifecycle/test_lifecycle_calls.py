"""The lifecycle at call time, over HTTPS against the emulator (real msal and httpx): a
deprecated endpoint warns once per process, a retired surface's 404 becomes ApiRetiredError
naming the replacement (never NotFoundError), and a missing resource stays NotFoundError."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from prefect_defender.api.errors import ApiRetiredError, NotFoundError
from prefect_defender.api.lifecycle import forget_warnings
from prefect_defender.blocks import DefenderApplicationCredentials


@pytest.fixture
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn)


@pytest.fixture
def xdr_retired(fresh: Any) -> Iterator[Any]:
    fresh.admin.patch_config(retired_surfaces=["xdr"])
    try:
        yield fresh
    finally:
        fresh.admin.patch_config(retired_surfaces=[])


def _lifecycle_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "prefect_defender.lifecycle"]


async def test_a_deprecated_endpoint_warns_once_per_process(fresh, creds, caplog) -> None:
    forget_warnings()
    caplog.set_level(logging.WARNING, logger="prefect_defender.lifecycle")
    async with creds.get_client() as client:
        for _ in range(3):
            await client.call("xdr.incidents.list", params={"$top": 1})
        await client.call("graph.incidents.list", params={"$top": 1})  # current: silent
    warnings = _lifecycle_warnings(caplog)
    assert len(warnings) == 1
    assert "xdr.incidents.list" in warnings[0] and "2027-02-01" in warnings[0]
    assert "MC1220762" in warnings[0] and "graph.incidents.list" in warnings[0]
    async with creds.get_client() as client:  # a new client in the same process: still once
        await client.call("xdr.incidents.list", params={"$top": 1})
        await client.call("mde.machines.list", params={"$top": 1})
    names = [w.split(" ", 1)[0] for w in _lifecycle_warnings(caplog)]
    assert names == ["xdr.incidents.list", "mde.machines.list"]


async def test_a_retired_surface_answers_api_retired_not_not_found(xdr_retired, creds) -> None:
    async with creds.get_client() as client:
        with pytest.raises(ApiRetiredError) as info:
            await client.call("xdr.incidents.get", path_params={"id": 1001})
        assert not isinstance(info.value, NotFoundError)
        assert info.value.status == 404 and info.value.code == "NotFound"
        assert info.value.replacement == ("graph.incidents.get",)
        assert "retired" in str(info.value) and "graph.incidents.get" in str(info.value)
        with pytest.raises(ApiRetiredError):  # paging stops at its first page
            async for _ in client.paginate("xdr.incidents.list", page_size=10):
                pass
        with pytest.raises(ApiRetiredError) as hunt:
            await client.hunting.run("DeviceInfo | take 1", surface="xdr")
        assert hunt.value.replacement == ("graph.hunting.run",)
        # the other surfaces answer as before
        graph = await client.call("graph.incidents.list", params={"$top": 1})
        assert graph["value"]
        with pytest.raises(NotFoundError) as missing:
            await client.call("mde.machines.get", path_params={"id": "f" * 40})
        assert not isinstance(missing.value, ApiRetiredError)
    counts = xdr_retired.admin.surface_counts()
    assert counts["xdr"] == 3 and counts["graph"] == 1 and counts["mde"] == 1


async def test_a_retired_endpoint_is_refused_before_any_request(fresh, creds) -> None:
    async with creds.get_client() as client:
        with pytest.raises(ApiRetiredError) as info:
            await client.call(
                "mde.investigations.start",
                path_params={"id": "f" * 40},
                json={"Comment": "IR-1"},
            )
    assert info.value.status == 0 and info.value.code == "ApiRetired"
    assert "mde.actions.av_scan" in str(info.value) and "nothing was sent" in str(info.value)
    stats = fresh.admin.stats()
    assert not stats["requests"] and not stats["token_requests"]
