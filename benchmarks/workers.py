"""Benchmark workloads that run in their own process, so CPU time, peak memory and import time
belong to one client only. Usage: ``python benchmarks/workers.py <name> <json args>``; prints one
JSON line with the measurements."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any


def _status_mb(key: str) -> float:
    """A ``/proc/self/status`` memory figure (``VmRSS``, ``VmHWM``) in MB; 0 if unreadable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _peak_mb() -> float:
    """Peak resident memory of this process's own address space, in MB.

    ``ru_maxrss`` is not that on Linux: ``execve`` carries the high-water mark of the forked
    parent's copy over (the runner's ~140 MB showed on both sides). ``VmHWM`` belongs to the
    address space the worker's ``exec`` created, so each side reports only itself.
    """
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


async def ours_list_graph(conn: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """List every Graph incident and run one Graph hunting query with prefect-defender."""
    t0 = time.perf_counter()
    from prefect_defender.blocks import DefenderApplicationCredentials

    import_s = time.perf_counter() - t0
    creds = DefenderApplicationCredentials.from_emulator(
        conn, rate_limits={"graph_security": [(1_000_000, 60)], "hunting": [(1_000_000, 60)]}
    )
    c0, w0 = time.process_time(), time.perf_counter()
    async with creds.get_client() as client:
        n = 0
        async for _ in client.graph_incidents.iterate():
            n += 1
        hunt = await client.hunting.run(args["query"])
    return {
        "import_s": import_s,
        "wall_s": time.perf_counter() - w0,
        "cpu_s": time.process_time() - c0,
        "items": n,
        "hunt_rows": len(hunt),
    }


async def sdk_list_graph(conn: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """The same with msgraph-sdk and azure-identity, as a Microsoft shop would write it."""
    import ssl

    t0 = time.perf_counter()
    import httpx
    from azure.identity.aio import ClientSecretCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.security.incidents.incidents_request_builder import (
        IncidentsRequestBuilder,
    )
    from msgraph.generated.security.microsoft_graph_security_run_hunting_query.run_hunting_query_post_request_body import (  # noqa: E501
        RunHuntingQueryPostRequestBody,
    )
    from msgraph_core import GraphClientFactory

    import_s = time.perf_counter() - t0
    app = conn["apps"]["soc"]
    c0, w0 = time.process_time(), time.perf_counter()
    credential = ClientSecretCredential(
        app["tenant_id"],
        app["client_id"],
        app["client_secret"],
        authority=conn["authority_host"],
        disable_instance_discovery=True,
        connection_verify=conn["ca_bundle"],
    )
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["localhost"]
    )
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=conn["ca_bundle"]))
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = conn["graph_base_url"]
    client = GraphServiceClient(request_adapter=adapter)
    n = 0
    page = await client.security.incidents.get(
        request_configuration=IncidentsRequestBuilder.IncidentsRequestBuilderGetRequestConfiguration(
            # the page size our client asks for by default (1,000), so both send the same requests
            query_parameters=IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(
                top=1000
            )
        )
    )
    while page is not None:
        n += len(page.value or [])
        if not page.odata_next_link:
            break
        page = await client.security.incidents.with_url(page.odata_next_link).get()
    body = RunHuntingQueryPostRequestBody(query=args["query"])
    hunt = await client.security.microsoft_graph_security_run_hunting_query.post(body)
    rows = len(hunt.results or []) if hunt else 0
    await credential.close()
    return {
        "import_s": import_s,
        "wall_s": time.perf_counter() - w0,
        "cpu_s": time.process_time() - c0,
        "items": n,
        "hunt_rows": rows,
    }


async def hunt_parse(conn: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Parse a 100,000-row hunting answer held in memory (the Python heap the parse allocates,
    measured with tracemalloc, and this process's resident peak)."""
    import tracemalloc

    from prefect_defender.api.catalog import endpoint
    from prefect_defender.api.models.hunting import HuntingResult, HuntingSurface
    from prefect_defender.blocks import DefenderApplicationCredentials

    creds = DefenderApplicationCredentials.from_emulator(
        conn, rate_limits={"hunting": [(1_000_000, 60)]}
    )
    async with creds.get_client() as client:
        resp = await client.transport.request(
            endpoint("graph.hunting.run"), json={"Query": args["query"]}, idempotent=True
        )
        raw_mb = len(resp.content) / 1e6
        tracemalloc.start()
        t0 = time.perf_counter()
        result = HuntingResult.from_api(HuntingSurface.GRAPH, resp.json())
        parse_s = time.perf_counter() - t0
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "raw_mb": raw_mb,
        "rows": len(result),
        "parse_s": parse_s,
        "heap_peak_mb": heap_peak / 1e6,
    }


async def hunt_export(conn: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Stream the same answer to a JSON-lines file in a fresh process: rows/s and the resident
    memory before the call and at its peak (``VmHWM``, this process only)."""
    from prefect_defender.blocks import DefenderApplicationCredentials
    from prefect_defender.tasks.hunting import export_hunting_result

    creds = DefenderApplicationCredentials.from_emulator(
        conn, rate_limits={"hunting": [(1_000_000, 60)]}
    )
    rss_before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    info = await export_hunting_result.fn(creds, args["query"], args["dest"])
    export_s = time.perf_counter() - t0
    return {
        "rows": info["rows"],
        "file_mb": info["bytes"] / 1e6,
        "export_s": export_s,
        "rss_before_mb": rss_before,
    }


class _FdPeak:
    """The most file descriptors this process held at once, sampled every few milliseconds."""

    def __init__(self, every: float = 0.005) -> None:
        import threading

        self.peak = self.now()
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> int:
        import os

        try:
            return len(os.listdir("/proc/self/fd"))
        except OSError:  # EMFILE while listing: the table is full
            return -1

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            n = self.now()
            self.peak = max(self.peak, n) if n >= 0 else self.peak

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


async def mssp_fanout(conn: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """The MSSP fan-out flow over a saved partner block (a kept Prefect server named by
    ``PREFECT_API_URL``): a warm-up run over one tenant, then the measured run; CPU, wall,
    resident memory and open files of this process (``nofile``: the soft ``RLIMIT_NOFILE``,
    as ``ulimit -n`` sets it)."""
    if args.get("nofile"):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(args["nofile"]), hard))
    from prefect_defender.flows.mssp import mssp_fanout as flow

    params = {"query": args["query"], "indicator_baseline": args["baseline"]}
    params.update(args.get("params") or {})
    await flow(credentials=args["warm_block"], **params)
    rss_before, fds_before = _status_mb("VmRSS"), _FdPeak.now()
    sampler = _FdPeak()
    c0, w0 = time.process_time(), time.perf_counter()
    error = ""
    statuses: dict[str, int] = {}
    try:
        rows = await flow(credentials=args["block"], **params)
        for row in rows:
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    except BaseException as exc:  # the whole run failing is the measurement too
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mb": rss_before,
        "fds_before": fds_before,
        "peak_fds": sampler.stop(),
        "statuses": statuses,
        "error": error,
    }


WORKERS = {
    "ours_list_graph": ours_list_graph,
    "sdk_list_graph": sdk_list_graph,
    "hunt_parse": hunt_parse,
    "hunt_export": hunt_export,
    "mssp_fanout": mssp_fanout,
}


def main() -> None:
    """Run one worker and print its measurements as JSON."""
    name, payload = sys.argv[1], json.loads(sys.argv[2])
    out = asyncio.run(WORKERS[name](payload["conn"], payload.get("args", {})))
    out["peak_rss_mb"] = _peak_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
