"""Runs the whole mesh on one machine and stops it in order.

Start: check every port, create or renew the mesh's PKI in ``<data dir>/pki`` (unless the
TLS files are configured), start embedded PostgreSQL and Redis (only those whose URL is not
configured), then the four services as child processes (``python -m trademesh_cli <name>``)
at once, and wait — bounded — until each is healthy (gRPC ``Health/Check`` SERVING over
TLS, trusting the mesh CA; the gateway also ``GET /readyz`` 200). Up: wait for
SIGINT/SIGTERM; a service that dies is restarted (``restart_policy.py``: with back-off, and
not forever); an embedded server's death, or a service dying too often, stops the mesh with
that child's log tail. Stop, in reverse order: SIGTERM each service with a bounded wait
(then SIGKILL), then Redis, then PostgreSQL. Every child has its own process group and a
parent-death signal, so none outlives the supervisor, even after ``kill -9``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from mesh_runtime.child_process import Child, ChildSpec
from mesh_runtime.config import Settings
from mesh_runtime.embedded_postgres import EmbeddedPostgres
from mesh_runtime.embedded_redis import EmbeddedRedis
from mesh_runtime.pki import ensure_pki
from mesh_runtime.ports import check_ports
from mesh_runtime.probes import grpc_serving, grpc_target, http_ok, probe_host
from mesh_runtime.restart_policy import RestartPolicy
from mesh_runtime.tokens import ensure_keypair

Say = Callable[[str], None]
EmbeddedServer = EmbeddedPostgres | EmbeddedRedis


class StartupError(RuntimeError):
    """A part of the mesh did not come up; the message names it and quotes its log."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service process: its command name, gRPC port setting and optional HTTP check."""

    name: str
    grpc_port: str
    http_port: str = ""
    http_path: str = ""


SERVICES = (
    ServiceSpec("persistence", "persistence_port"),
    ServiceSpec("engine", "engine_port"),
    ServiceSpec("feed", "feed_port"),
    ServiceSpec("gateway", "auth_port", http_port="gateway_port", http_path="/readyz"),
)
SERVICE_PORTS = ("engine_port", "persistence_port", "feed_port", "auth_port",
                 "engine_mesh_port", "persistence_mesh_port", "feed_mesh_port",
                 "auth_mesh_port", "gateway_port", "ws_port")


def tls_configured(settings: Settings) -> bool:
    """Whether the deployment brings its own TLS files (then nothing is generated)."""
    return bool(settings.tls_ca_file or settings.tls_cert_file or settings.tls_key_file)


def prepare_pki(settings: Settings) -> list[str]:
    """Creates or renews the mesh's CA and service certificates in ``settings.pki_dir``
    (names: the defaults, ``settings.host`` and ``tls_server_names``); returns the services
    whose certificate was (re)issued. Does nothing when TLS files are configured."""
    if tls_configured(settings):
        return []
    names = [settings.host, *(n.strip() for n in settings.tls_server_names.split(","))]
    return ensure_pki(settings.pki_dir, extra_names=[n for n in names if n])


def _print(line: str) -> None:
    print(line, flush=True)


