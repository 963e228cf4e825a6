"""Threat and vulnerability management: software, vulnerabilities, exposed machines,
recommendations and the exposure score.

Seeded per tenant from a fixed software list: each product has one to four CVEs exposed on a
sample of the seeded machines, one recommendation, and the tenant an exposure score.
Documented ``$top`` maxima: software and recommendations 10,000, vulnerabilities **8,000**;
``/machines/{id}/vulnerabilities`` has its own quota family (50 per minute).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import (
    collection,
    compile_filter,
    metadata,
    page_list,
    parse_top_skip,
)
from prefect_defender.emulator.routes.machines import find_machine
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

VULN_READ = ("Vulnerability.Read.All",)
VULN_READ_D = ("Vulnerability.Read",)
# Each list's "OData supported operators" as its page writes it ("$filter on: ... properties",
# "$top with max value of ..."); the OData-samples page lists no TVM collection.
#: get-software (https://learn.microsoft.com/defender-endpoint/api/get-software)
SOFTWARE_FILTERS = page_list("id, name, and vendor")
MAX_TOP_SOFTWARE = 10_000
#: get-all-vulnerabilities
#: (https://learn.microsoft.com/defender-endpoint/api/get-all-vulnerabilities)
VULN_FILTERS = page_list("id, name, description, cvssV3, publishedOn, severity, and updatedOn")
MAX_TOP_VULNERABILITIES = 8_000
#: get-all-recommendations
#: (https://learn.microsoft.com/defender-endpoint/api/get-all-recommendations)
REC_FILTERS = page_list(
    "id, productName, vendor, recommendedVersion, recommendationCategory, subCategory, "
    "severityScore, remediationType, recommendedProgram, recommendedVendor, and status"
)
MAX_TOP_RECOMMENDATIONS = 10_000
#: the entity set named by the per-software and per-machine vulnerability lists
VULN_COLLECTION = "Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)"


def _strip(rows: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def _find(ctx: Ctx, store: str, key: str, label: str) -> dict[str, Any]:
    """The ``store`` entry ``key`` of the tenant; 404 ``ResourceNotFound`` naming it otherwise."""
    row: dict[str, Any] | None = ctx.tenant.data[store].get(key)
    if row is None:
        raise ApiError(404, "ResourceNotFound", f"{label} {key} was not found")
    return row


def _inventory(ctx: Ctx, store: str, maximum: int, filters: tuple[str, ...], name: str) -> Response:
    """One of the tenant's inventories (``store``) as a list: ``$filter`` on the page's
    properties, ``$top`` up to the page's ``maximum``, ``$skip``."""
    top, skip = parse_top_skip(ctx.query, maximum)
    pred = compile_filter(ctx.query.get("$filter"), filters)
    with ctx.state.lock:
        rows = _strip(ctx.tenant.data[store].values())
    kept = [r for r in rows if pred(r)]
    return collection(ctx, name, kept[skip : skip + top])


@api(
    "GET", "/api/Software", surface="mde", app=("Software.Read.All",), delegated=("Software.Read",)
)
async def software(ctx: Ctx) -> Response:
    """The software inventory ($top <= 10,000)."""
    return _inventory(ctx, "software", MAX_TOP_SOFTWARE, SOFTWARE_FILTERS, "Software")


@api(
    "GET",
    "/api/Software/{id}/vulnerabilities",
    surface="mde",
    app=VULN_READ,
    delegated=VULN_READ_D,
)
async def software_vulnerabilities(ctx: Ctx) -> Response:
    """Vulnerabilities of one software product; 404 for an unknown product."""
    with ctx.state.lock:
        sw = _find(ctx, "software", ctx.params["id"], "Software")
        rows = _strip(ctx.tenant.data["vulnerabilities"][v] for v in sw["_cves"])
    return collection(ctx, VULN_COLLECTION, rows)


@api("GET", "/api/vulnerabilities", surface="mde", app=VULN_READ, delegated=VULN_READ_D)
async def vulnerabilities(ctx: Ctx) -> Response:
    """All vulnerabilities ($top <= 8,000, as documented)."""
    return _inventory(
        ctx, "vulnerabilities", MAX_TOP_VULNERABILITIES, VULN_FILTERS, "Vulnerabilities"
    )


@api(
    "GET",
    "/api/vulnerabilities/{id}/machineReferences",
    surface="mde",
    app=VULN_READ,
    delegated=VULN_READ_D,
)
async def vulnerability_machines(ctx: Ctx) -> Response:
    """Machines exposed to a vulnerability; 404 for an unknown one."""
    with ctx.state.lock:
        v = _find(ctx, "vulnerabilities", ctx.params["id"].upper(), "Vulnerability")
        machines = ctx.tenant.data["machines"]
        rows = [
            {
                "id": m["id"],
                "computerDnsName": m["computerDnsName"],
                "osPlatform": m["osPlatform"],
                "rbacGroupName": m.get("rbacGroupName"),
            }
            for mid in v["_machines"]
            if (m := machines.get(mid))
        ]
    return collection(ctx, "MachineReferences", rows)


