"""The emulator's own reading of the $filter lists: the get-* pages and the OData-samples page
of Defender for Endpoint list the filterable properties differently (fewer, and in PascalCase
on the samples page); the emulator serves both spellings, the client sends the get-* spelling."""

from __future__ import annotations

from typing import Any

import pytest

from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import BadRequestError
from prefect_defender.blocks import DefenderApplicationCredentials
from prefect_defender.emulator.odata import compile_filter, page_list


def test_page_list_reads_a_sentence_as_the_page_writes_it() -> None:
    assert page_list("alertCreationTime, incidentId,InvestigationId, status, and category.") == (
        "alertCreationTime",
        "incidentId",
        "InvestigationId",
        "status",
        "category",
    )


def test_any_case_resolves_to_the_records_field() -> None:
    pred = compile_filter(
        "HealthStatus eq 'Active'", ("healthStatus", "HealthStatus"), any_case=True
    )
    assert pred({"healthStatus": "Active"}) and not pred({"healthStatus": "Inactive"})
    strict = compile_filter("healthStatus eq 'Active'", ("healthStatus",))
    assert strict({"healthStatus": "active"})
    with pytest.raises(Exception, match="Could not find a property named 'HealthStatus'"):
        compile_filter("HealthStatus eq 'Active'", ("healthStatus",))


@pytest.mark.parametrize(
    "name,camel,pascal",
    [
        ("mde.machines.list", "healthStatus eq 'Active'", "HealthStatus eq 'Active'"),
        ("mde.alerts.list", "status eq 'New'", "Status eq 'New'"),
        ("mde.actions.list", "type eq 'Isolate'", "Type eq 'Isolate'"),
        ("mde.indicators.list", "indicatorType eq 'IpAddress'", "IndicatorType eq 'IpAddress'"),
    ],
)
async def test_both_pages_spellings_are_served_alike(
    conn: dict[str, Any], name: str, camel: str, pascal: str
) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        ep = endpoint(name)
        a = await client.transport.request_json(ep, params={"$filter": camel, "$top": 50})
        b = await client.transport.request_json(ep, params={"$filter": pascal, "$top": 50})
        assert a["value"] == b["value"]
        with pytest.raises(BadRequestError):
            await client.transport.request_json(ep, params={"$filter": "noSuchProperty eq 'x'"})