class Supervisor:
    """The processes of one mesh. ``run()`` returns the exit code for ``trademesh up``."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_ready: Callable[[Settings], None] | None = None,
        say: Say = _print,
        startup_timeout: float | None = None,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        self.settings = settings.with_overrides(data_dir=settings.data_dir.resolve())
        self.on_ready = on_ready
        self.say = say
        self.startup_timeout = (settings.startup_timeout_seconds if startup_timeout is None
                                else startup_timeout)
        self.logs_dir = self.settings.data_dir / "logs"
        self._embedded: list[EmbeddedServer] = []
        self._services: list[Child] = []
        self._restart_policy = restart_policy or RestartPolicy(limit=settings.restart_limit)
        self._background: set[asyncio.Task[None]] = set()

    @property
    def children(self) -> list[Child]:
        embedded = [s.child for s in self._embedded if s.child is not None]
        return [*embedded, *self._services]

    async def run(self) -> int:
        """Starts everything, stays up until a signal or a death, then stops everything."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await self._run_until(stop)
        finally:
            await self.stop()
            self.say("trademesh: stopped")
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _run_until(self, stop: asyncio.Event) -> int:
        stop_wait = asyncio.create_task(stop.wait())
        startup = asyncio.create_task(self.start())
        try:
            await asyncio.wait({startup, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not startup.done():
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await startup
                self.say("trademesh: interrupted during startup; stopping")
                return 0
            try:
                settings = startup.result()
            except (StartupError, OSError) as err:
                self.say(f"trademesh up: {err}")
                return 1
            if self.on_ready is not None:
                self.on_ready(settings)
            return await self._watch(stop_wait, settings)
        finally:
            stop_wait.cancel()

    async def start(self) -> Settings:
        """Starts the embedded servers and the services; returns the settings they run with."""
        settings = self.settings
        check_ports(settings.host, [(name, getattr(settings, name)) for name in SERVICE_PORTS])
        issued = prepare_pki(settings)
        if issued:
            self.say(f"trademesh: issued TLS certificates in {settings.pki_dir} for "
                     + ", ".join(issued))
        settings = await self._start_embedded(settings)
        if settings.jwt_private_key_file or not settings.jwt_public_key_file:
            # before any service starts, so all of them find the same key pair
            ensure_keypair(settings.private_key_path, settings.public_key_path)
        self.say("trademesh: starting " + ", ".join(s.name for s in SERVICES))
        env = {**os.environ, **settings.as_env(), "PYTHONUNBUFFERED": "1"}
        for spec in SERVICES:
            child = Child(ChildSpec(
                name=spec.name, argv=[sys.executable, "-m", "trademesh_cli", spec.name],
                log_path=self.logs_dir / f"{spec.name}.log", env=env,
            ))
            self._services.append(child)
            await child.start()
        await self._wait_all_healthy(settings)
        if settings.market_maker == "on":
            self.say("trademesh: starting the market maker")
            maker = Child(ChildSpec(name="mm", argv=[sys.executable, "-m", "trademesh_cli", "mm"],
                                    log_path=self.logs_dir / "mm.log", env=env))
            self._services.append(maker)
            await maker.start()
        return settings

    async def _start_embedded(self, settings: Settings) -> Settings:
        wanted: list[tuple[str, int]] = []
        if not settings.postgres_url:
            wanted.append(("embedded_postgres_port", settings.embedded_postgres_port))
        if not settings.redis_url:
            wanted.append(("embedded_redis_port", settings.embedded_redis_port))
        check_ports("127.0.0.1", wanted)
        data_dir = settings.data_dir
        if not settings.postgres_url:
            postgres = EmbeddedPostgres(data_dir, settings.embedded_postgres_port)
            self._embedded.append(postgres)
            self.say(f"trademesh: starting PostgreSQL on 127.0.0.1:{postgres.port}")
            settings = settings.with_overrides(
                postgres_url=await self._embedded_start(postgres),
                postgres_password_file=str(postgres.password_file))
        if not settings.redis_url:
            # TRADEMESH_REDIS_APPENDFSYNC once Settings has the field; the journal's default.
            fsync = settings.redis_appendfsync
            redis = EmbeddedRedis(data_dir, settings.embedded_redis_port, appendfsync=fsync)
            self._embedded.append(redis)
            self.say(f"trademesh: starting Redis on 127.0.0.1:{redis.port}")
            settings = settings.with_overrides(redis_url=await self._embedded_start(redis),
                                               redis_password_file=str(redis.password_file))
        return settings

    @staticmethod
    async def _embedded_start(server: EmbeddedServer) -> str:
        """Starts ``server``; its URL without the password (the services read that from
        the password file, so it is in no process's environment)."""
        try:
            await server.start()
        except RuntimeError as err:
            raise StartupError(str(err)) from err
        return server.public_url

    async def _wait_all_healthy(self, settings: Settings) -> None:
        waits = [asyncio.create_task(self._wait_healthy(spec, child, settings))
                 for spec, child in zip(SERVICES, self._services, strict=True)]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _wait_healthy(self, spec: ServiceSpec, child: Child, settings: Settings) -> None:
        target = grpc_target(settings.host, getattr(settings, spec.grpc_port))
        url = ""
        if spec.http_port:
            url = f"http://{probe_host(settings.host)}:{getattr(settings, spec.http_port)}"
            url += spec.http_path
        ca_pem = settings.ca_path.read_bytes()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            embedded = [s.child for s in self._embedded if s.child is not None]
            for needed in (*embedded, child):
                if not needed.running:
                    raise self._failure(
                        needed, f"exited with code {needed.returncode} during startup")
            failing = await _failing_check(target, url, ca_pem)
            if not failing:
                return
            if time.monotonic() > deadline:
                raise self._failure(
                    child, f"not healthy after {self.startup_timeout:.0f}s ({failing})")
            await asyncio.sleep(0.2)

    def _failure(self, child: Child, what: str) -> StartupError:
        return StartupError(
            f"{child.name} {what}; last lines of {child.spec.log_path}:\n{child.log_tail()}")

    async def _watch(self, stop_wait: asyncio.Task[bool], settings: Settings) -> int:
        """Up: until a signal (0), an embedded server's death or a service dying more often
        than the restart policy allows (1). A service that dies is restarted."""
        while True:
            deaths = {asyncio.create_task(child.wait()): child for child in self.children}
            try:
                done, _ = await asyncio.wait({stop_wait, *deaths},
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in deaths:
                    task.cancel()
            dead = [child for task, child in deaths.items() if task in done]
            if not dead:
                self.say("trademesh: stopping")
                return 0
            for child in dead:
                delay = self._restart_policy.on_death(child.name) \
                    if child in self._services else None
                self.say(f"trademesh: {child.name} exited unexpectedly with code "
                         f"{child.returncode}; last lines of {child.spec.log_path}:\n"
                         f"{child.log_tail()}")
                if delay is None:
                    why = ("it died too often" if child in self._services
                           else "the mesh cannot run without it")
                    self.say(f"trademesh: not restarting {child.name} ({why}); "
                             "stopping the rest")
                    return 1
                self.say(f"trademesh: restarting {child.name} in {delay:g}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stop_wait), delay)
                if stop_wait.done():
                    self.say("trademesh: stopping")
                    return 0
                await child.start()
                self._announce_when_healthy(child, settings)

    def _announce_when_healthy(self, child: Child, settings: Settings) -> None:
        spec = next((s for s in SERVICES if s.name == child.name), None)
        if spec is None:
            return

        async def announce() -> None:
            with contextlib.suppress(StartupError):
                await self._wait_healthy(spec, child, settings)
                self.say(f"trademesh: {child.name} is back")

        task = asyncio.create_task(announce())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """Stops services in reverse start order, then Redis, then PostgreSQL. Idempotent."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        grace = self.settings.shutdown_grace_seconds + 5.0
        for child in reversed(self._services):
            if child.running:
                code = await child.stop(signal.SIGTERM, grace)
                if code not in (0, -signal.SIGTERM):
                    self.say(f"trademesh: {child.name} stopped with code {code}")
        for server in reversed(self._embedded):
            await server.stop()


async def _failing_check(target: str, url: str, ca_pem: bytes) -> str:
    """'' if every check passes, else which one fails."""
    if not await grpc_serving(target, ca_pem):
        return f"Health/Check on {target} is not SERVING"
    if url and not await http_ok(url):
        return f"GET {url} does not answer 200"
    return ""
