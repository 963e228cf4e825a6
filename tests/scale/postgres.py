"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temporary directory, one server on
127.0.0.1 and a free port, one database and a password-protected owner.

PostgreSQL refuses to run as root, so when the tests run as root (CI containers do) the cluster
directory is handed to an unprivileged account (``postgres`` when the Debian package created it,
else ``nobody``) and ``initdb``/``postgres`` run as that account (``subprocess`` ``user=``, no
``sudo``/``runuser`` needed). Only the ``postgres`` process started here is ever signalled.

Example:
    ```python
    with PostgresCluster() as pg:
        print(pg.url)      # postgresql+asyncpg://prefect:...@127.0.0.1:PORT/prefect
        print(pg.query("select version()"))
    ```
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PostgresCluster", "find_bindir"]


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres`` (newest Debian version first), or None.

    ``PG_BINDIR`` overrides the search.
    """
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])

    def major(path: str) -> int:
        name = Path(path).parent.name
        return int(name) if name.isdigit() else 0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for cand in candidates:
        path = Path(cand)
        if (path / "initdb").is_file() and (path / "postgres").is_file():
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_account() -> tuple[int, int]:
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account exists")


class PostgresCluster:
    """A PostgreSQL server on 127.0.0.1 in a temporary directory (a context manager)."""

    def __init__(
        self,
        *,
        user: str = "prefect",
        database: str = "prefect",
        bindir: Path | None = None,
        settings: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.user = user
        self.database = database
        self.password = secrets.token_urlsafe(18)
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (see scripts/system-deps.sh)")
        # a throwaway cluster: no fsync (the figures measure orchestration, not the disk)
        self.settings = {"fsync": "off", "max_connections": "100", **(settings or {})}
        self.startup_timeout = startup_timeout
        self.port = 0
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._ids: tuple[int, int] | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """SQLAlchemy URL for Prefect (``PREFECT_API_DATABASE_CONNECTION_URL``)."""
        return (
            f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/"
            f"{self.database}"
        )

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        assert self.root is not None
        return self.root / "postgres.log"

    # -- lifecycle -------------------------------------------------------------------------
    def _popen_kwargs(self) -> dict[str, Any]:
        assert self.root is not None
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "HOME": str(self.root),
        }
        kwargs: dict[str, Any] = {"env": env, "cwd": str(self.root)}
        if self._ids is not None:
            uid, gid = self._ids
            kwargs.update(user=uid, group=gid, extra_groups=[])
        return kwargs

    def start(self) -> PostgresCluster:
        """initdb, start the server, wait for it, create the database."""
        assert self.bindir is not None
        self.root = Path(tempfile.mkdtemp(prefix="pd-pg-"))
        data = self.root / "data"
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            self._ids = _unprivileged_account()
            for path in (self.root, pwfile):
                os.chown(path, *self._ids)
        init = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self._popen_kwargs(),
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stdout[-1500:]}{init.stderr[-1500:]}")
        last_error: Exception | None = None
        for _ in range(3):  # the free port can be taken between choosing and binding it
            self.port = _free_port()
            try:
                self._start_server(data)
                break
            except RuntimeError as exc:
                last_error = exc
        else:
            raise RuntimeError(f"postgres did not start: {last_error}")
        self.query(f'CREATE DATABASE "{self.database}"', database="postgres")
        return self

    def _start_server(self, data: Path) -> None:
        assert self.bindir is not None
        args = [
            str(self.bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.root}",
        ]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **self._popen_kwargs(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-1500:]
                self.proc = None
                raise RuntimeError(f"postgres exited: {tail}")
            try:
                self.query("SELECT 1", database="postgres")
                return
            except (TimeoutError, OSError):
                time.sleep(0.2)
            except Exception as exc:  # "the database system is starting up"
                if "starting up" not in str(exc):
                    raise
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections in {self.startup_timeout}s")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after 30 s; then remove the cluster directory."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- queries ---------------------------------------------------------------------------
    async def afetch(
        self, sql: str, *args: Any, database: str | None = None
    ) -> list[dict[str, Any]]:
        """Run ``sql`` and return its rows as dicts."""
        import asyncpg  # installed with prefect (its PostgreSQL driver)

        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            database=database or self.database,
            timeout=10,
        )
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    def query(self, sql: str, *args: Any, database: str | None = None) -> list[dict[str, Any]]:
        """Synchronous :meth:`afetch` (not from inside a running event loop)."""
        return asyncio.run(self.afetch(sql, *args, database=database))

    def __enter__(self) -> PostgresCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
