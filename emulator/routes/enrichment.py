"""Entity enrichment: files, IP addresses, domains and users (MDE ``/api/files`` ...).

Everything is derived from the seeded world, so it is consistent with the incidents, alerts,
machines and hunting tables:

* a *sighting* is an entity seen on a machine at a time: every entity of every alert (on the
  alert's machine, at its first event), plus the demo incident's IOCs (``seed.IOCS``) on the two
  extra workstations the hunting tables plant them on;
* statistics count the distinct machines with a sighting inside ``lookBackHours``; related
  machines are the machines with a sighting; related alerts are the alerts naming the entity.

Documented behaviour served here: files by SHA-1 or SHA-256 (404 for an unknown file on
``/files/{id}`` and ``/stats``), related alerts/machines by SHA-1 only with an empty 200 for an
unknown file, ``lookBackHours`` 1..720, 400 for an invalid IP, prevalence 0 for an unseen IP or
domain, at most 500 machines per domain, users by account name (not UPN) with an empty 200 for
an unknown user. Permissions are the ones each page lists, including the two that ask for more
than read access (domain alerts: Alert.ReadWrite.All; user machines: Machine.ReadWrite.All).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from prefect_defender.emulator.guard import ApiError, Ctx, api
from prefect_defender.emulator.odata import collection, metadata
from prefect_defender.emulator.routes.machines import public
from prefect_defender.emulator.seed import IOCS, iso
from prefect_defender.emulator.state import EmulatorState, Tenant
from prefect_defender.emulator.views import mde_file

A_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
A_READ_D = ("Alert.Read", "Alert.ReadWrite")
M_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
M_READ_D = ("Machine.Read", "Machine.ReadWrite")
MAX_LOOK_BACK = 720
MAX_DOMAIN_MACHINES = 500
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_-]{1,63}\.)+[A-Za-z0-9-]{2,63}$")


def _ts(value: str) -> datetime:
    """A Defender timestamp (``Z``, up to seven fractional digits) as an aware datetime."""
    text = str(value).strip().removesuffix("Z").split("+")[0]
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _alert_sightings(tenant: Tenant) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in tenant.data["alerts"].values():
        mid, when = a.get("machineId"), a.get("firstEventTime") or a.get("alertCreationTime")
        if not mid or not when:
            continue
        for e in a.get("entities") or []:
            kind = e.get("entityType")
            base = {"machineId": mid, "time": when, "alertId": a["id"]}
            if kind == "File":
                for h in (e.get("sha1"), e.get("sha256")):
                    if h:
                        out.append({**base, "kind": "file", "value": h.lower(), **_file(e)})
            elif kind == "Ip" and e.get("ipAddress"):
                out.append({**base, "kind": "ip", "value": str(e["ipAddress"]).lower()})
            elif kind == "Url" and e.get("url"):
                host = (urlsplit(str(e["url"])).hostname or "").lower()
                if host:
                    out.append({**base, "kind": "domain", "value": host})
            elif kind == "User" and e.get("accountName"):
                out.append({**base, "kind": "user", "value": str(e["accountName"]).lower()})
    return out


def _file(e: dict[str, Any]) -> dict[str, Any]:
    return {"sha1": e.get("sha1"), "sha256": e.get("sha256"), "fileName": e.get("fileName")}


def _sightings(tenant: Tenant, kind: str, match: Callable[[str], bool]) -> list[dict[str, Any]]:
    rows = _alert_sightings(tenant) + list(tenant.data["entitySightings"].values())
    return [s for s in rows if s["kind"] == kind and match(s["value"])]


def _alerts_with(tenant: Tenant, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    out = []
    for a in tenant.data["alerts"].values():
        if any(match(e) for e in a.get("entities") or []):
            out.append({k: v for k, v in a.items() if k not in ("entities", "graphComments")})
    out.sort(key=lambda a: str(a.get("alertCreationTime")), reverse=True)
    return out


def _machines(tenant: Tenant, sightings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last: dict[str, str] = {}
    for s in sightings:
        last[s["machineId"]] = max(last.get(s["machineId"], ""), s["time"])
    ordered = sorted(last, key=lambda m: last[m], reverse=True)
    machines = tenant.data["machines"]
    return [public(machines[m]) for m in ordered if m in machines]


def _look_back(ctx: Ctx) -> datetime:
    raw = ctx.query.get("lookBackHours")
    if raw is None:
        hours = MAX_LOOK_BACK
    else:
        if not raw.strip().isdigit() or not 0 < int(raw) <= MAX_LOOK_BACK:
            raise ApiError(
                400,
                "InvalidInput",
                f"The value of lookBackHours '{raw}' is invalid: the maximum is "
                f"{MAX_LOOK_BACK} hours (30 days).",
            )
        hours = int(raw)
    return datetime.now(UTC) - timedelta(hours=hours)


def _stats(sightings: list[dict[str, Any]], since: datetime) -> dict[str, Any]:
    inside = [s for s in sightings if _ts(s["time"]) >= since]
    times = sorted(s["time"] for s in inside)
    return {
        "organizationPrevalence": len({s["machineId"] for s in inside}),
        "orgFirstSeen": times[0] if times else None,
        "orgLastSeen": times[-1] if times else None,
    }


# -- files ---------------------------------------------------------------------------------


def _hash(ctx: Ctx, sha1_only: bool = False) -> str:
    h = ctx.params["id"]
    lengths = {40} if sha1_only else {40, 64}
    if len(h) not in lengths or not _HEX.match(h):
        what = "a SHA-1 hash (SHA-256 and MD5 are not supported)" if sha1_only else "SHA-1/SHA-256"
        raise ApiError(400, "InvalidHashValue", f"Invalid hash value '{h}': expected {what}.")
    return h.lower()


def _file_entity(tenant: Tenant, h: str) -> dict[str, Any] | None:
    for s in _sightings(tenant, "file", lambda v: v == h):
        return s
    return None


def _file_alert_match(h: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (
        e.get("entityType") == "File"
        and h in (str(e.get("sha1") or "").lower(), str(e.get("sha256") or "").lower())
    )


@api("GET", "/api/files/{id}", surface="mde", app=("File.Read.All",))
async def file_info(ctx: Ctx) -> Response:
    """A file by SHA-1 or SHA-256; 404 for a file the organisation never saw."""
    h = _hash(ctx)
    with ctx.state.lock:
        ent = _file_entity(ctx.tenant, h)
        seen = sorted(s["time"] for s in _sightings(ctx.tenant, "file", lambda v: v == h))
    if ent is None:
        raise ApiError(404, "ResourceNotFound", f"File {h} was not found")
    sha1 = str(ent.get("sha1") or "").lower() or None
    ioc = sha1 == IOCS["sha1"]
    return JSONResponse(
        {
            "@odata.context": metadata(ctx, "Files/$entity"),
            **mde_file(
                sha1,
                str(ent.get("sha256") or "").lower() or None,
                IOCS["md5"] if ioc else hashlib.md5(str(sha1).encode()).hexdigest(),  # noqa: S324 - a fake md5
                prevalence=12 if ioc else 3,
                first_seen=seen[0] if seen else None,
                last_seen=seen[-1] if seen else None,
                determination=("Malware", "Ransom:Win32/Emulated") if ioc else ("Unknown", None),
            ),
        }
    )


@api("GET", "/api/files/{id}/stats", surface="mde", app=("File.Read.All",))
async def file_stats(ctx: Ctx) -> Response:
    """Prevalence of a file (``lookBackHours`` 1..720); 404 for an unknown file."""
    h = _hash(ctx)
    since = _look_back(ctx)
    with ctx.state.lock:
        sightings = _sightings(ctx.tenant, "file", lambda v: v == h)
    if not sightings:
        raise ApiError(404, "ResourceNotFound", f"File {h} was not found")
    names = sorted({str(s["fileName"]) for s in sightings if s.get("fileName")})
    sha1 = next((str(s["sha1"]).lower() for s in sightings if s.get("sha1")), None)
    return JSONResponse(
        {
            "@odata.context": metadata(ctx, "microsoft.windowsDefenderATP.api.InOrgFileStats"),
            "sha1": sha1,
            **_stats(sightings, since),
            "globallyPrevalence": 12 if sha1 == IOCS["sha1"] else 3,
            "globalFirstObserved": min(s["time"] for s in sightings),
            "globalLastObserved": max(s["time"] for s in sightings),
            "topFileNames": names,
        }
    )


@api("GET", "/api/files/{id}/alerts", surface="mde", app=A_READ, delegated=A_READ_D)
async def file_alerts(ctx: Ctx) -> Response:
    """Alerts of a file (SHA-1 only); an unknown file answers an empty list."""
    h = _hash(ctx, sha1_only=True)
    with ctx.state.lock:
        rows = _alerts_with(ctx.tenant, _file_alert_match(h))
    return collection(ctx, "Alerts", rows)


@api("GET", "/api/files/{id}/machines", surface="mde", app=M_READ, delegated=M_READ_D)
async def file_machines(ctx: Ctx) -> Response:
    """Machines that saw a file (SHA-1 only); an unknown file answers an empty list."""
    h = _hash(ctx, sha1_only=True)
    with ctx.state.lock:
        rows = _machines(ctx.tenant, _sightings(ctx.tenant, "file", lambda v: v == h))
    return collection(ctx, "Machines", rows)


# -- IP addresses --------------------------------------------------------------------------


def _ip(ctx: Ctx) -> str:
    raw = ctx.params["ip"]
    try:
        return str(ipaddress.ip_address(raw)).lower()
    except ValueError:
        raise ApiError(400, "InvalidIpAddress", f"Invalid IP address '{raw}'.") from None


@api("GET", "/api/ips/{ip}/stats", surface="mde", app=("Ip.Read.All",))
async def ip_stats(ctx: Ctx) -> Response:
    """Prevalence of an IP (an unseen valid IP has prevalence 0; an invalid one is 400)."""
    ip = _ip(ctx)
    since = _look_back(ctx)
    with ctx.state.lock:
        sightings = _sightings(ctx.tenant, "ip", lambda v: v == ip)
    return JSONResponse(
        {
            "@odata.context": metadata(ctx, "microsoft.windowsDefenderATP.api.InOrgIPStats"),
            "ipAddress": ip,
            **_stats(sightings, since),
        }
    )


@api("GET", "/api/ips/{ip}/alerts", surface="mde", app=A_READ, delegated=A_READ_D)
async def ip_alerts(ctx: Ctx) -> Response:
    """Alerts involving an IP (an unseen valid IP answers an empty list)."""
    ip = _ip(ctx)
    with ctx.state.lock:
        rows = _alerts_with(
            ctx.tenant,
            lambda e: e.get("entityType") == "Ip" and str(e.get("ipAddress")).lower() == ip,
        )
    return collection(ctx, "Alerts", rows)


# -- domains -------------------------------------------------------------------------------


def _domain(ctx: Ctx) -> str:
    raw = ctx.params["domain"]
    if not _DOMAIN.match(raw):
        raise ApiError(400, "InvalidDomainName", f"Invalid domain name '{raw}'.")
    return raw.lower().rstrip(".")


def _under(domain: str) -> Callable[[str], bool]:
    return lambda host: host == domain or host.endswith("." + domain)


def _url_host_under(domain: str) -> Callable[[dict[str, Any]], bool]:
    inside = _under(domain)

    def match(e: dict[str, Any]) -> bool:
        if e.get("entityType") != "Url" or not e.get("url"):
            return False
        return inside((urlsplit(str(e["url"])).hostname or "").lower())

    return match


@api("GET", "/api/domains/{domain}/stats", surface="mde", app=("URL.Read.All",))
async def domain_stats(ctx: Ctx) -> Response:
    """Prevalence of a domain and its subdomains (an unseen domain has prevalence 0)."""
    d = _domain(ctx)
    since = _look_back(ctx)
    with ctx.state.lock:
        sightings = _sightings(ctx.tenant, "domain", _under(d))
    return JSONResponse(
        {
            "@odata.context": metadata(ctx, "microsoft.windowsDefenderATP.api.InOrgDomainStats"),
            "host": d,
            **_stats(sightings, since),
        }
    )


# get-domain-related-alerts.md (11/2025) lists the write permission only; served as documented
@api(
    "GET",
    "/api/domains/{domain}/alerts",
    surface="mde",
    app=("Alert.ReadWrite.All",),
    delegated=("Alert.ReadWrite",),
)
async def domain_alerts(ctx: Ctx) -> Response:
    """Alerts involving a domain (an unseen domain answers an empty list)."""
    d = _domain(ctx)
    with ctx.state.lock:
        rows = _alerts_with(ctx.tenant, _url_host_under(d))
    return collection(ctx, "Alerts", rows)


@api("GET", "/api/domains/{domain}/machines", surface="mde", app=M_READ, delegated=M_READ_D)
async def domain_machines(ctx: Ctx) -> Response:
    """Machines that communicated with a domain (at most 500, as documented)."""
    d = _domain(ctx)
    with ctx.state.lock:
        rows = _machines(ctx.tenant, _sightings(ctx.tenant, "domain", _under(d)))
    return JSONResponse(
        {"@odata.context": metadata(ctx, "Machines"), "value": rows[:MAX_DOMAIN_MACHINES]}
    )


# -- users ---------------------------------------------------------------------------------


def _user(ctx: Ctx) -> str:
    # the id is the account name, not the UPN: a UPN simply matches no user (empty 200)
    return ctx.params["user"].lower()


@api("GET", "/api/users/{user}/alerts", surface="mde", app=A_READ, delegated=A_READ_D)
async def user_alerts(ctx: Ctx) -> Response:
    """Alerts of a user by account name; an unknown user (or a UPN) answers an empty list."""
    name = _user(ctx)
    with ctx.state.lock:
        rows = _alerts_with(
            ctx.tenant,
            lambda e: e.get("entityType") == "User" and str(e.get("accountName")).lower() == name,
        )
    return collection(ctx, "Alerts", rows)


# get-user-related-machines.md (11/2025) lists Machine.ReadWrite.All only; served as documented
@api(
    "GET",
    "/api/users/{user}/machines",
    surface="mde",
    app=("Machine.ReadWrite.All",),
    delegated=("Machine.ReadWrite",),
)
async def user_machines(ctx: Ctx) -> Response:
    """Machines a user logged on to; an unknown user (or a UPN) answers an empty list."""
    name = _user(ctx)
    with ctx.state.lock:
        rows = _machines(ctx.tenant, _sightings(ctx.tenant, "user", lambda v: v == name))
    return collection(ctx, "Machines", rows)


def seed(state: EmulatorState, tenant: Tenant) -> None:
    """Sightings of the demo incident's IOCs on the two extra workstations the hunting tables
    plant them on (the demo workstation's own sightings come from its alerts)."""
    store = tenant.data["entitySightings"]
    machines = tenant.data["machines"]
    workstations = [m for m in machines.values() if "-ws-" in m["computerDnsName"]]
    demo = [a for a in tenant.data["alerts"].values() if a.get("incidentId") == 1001]
    hosts = [machines[demo[0]["machineId"]]] if demo and demo[0].get("machineId") else []
    hosts += [m for m in workstations[1:3] if m not in hosts]
    when = iso(datetime.now(UTC) - timedelta(hours=2))
    n = 0
    for m in hosts[1:3]:
        ioc_file = {"sha1": IOCS["sha1"], "sha256": IOCS["sha256"], "fileName": IOCS["file_name"]}
        rows = [
            {"kind": "file", "value": IOCS["sha1"], **ioc_file},
            {"kind": "file", "value": IOCS["sha256"], **ioc_file},
            {"kind": "ip", "value": IOCS["c2_ip"]},
            {"kind": "domain", "value": IOCS["c2_domain"]},
            {"kind": "user", "value": IOCS["account"]},
        ]
        for row in rows:
            n += 1
            store[n] = {**row, "machineId": m["id"], "time": when, "alertId": None}
