"""Running the emulator: in a thread (:class:`EmulatorServer`), as a subprocess
(:class:`EmulatorProcess`) or in the foreground (:func:`serve`).

All of them bind 127.0.0.1, serve HTTPS with the emulator's own CA and write
``DATA_DIR/connection.json`` once the socket listens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn

from prefect_defender.emulator.app import build_app, build_state
from prefect_defender.emulator.pki import server_tls
from prefect_defender.emulator.routes import managed_identity
from prefect_defender.emulator.state import EmulatorState

__all__ = ["Admin", "EmulatorProcess", "EmulatorServer", "serve"]


def _connection(state: EmulatorState, data_dir: Path, port: int, ca: Path) -> dict[str, Any]:
    base = f"https://localhost:{port}"
    return {
        "base_url": base,
        "authority_host": base,
        "xdr_base_url": base,
        "mde_base_url": base,
        "graph_base_url": f"{base}/v1.0",
        "admin_url": f"{base}/_emulator",
        "ca_bundle": str(ca.resolve()),
        "port": port,
        "tenants": [
            {
                "tenant_id": t.tenant_id,
                "name": t.name,
                "display_name": t.display_name,
                "domain": t.domain,
            }
            for t in state.tenants.values()
        ],
        "apps": {
            name: {
                "client_id": app.client_id,
                "tenant_id": app.home_tenant,
                "kind": app.kind,
                **({"client_secret": app.client_secret} if app.client_secret else {}),
                **(
                    {"certificate": {**app.cert_paths, "thumbprint": app.cert_sha1}}
                    if app.cert_paths
                    else {}
                ),
                **(
                    {"consented_tenants": sorted(app.consented_tenants)}
                    if name == "partner"
                    else {}
                ),
            }
            for name, app in state.apps.items()
        },
        "users": [
            {"username": u.username, "password": u.password, "tenant_id": u.tenant_id}
            for u in state.users.values()
        ],
        "managed_identity": {
            "app_service_endpoint": f"{base}/msi/token",
            "imds_host": base,
            **managed_identity.connection_info(state),
        },
        "oidc_issuer": f"{base}/oidc/aks",
    }


def _write_connection(data_dir: Path, conn: dict[str, Any]) -> None:
    tmp = data_dir / "connection.json.tmp"
    tmp.write_text(json.dumps(conn, indent=2))
    tmp.chmod(0o600)
    tmp.replace(data_dir / "connection.json")


class Admin:
    """A small synchronous client of the admin API (``/_emulator``)."""

    def __init__(self, base_url: str, ca_bundle: str) -> None:
        ctx = ssl.create_default_context(cafile=ca_bundle)
        self._http = httpx.Client(
            base_url=f"{base_url}/_emulator", verify=ctx, timeout=30, trust_env=False
        )

    def _ok(self, resp: httpx.Response) -> Any:
        resp.raise_for_status()
        return resp.json()

    def stats(self) -> dict[str, Any]:
        """Request and token counters."""
        result: dict[str, Any] = self._ok(self._http.get("/stats"))
        return result

    def surface_counts(self) -> dict[str, int]:
        """API requests per surface (``graph``, ``mde``, ``xdr``) and Entra ID's (``entra``)."""
        return {k: int(v) for k, v in self.stats()["surfaces"].items()}

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._ok(self._http.post("/stats/reset"))

    def config(self) -> dict[str, Any]:
        """The current knobs."""
        result: dict[str, Any] = self._ok(self._http.get("/config"))
        return result

    def patch_config(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs (``faults`` merged key by key)."""
        result: dict[str, Any] = self._ok(self._http.patch("/config", json=knobs))
        return result

    def revoke_tokens(self) -> None:
        """Reject every access token issued so far (401 on next use)."""
        self._ok(self._http.post("/tokens/revoke"))
        time.sleep(1.0)  # tokens carry whole-second iat: the next one must be newer

    def revoke_user(self, username: str) -> None:
        """Invalidate a user's refresh tokens."""
        self._ok(self._http.post(f"/users/{username}/revoke"))

    def consent(self, tenant_id: str, client_id: str, granted: bool = True) -> None:
        """Grant or withdraw an app's consent in a tenant."""
        method = "POST" if granted else "DELETE"
        self._ok(
            self._http.request(
                method, f"/tenants/{tenant_id}/consent", json={"client_id": client_id}
            )
        )

    def upsert_incidents(self, tenant_id: str, incidents: list[dict[str, Any]]) -> list[Any]:
        """Add or change incidents (``lastUpdateTime`` may be given explicitly)."""
        body = self._ok(
            self._http.post(f"/tenants/{tenant_id}/incidents", json={"incidents": incidents})
        )
        return list(body["incidents"])

    def dump(self, tenant_id: str, collection: str) -> list[Any]:
        """Every record of a tenant's collection (machineActions, indicators, ...)."""
        return list(self._ok(self._http.get(f"/tenants/{tenant_id}/state/{collection}"))["value"])

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()


class _Base:
    def __init__(self, data_dir: str | Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.requested_port = port
        self.connection: dict[str, Any] = {}
        self._admin: Admin | None = None

    def start(self) -> Self:
        """Start serving; ``self`` once the emulator answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``https://localhost:PORT``."""
        return str(self.connection["base_url"])

    @property
    def port(self) -> int:
        """The listening port."""
        return int(self.connection["port"])

    @property
    def admin(self) -> Admin:
        """The admin API helper."""
        admin = self._admin
        if admin is None:
            admin = self._admin = Admin(self.base_url, self.connection["ca_bundle"])
        return admin


class EmulatorServer(_Base):
    """The emulator on a background thread of this process.

    Example:
        ```python
        with EmulatorServer("emu") as emu:  # a data directory of its own
            print(emu.connection["mde_base_url"])
        ```
    """

    def __init__(
        self, data_dir: str | Path, port: int = 0, config: dict[str, Any] | None = None
    ) -> None:
        super().__init__(data_dir, port)
        self.state = build_state(self.data_dir, config)
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None

    def start(self) -> Self:
        """Start serving; returns once connection.json is written."""
        tls = server_tls(self.data_dir)
        config = uvicorn.Config(
            build_app(self.state),
            host="127.0.0.1",
            port=self.requested_port,
            ssl_certfile=str(tls.cert_pem),
            ssl_keyfile=str(tls.key_pem),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
            limit_concurrency=2000,
            backlog=2048,
        )
        server = uvicorn.Server(config)
        self._server = server
        self.state.server_state = server.server_state

        def run() -> None:
            asyncio.run(server.serve())

        self._thread = threading.Thread(target=run, name="defender-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.connection = _connection(self.state, self.data_dir, port, tls.ca_pem)
        _write_connection(self.data_dir, self.connection)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            # uvicorn waits for every open connection to close; an idle keep-alive TLS
            # connection of a client that is not reading (a pooled httpx client) only closes
            # when its SSL shutdown times out, so after a short grace period force the exit.
            self._thread.join(timeout=1.0)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
            self._thread.join(timeout=10)
        store = self.state.extensions.pop("hunting", None)
        if store is not None:  # every tenant's hunting tables
            store.close()


class EmulatorProcess(_Base):
    """The emulator as a child process (benchmarks: it does not share this process's CPU)."""

    def __init__(
        self, data_dir: str | Path, port: int = 0, config: dict[str, Any] | None = None
    ) -> None:
        super().__init__(data_dir, port)
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Self:
        """Start the child and wait for its connection.json."""
        conn_file = self.data_dir / "connection.json"
        conn_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "prefect_defender.emulator",
            "serve",
            "--port",
            str(self.requested_port),
            "--data-dir",
            str(self.data_dir),
        ]
        if self.config:
            cfg = self.data_dir / "config.json"
            cfg.write_text(json.dumps(self.config))
            cmd += ["--config", str(cfg)]
        log = (self.data_dir / "emulator.log").open("ab")
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not conn_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start; see {self.data_dir}/emulator.log")
            time.sleep(0.05)
        self.connection = json.loads(conn_file.read_text())
        return self

    def stop(self) -> None:
        """Terminate the child (its own process group)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(os.getpgid(self.proc.pid), signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(os.getpgid(self.proc.pid), signal.SIGKILL)
                self.proc.wait(timeout=5)


def port_to_reuse(data_dir: str | Path) -> tuple[int, str | None]:
    """The port to listen on when none is asked for: the one ``DATA_DIR/connection.json``
    recorded, so blocks saved against this emulator keep working across restarts; a free one
    (0) when there is none or it is taken now, with a note saying so."""
    conn_file = Path(data_dir) / "connection.json"
    try:
        old = int(json.loads(conn_file.read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None
    if not 0 < old < 65536:
        return 0, None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT after a restart is still ours
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", old))
        except OSError:
            return 0, (
                f"port {old} (recorded in {conn_file}) is taken; using a new free port: save "
                "blocks from this emulator again (from_emulator) or stop what holds the port"
            )
    return old, None


def serve(
    port: int | None = None,
    data_dir: str = ".emulator",
    config_path: str | None = None,
    retire: Sequence[str] = (),
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM.

    ``port=None`` reuses the port ``data_dir`` had (:func:`port_to_reuse`), ``0`` picks a free
    one. ``retire`` adds surfaces (``mde``, ``xdr``) to the ``retired_surfaces`` knob of the
    config file: every endpoint of theirs answers as a retired API (``emulator.retirement``).
    """
    if port is None:
        port, note = port_to_reuse(data_dir)
        if note:
            print(note, flush=True)
    config = json.loads(Path(config_path).read_text()) if config_path else {}
    if retire:
        config["retired_surfaces"] = [*config.get("retired_surfaces", []), *retire]
    server = EmulatorServer(data_dir, port, config or None).start()
    retired = server.state.config["retired_surfaces"]
    print(
        f"emulator on {server.base_url}; connection: {server.data_dir / 'connection.json'}"
        + (f"; retired: {', '.join(retired)}" if retired else ""),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    server.stop()
