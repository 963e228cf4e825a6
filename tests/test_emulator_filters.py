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


# --- Lists each read from one page (no second spelling) ------------------------------------------
# Each row: the catalog endpoint, the page's "$filter" sentence copied here from the page itself
# (so a wrong list in the emulator fails here), a filter on one of those properties with the
# field and value every answered row must have, properties of the same records the page does not
# list, and the entity type the 400 answer names.
PAGES = [
    pytest.param(
        "graph.incidents.list",
        # security-list-incidents
        "assignedTo, classification, createdDateTime, determination, lastUpdateDateTime, "
        "severity, and status",
        ("severity eq 'high'", "severity", "high"),
        ("displayName", "incidentWebUrl", "customTags", "tenantId", "id"),
        "microsoft.graph.security.incident",
        id="graph-incidents",
    ),
    pytest.param(
        "graph.alerts.list",
        # security-list-alerts_v2
        "assignedTo, classification, determination, createdDateTime, lastUpdateDateTime, "
        "severity, serviceSource and status",
        ("severity eq 'high'", "severity", "high"),
        ("title", "incidentId", "detectionSource", "category"),
        "microsoft.graph.security.alert",
        id="graph-alerts-v2",
    ),
    pytest.param(
        "mde.tvm.software",
        # get-software
        "id, name, and vendor",
        ("vendor eq 'microsoft'", "vendor", "microsoft"),
        ("weaknesses", "exposedMachines", "impactScore", "publicExploit"),
        "microsoft.windowsDefenderATP.api.PublicEntity",
        id="tvm-software",
    ),
    pytest.param(
        "mde.tvm.vulnerabilities",
        # get-all-vulnerabilities
        "id, name, description, cvssV3, publishedOn, severity, and updatedOn",
        ("severity eq 'Critical'", "severity", "Critical"),
        ("exposedMachines", "publicExploit", "cvssVector", "cveSupportability"),
        "microsoft.windowsDefenderATP.api.PublicEntity",
        id="tvm-vulnerabilities",
    ),
    pytest.param(
        "mde.tvm.recommendations",
        # get-all-recommendations
        "id, productName, vendor, recommendedVersion, recommendationCategory, subCategory, "
        "severityScore, remediationType, recommendedProgram, recommendedVendor, and status",
        ("vendor eq 'microsoft'", "vendor", "microsoft"),
        ("recommendationName", "weaknesses", "exposureImpact", "relatedComponent"),
        "microsoft.windowsDefenderATP.api.PublicEntity",
        id="tvm-recommendations",
    ),
    pytest.param(
        "xdr.incidents.list",
        # defender-xdr api-list-incidents: no severity filter on the server
        "lastUpdateTime, createdTime, status, and assignedTo",
        ("status eq 'Active'", "status", "Active"),
        ("severity", "incidentName", "classification", "determination"),
        "microsoft.windowsDefenderATP.api.PublicEntity",
        id="xdr-incidents",
    ),
    pytest.param(
        "mde.investigations.list",
        # get-investigation-collection
        "startTime, id, state, machineId, and triggeringAlertId",
        ("state eq 'Running'", "state", "Running"),
        ("endTime", "computerDnsName", "statusDetails", "cancelledBy"),
        "microsoft.windowsDefenderATP.api.PublicEntity",
        id="investigations",
    ),
]


async def _get(client: Any, name: str, odata_filter: str) -> dict[str, Any]:
    ep = endpoint(name)
    return await client.transport.request_json(ep, params={"$filter": odata_filter, "$top": 100})


@pytest.mark.parametrize("name,sentence,narrowing,undocumented,entity", PAGES)
async def test_each_list_is_the_pages_own(
    conn: dict[str, Any],
    name: str,
    sentence: str,
    narrowing: tuple[str, str, str],
    undocumented: tuple[str, ...],
    entity: str,
) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        # every property the page names is accepted
        for prop in page_list(sentence):
            await _get(client, name, f"{prop} eq null or not ({prop} eq null)")
        # a documented property filters: only matching rows, fewer than unfiltered
        expr, field, value = narrowing
        everything = (await _get(client, name, ""))["value"]
        kept = (await _get(client, name, expr))["value"]
        assert kept and len(kept) < len(everything)
        assert all(str(row[field]).lower() == value.lower() for row in kept)
        # a property of the same records that the page does not name: 400 with the service's
        # documented error body (MDE common-errors: code, message, "target" tracking id; Graph
        # errors: code, message, innerError with a request-id)
        for prop in undocumented:
            assert prop not in page_list(sentence)
            with pytest.raises(BadRequestError) as info:
                await _get(client, name, f"{prop} eq 'x'")
            err = info.value
            assert err.status == 400 and err.code == "ODataError"
            assert err.message == f"Could not find a property named '{prop}' on type '{entity}'."
            if name.startswith("graph."):
                assert err.request_id
            else:
                assert err.target
