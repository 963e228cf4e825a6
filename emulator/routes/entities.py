"""Entity enrichment (files, IPs, domains, users), automated investigations and threat and
vulnerability management, derived from the seeded incidents, alerts and machines."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import compile_filter, parse_top_skip
from prefect_defender.emulator.routes.machines import public
from prefect_defender.emulator.seed import iso
from prefect_defender.emulator.state import EmulatorState, Tenant

A_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
A_READ_D = ("Alert.Read", "Alert.ReadWrite")
M_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
M_READ_D = ("Machine.Read", "Machine.ReadWrite")


def _alerts_with(tenant: Tenant, match: Any) -> list[dict[str, Any]]:
    out = []
    for a in tenant.data["alerts"].values():
        if any(match(e) for e in a.get("entities") or []):
            out.append({k: v for k, v in a.items() if k not in ("entities", "graphComments")})
    return out


def _machines_of(tenant: Tenant, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = dict.fromkeys(a["machineId"] for a in alerts if a.get("machineId"))
    return [public(tenant.data["machines"][i]) for i in ids if i in tenant.data["machines"]]


def _file_match(h: str) -> Any:
    low = h.lower()
    return lambda e: (
        e.get("entityType") == "File"
        and low in (str(e.get("sha1", "")).lower(), str(e.get("sha256", "")).lower())
    )


def _stats(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    times = sorted(a["firstEventTime"] for a in alerts if a.get("firstEventTime"))
    return {
        "orgPrevalence": str(len(_machine_ids(alerts))),
        "orgFirstSeen": times[0] if times else None,
        "orgLastSeen": times[-1] if times else None,
    }


def _machine_ids(alerts: list[dict[str, Any]]) -> set[str]:
    return {a["machineId"] for a in alerts if a.get("machineId")}


def _check_hash(h: str, sha1_only: bool = False) -> None:
    ok = {40} if sha1_only else {40, 64}
    if len(h) not in ok or any(c not in "0123456789abcdefABCDEF" for c in h):
        raise ApiError(400, "InvalidHashValue", f"Invalid hash value '{h}'.")


@api("GET", "/api/files/{id}", surface="mde", app=("File.Read.All",))
async def file_info(ctx: Ctx) -> Response:
    """File information by SHA-1 or SHA-256."""
    h = ctx.params["id"]
    _check_hash(h)
    with ctx.state.lock:
        alerts = _alerts_with(ctx.tenant, _file_match(h))
        ent = next(
            (
                e
                for a in ctx.tenant.data["alerts"].values()
                for e in a.get("entities") or []
                if _file_match(h)(e)
            ),
            None,
        )
    if ent is None:
        raise ApiError(404, "ResourceNotFound", f"File {h} was not found")
    return JSONResponse(
        {
            "sha1": ent.get("sha1"),
            "sha256": ent.get("sha256"),
            "md5": None,
            "globalPrevalence": 12,
            "globalFirstObserved": alerts[0]["firstEventTime"],
            "globalLastObserved": alerts[-1]["lastEventTime"],
            "size": 184320,
            "fileType": "PortableExecutable",
            "isPeFile": True,
            "filePublisher": None,
            "fileProductName": None,
            "signer": None,
            "issuer": None,
            "signerHash": None,
            "isValidCertificate": False,
            "determinationType": "Malware",
            "determinationValue": "Emulated",
        }
    )


@api("GET", "/api/files/{id}/stats", surface="mde", app=("File.Read.All",))
async def file_stats(ctx: Ctx) -> Response:
    """Organisation and global prevalence of a file (``lookBackHours`` <= 720)."""
    h = ctx.params["id"]
    _check_hash(h)
    look = ctx.query.get("lookBackHours", "720")
    if not look.isdigit() or not 0 < int(look) <= 720:
        raise ApiError(400, "InvalidInput", "lookBackHours must be between 1 and 720.")
    with ctx.state.lock:
        alerts = _alerts_with(ctx.tenant, _file_match(h))
    names = sorted(
        {
            e.get("fileName")
            for a in ctx.tenant.data["alerts"].values()
            for e in a.get("entities") or []
            if _file_match(h)(e)
        }
        - {None}
    )
    return JSONResponse(
        {
            "sha1": h if len(h) == 40 else None,
            **_stats(alerts),
            "globalPrevalence": "12",
            "globalFirstObserved": None,
            "globalLastObserved": None,
            "topFileNames": names,
        }
    )


@api("GET", "/api/files/{id}/alerts", surface="mde", app=A_READ, delegated=A_READ_D)
async def file_alerts(ctx: Ctx) -> Response:
    """Alerts of a file (SHA-1); unknown files answer an empty list."""
    _check_hash(ctx.params["id"], sha1_only=True)
    with ctx.state.lock:
        return JSONResponse({"value": _alerts_with(ctx.tenant, _file_match(ctx.params["id"]))})


@api("GET", "/api/files/{id}/machines", surface="mde", app=M_READ, delegated=M_READ_D)
async def file_machines(ctx: Ctx) -> Response:
    """Machines that saw a file (SHA-1)."""
    _check_hash(ctx.params["id"], sha1_only=True)
    with ctx.state.lock:
        alerts = _alerts_with(ctx.tenant, _file_match(ctx.params["id"]))
        return JSONResponse({"value": _machines_of(ctx.tenant, alerts)})


def _ip(ctx: Ctx) -> str:
    raw = ctx.params["ip"]
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ApiError(400, "InvalidIpAddress", f"Invalid IP address '{raw}'.") from None


@api("GET", "/api/ips/{ip}/stats", surface="mde", app=("Ip.Read.All",))
async def ip_stats(ctx: Ctx) -> Response:
    """Prevalence of an IP address in the organisation."""
    ip = _ip(ctx)
    with ctx.state.lock:
        alerts = _alerts_with(ctx.tenant, lambda e: e.get("ipAddress") == ip)
    return JSONResponse({"ipAddress": ip, **_stats(alerts)})


@api("GET", "/api/ips/{ip}/alerts", surface="mde", app=A_READ, delegated=A_READ_D)
async def ip_alerts(ctx: Ctx) -> Response:
    """Alerts involving an IP address."""
    ip = _ip(ctx)
    with ctx.state.lock:
        return JSONResponse({"value": _alerts_with(ctx.tenant, lambda e: e.get("ipAddress") == ip)})


def _domain_match(domain: str) -> Any:
    low = domain.lower()

    def match(e: dict[str, Any]) -> bool:
        host = (urlsplit(str(e.get("url"))).hostname or "").lower() if e.get("url") else ""
        return bool(host) and (host == low or host.endswith("." + low))

    return match


@api("GET", "/api/domains/{domain}/stats", surface="mde", app=("URL.Read.All",))
async def domain_stats(ctx: Ctx) -> Response:
    """Prevalence of a domain."""
    d = ctx.params["domain"]
    with ctx.state.lock:
        alerts = _alerts_with(ctx.tenant, _domain_match(d))
    return JSONResponse({"host": d, **_stats(alerts)})


# the domain-alerts page lists the write permission (11/2025); kept as documented
@api(
    "GET",
    "/api/domains/{domain}/alerts",
    surface="mde",
    app=("Alert.ReadWrite.All",),
    delegated=("Alert.ReadWrite",),
)
async def domain_alerts(ctx: Ctx) -> Response:
    """Alerts involving a domain."""
    with ctx.state.lock:
        return JSONResponse(
            {"value": _alerts_with(ctx.tenant, _domain_match(ctx.params["domain"]))}
        )


@api("GET", "/api/domains/{domain}/machines", surface="mde", app=M_READ, delegated=M_READ_D)
async def domain_machines(ctx: Ctx) -> Response:
    """Machines that reached a domain (at most 500)."""
    with ctx.state.lock:
        alerts = _alerts_with(ctx.tenant, _domain_match(ctx.params["domain"]))
        return JSONResponse({"value": _machines_of(ctx.tenant, alerts)[:500]})


def _user_match(name: str) -> Any:
    low = name.lower()
    return lambda e: e.get("entityType") == "User" and str(e.get("accountName")).lower() == low


@api("GET", "/api/users/{user}/alerts", surface="mde", app=A_READ, delegated=A_READ_D)
async def user_alerts(ctx: Ctx) -> Response:
    """Alerts of a user (the id is the account name, not the UPN)."""
    with ctx.state.lock:
        return JSONResponse({"value": _alerts_with(ctx.tenant, _user_match(ctx.params["user"]))})


# the user-machines page lists Machine.ReadWrite.All (as documented)
@api(
    "GET",
    "/api/users/{user}/machines",
    surface="mde",
    app=("Machine.ReadWrite.All",),
    delegated=("Machine.ReadWrite",),
)
async def user_machines(ctx: Ctx) -> Response:
    """Machines a user logged on to."""
    with ctx.state.lock:
        alerts = _alerts_with(ctx.tenant, _user_match(ctx.params["user"]))
        return JSONResponse({"value": _machines_of(ctx.tenant, alerts)})


# -- automated investigations --------------------------------------------------------------

INVESTIGATION_FILTERS = ("startTime", "id", "state", "machineId", "triggeringAlertId")


@api("GET", "/api/investigations", surface="mde", app=A_READ, delegated=A_READ_D)
async def list_investigations(ctx: Ctx) -> Response:
    """Automated investigations."""
    top, skip = parse_top_skip(ctx.query, 10_000)
    pred = compile_filter(ctx.query.get("$filter"), INVESTIGATION_FILTERS)
    with ctx.state.lock:
        rows = [dict(i) for i in ctx.tenant.data["investigations"].values() if pred(i)]
    rows.sort(key=lambda i: i["startTime"], reverse=True)
    return JSONResponse({"value": rows[skip : skip + top]})


@api("GET", "/api/investigations/{id}", surface="mde", app=A_READ, delegated=A_READ_D)
async def get_investigation(ctx: Ctx) -> Response:
    """One investigation."""
    with ctx.state.lock:
        inv = ctx.tenant.data["investigations"].get(ctx.params["id"])
    if inv is None:
        raise ApiError(404, "ResourceNotFound", f"Investigation {ctx.params['id']} was not found")
    return JSONResponse(dict(inv))


# -- threat and vulnerability management ---------------------------------------------------

SOFTWARE_FILTERS = ("id", "name", "vendor")
VULN_FILTERS = ("id", "name", "description", "cvssV3", "publishedOn", "severity", "updatedOn")
REC_FILTERS = (
    "id",
    "productName",
    "vendor",
    "recommendedVersion",
    "recommendationCategory",
    "subCategory",
    "severityScore",
    "remediationType",
    "recommendedProgram",
    "recommendedVendor",
    "status",
)


def _page(ctx: Ctx, rows: list[dict[str, Any]], maximum: int, filters: tuple[str, ...]) -> Response:
    top, skip = parse_top_skip(ctx.query, maximum)
    pred = compile_filter(ctx.query.get("$filter"), filters)
    kept = [r for r in rows if pred(r)]
    return JSONResponse({"value": kept[skip : skip + top]})


def _strip(rows: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


@api(
    "GET", "/api/Software", surface="mde", app=("Software.Read.All",), delegated=("Software.Read",)
)
async def software(ctx: Ctx) -> Response:
    """Software inventory ($top <= 10,000)."""
    with ctx.state.lock:
        rows = _strip(ctx.tenant.data["software"].values())
    return _page(ctx, rows, 10_000, SOFTWARE_FILTERS)


@api(
    "GET",
    "/api/Software/{id}/vulnerabilities",
    surface="mde",
    app=("Vulnerability.Read.All",),
    delegated=("Vulnerability.Read",),
)
async def software_vulnerabilities(ctx: Ctx) -> Response:
    """Vulnerabilities of one software."""
    with ctx.state.lock:
        sw = ctx.tenant.data["software"].get(ctx.params["id"])
        if sw is None:
            raise ApiError(404, "ResourceNotFound", f"Software {ctx.params['id']} was not found")
        rows = _strip(ctx.tenant.data["vulnerabilities"][v] for v in sw["_cves"])
    return JSONResponse({"value": rows})


@api(
    "GET",
    "/api/vulnerabilities",
    surface="mde",
    app=("Vulnerability.Read.All",),
    delegated=("Vulnerability.Read",),
)
async def vulnerabilities(ctx: Ctx) -> Response:
    """All vulnerabilities ($top <= 8,000, as documented)."""
    with ctx.state.lock:
        rows = _strip(ctx.tenant.data["vulnerabilities"].values())
    return _page(ctx, rows, 8_000, VULN_FILTERS)


@api(
    "GET",
    "/api/vulnerabilities/{id}/machineReferences",
    surface="mde",
    app=("Vulnerability.Read.All",),
    delegated=("Vulnerability.Read",),
)
async def vulnerability_machines(ctx: Ctx) -> Response:
    """Machines exposed to a vulnerability."""
    with ctx.state.lock:
        v = ctx.tenant.data["vulnerabilities"].get(ctx.params["id"])
        if v is None:
            raise ApiError(
                404, "ResourceNotFound", f"Vulnerability {ctx.params['id']} was not found"
            )
        rows = [
            {
                "id": m["id"],
                "computerDnsName": m["computerDnsName"],
                "osPlatform": m["osPlatform"],
                "rbacGroupName": m.get("rbacGroupName"),
            }
            for mid in v["_machines"]
            if (m := ctx.tenant.data["machines"].get(mid))
        ]
    return JSONResponse({"value": rows})


@api(
    "GET",
    "/api/machines/{id}/vulnerabilities",
    surface="mde",
    app=("Vulnerability.Read.All",),
    delegated=("Vulnerability.Read",),
    family="machine_vulnerabilities",
)
async def machine_vulnerabilities(ctx: Ctx) -> Response:
    """Vulnerabilities discovered on a machine."""
    from prefect_defender.emulator.routes.machines import find_machine

    with ctx.state.lock:
        m = find_machine(ctx.tenant, ctx.params["id"])
        rows = _strip(
            v for v in ctx.tenant.data["vulnerabilities"].values() if m["id"] in v["_machines"]
        )
    return JSONResponse({"value": rows})


@api(
    "GET",
    "/api/recommendations",
    surface="mde",
    app=("SecurityRecommendation.Read.All",),
    delegated=("SecurityRecommendation.Read",),
)
async def recommendations(ctx: Ctx) -> Response:
    """Security recommendations ($top <= 10,000)."""
    with ctx.state.lock:
        rows = _strip(ctx.tenant.data["recommendations"].values())
    return _page(ctx, rows, 10_000, REC_FILTERS)


@api("GET", "/api/exposureScore", surface="mde", app=("Score.Read.All",), delegated=("Score.Read",))
async def exposure_score(ctx: Ctx) -> Response:
    """The organisation's exposure score."""
    with ctx.state.lock:
        score = ctx.tenant.data["scores"].get("exposure", 0.0)
    return JSONResponse({"time": iso(datetime.now(UTC)), "score": score, "rbacGroupId": None})


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
    """Investigations for the seeded alerts, software, CVEs and recommendations."""
    rng = random.Random(f"{state.config.get('seed', 1)}/tvm/{tenant.name}")
    machines = list(tenant.data["machines"])
    now = datetime.now(UTC)
    for k, a in enumerate(tenant.data["alerts"].values()):
        inv_id = str(4000 + k)
        a["investigationId"] = int(inv_id)
        tenant.data["investigations"][inv_id] = {
            "id": inv_id,
            "startTime": a["alertCreationTime"],
            "endTime": None if a.get("status") != "Resolved" else a["lastUpdateTime"],
            "state": "Running" if a.get("status") != "Resolved" else "Benign",
            "cancelledBy": None,
            "statusDetails": None,
            "machineId": a.get("machineId"),
            "computerDnsName": a.get("computerDnsName"),
            "triggeringAlertId": a["id"],
        }
    tenant.counters["investigation"] = 5000
    n_cve = 0
    for vendor, name, version in SOFTWARE:
        sid = f"{vendor}-_-{name}"
        exposed = rng.sample(machines, k=min(len(machines), rng.randint(1, 12)))
        cves = []
        for _ in range(rng.randint(1, 4)):
            n_cve += 1
            cve = f"CVE-2024-{20000 + n_cve}"
            cves.append(cve)
            sev = rng.choice(["Low", "Medium", "High", "Critical"])
            tenant.data["vulnerabilities"][cve] = {
                "id": cve,
                "name": cve,
                "description": f"A flaw in {name} {version}.",
                "severity": sev,
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
        tenant.data["software"][sid] = {
            "id": sid,
            "name": name,
            "vendor": vendor,
            "weaknesses": len(cves),
            "publicExploit": any(tenant.data["vulnerabilities"][c]["publicExploit"] for c in cves),
            "activeAlert": False,
            "exposedMachines": len(exposed),
            "impactScore": len(cves) * 1.7,
            "_cves": cves,
        }
        rid = f"va-_-{sid}"
        tenant.data["recommendations"][rid] = {
            "id": rid,
            "productName": name,
            "recommendationName": f"Update {name}",
            "weaknesses": len(cves),
            "vendor": vendor,
            "recommendedVersion": "latest",
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
            "totalMachineCount": len(machines),
            "exposedMachinesCount": len(exposed),
            "nonProductivityImpactedAssets": 0,
            "relatedComponent": name,
        }
    tenant.data["scores"]["exposure"] = round(rng.uniform(20, 60), 2)