@api(
    "GET",
    "/api/machines/{id}/vulnerabilities",
    surface="mde",
    app=VULN_READ,
    delegated=VULN_READ_D,
    family="machine_vulnerabilities",
)
async def machine_vulnerabilities(ctx: Ctx) -> Response:
    """Vulnerabilities discovered on a machine (quota: 50 calls per minute)."""
    with ctx.state.lock:
        m = find_machine(ctx.tenant, ctx.params["id"])
        rows = _strip(
            v for v in ctx.tenant.data["vulnerabilities"].values() if m["id"] in v["_machines"]
        )
    return collection(ctx, VULN_COLLECTION, rows)


@api(
    "GET",
    "/api/recommendations",
    surface="mde",
    app=("SecurityRecommendation.Read.All",),
    delegated=("SecurityRecommendation.Read",),
)
async def recommendations(ctx: Ctx) -> Response:
    """Security recommendations ($top <= 10,000)."""
    return _inventory(
        ctx, "recommendations", MAX_TOP_RECOMMENDATIONS, REC_FILTERS, "Recommendations"
    )


@api("GET", "/api/exposureScore", surface="mde", app=("Score.Read.All",), delegated=("Score.Read",))
async def exposure_score(ctx: Ctx) -> Response:
    """The organisation's exposure score: ``{time, score}``."""
    with ctx.state.lock:
        score = ctx.tenant.data["scores"].get("exposure", 0.0)
    return JSONResponse(
        {
            "@odata.context": metadata(ctx, "ExposureScore/$entity"),
            "time": iso(datetime.now(UTC)),
            "score": score,
        }
    )


SOFTWARE = [
    ("microsoft", "edge", "128.0.2739"),
    ("google", "chrome", "124.0.6367"),
    ("mozilla", "firefox", "125.0"),
    ("adobe", "acrobat_reader", "23.008"),
    ("7-zip", "7-zip", "19.00"),
    ("oracle", "jre", "8.0.381"),
    ("openssl", "openssl", "3.0.7"),
    ("microsoft", "office", "16.0.17328"),
    ("putty", "putty", "0.79"),
    ("notepad-plus-plus", "notepad++", "8.5.3"),
]


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """Software, CVEs exposed on sampled machines, recommendations and the exposure score."""
    rng = random.Random(f"{state.config.get('seed', 1)}/tvm/{tenant.name}")
    machines = list(tenant.data["machines"])
    if not machines:
        return
    now = datetime.now(UTC)
    n_cve = 0
    for vendor, name, version in SOFTWARE:
        sid = f"{vendor}-_-{name}"
        exposed = rng.sample(machines, k=min(len(machines), rng.randint(1, 12)))
        cves = []
        for _ in range(rng.randint(1, 4)):
            n_cve += 1
            cve = f"CVE-2024-{20000 + n_cve}"
            cves.append(cve)
            tenant.data["vulnerabilities"][cve] = _cve(rng, cve, name, version, exposed, now)
        tenant.data["software"][sid] = {
            "id": sid,
            "name": name,
            "vendor": vendor,
            "weaknesses": len(cves),
            "publicExploit": any(tenant.data["vulnerabilities"][c]["publicExploit"] for c in cves),
            "activeAlert": False,
            "exposedMachines": len(exposed),
            "impactScore": round(len(cves) * 1.7, 2),
            "_cves": cves,
        }
        rid = f"va-_-{sid}"
        tenant.data["recommendations"][rid] = _recommendation(
            rid, vendor, name, cves, len(machines), len(exposed)
        )
    tenant.data["scores"]["exposure"] = round(rng.uniform(20, 60), 2)


def _cve(
    rng: random.Random, cve: str, name: str, version: str, exposed: list[str], now: datetime
) -> dict[str, Any]:
    """A vulnerability of ``name`` ``version`` exposed on the ``exposed`` machines."""
    return {
        "id": cve,
        "name": cve,
        "description": f"A flaw in {name} {version}.",
        "severity": rng.choice(["Low", "Medium", "High", "Critical"]),
        "cvssV3": round(rng.uniform(3, 9.8), 1),
        "cvssVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
        "exposedMachines": len(exposed),
        "publishedOn": iso(now - timedelta(days=rng.randint(10, 400))),
        "updatedOn": iso(now - timedelta(days=rng.randint(1, 9))),
        "publicExploit": rng.random() < 0.3,
        "exploitVerified": False,
        "exploitInKit": False,
        "exploitTypes": [],
        "exploitUris": [],
        "cveSupportability": "Supported",
        "_machines": list(exposed),
    }


def _recommendation(
    rid: str, vendor: str, name: str, cves: list[str], total: int, exposed: int
) -> dict[str, Any]:
    """The update recommendation of one product."""
    return {
        "id": rid,
        "productName": name,
        "recommendationName": f"Update {name}",
        "weaknesses": len(cves),
        "vendor": vendor,
        "recommendedVersion": "",
        "recommendedProgram": None,
        "recommendedVendor": None,
        "recommendationCategory": "Application",
        "subCategory": "",
        "severityScore": round(len(cves) * 2.1, 1),
        "publicExploit": False,
        "activeAlert": False,
        "associatedThreats": [],
        "remediationType": "Update",
        "status": "Active",
        "configScoreImpact": 0.0,
        "exposureImpact": 1.2,
        "totalMachineCount": total,
        "exposedMachinesCount": exposed,
        "nonProductivityImpactedAssets": 0,
        "relatedComponent": name,
    }
