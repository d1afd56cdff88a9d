"""A real engine process for benchmarks: embedded Redis and PostgreSQL, keys, health wait.

Used by the benchmarks only (never by tests). Everything it starts is a child of the
benchmark process and is stopped on exit. The benchmarks are clients like any other: TLS
to the public listeners, trusting the mesh CA made in the data dir (:func:`bench_pki`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh_runtime.child_process import Child, ChildSpec
from mesh_runtime.config import Settings
from mesh_runtime.embedded_postgres import EmbeddedPostgres
from mesh_runtime.embedded_redis import EmbeddedRedis
from mesh_runtime.pki import ensure_pki
from mesh_runtime.ports import free_port
from mesh_runtime.tls import tls_channel
from mesh_runtime.tokens import TokenSigner, ensure_keypair


def bench_pki(data_dir: Path) -> bytes:
    """Creates the mesh PKI in ``<data_dir>/pki`` (where ``Settings(data_dir=…)`` finds it);
    returns the CA certificate clients trust."""
    ensure_pki(data_dir / "pki")
    return (data_dir / "pki" / "ca.pem").read_bytes()


@dataclass
class RunningEngine:
    address: str
    signer: TokenSigner
    data_dir: Path
    ca_pem: bytes
    pid: int  # the engine process
    metrics_url: str  # its Prometheus /metrics

    def cpu_seconds(self) -> float:
        """The engine process's user + system CPU time so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def metadata(self, user: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.signer.issue(user)[0]}"),)

    def channel(self) -> grpc.aio.Channel:
        """A trader's channel to the engine: TLS to its public listener."""
        return tls_channel(self.address, self.ca_pem)


async def wait_serving(address: str, ca_pem: bytes, within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    async with tls_channel(address, ca_pem) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"engine at {address} did not become healthy")
            await asyncio.sleep(0.2)


@asynccontextmanager
async def engine_process(appendfsync: str = "always") -> AsyncIterator[RunningEngine]:
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        data = Path(tmp)
        os.chmod(data, 0o755)
        redis = EmbeddedRedis(data, free_port(), appendfsync=appendfsync)
        postgres = EmbeddedPostgres(data, free_port())
        await redis.start()
        await postgres.start()
        private, public = data / "keys" / "jwt.pem", data / "keys" / "jwt.pub.pem"
        ensure_keypair(private, public)
        port = free_port()
        ca_pem = bench_pki(data)
        settings = Settings(data_dir=data, engine_port=port, engine_mesh_port=free_port(),
                            persistence_mesh_port=free_port(), feed_mesh_port=free_port(),
                            redis_url=redis.url,
                            postgres_url=postgres.url, jwt_private_key_file=str(private),
                            jwt_public_key_file=str(public), log_level="WARNING",
                            max_open_orders=100_000_000)  # bench orders rest by the thousand
        metrics_port = free_port()
        env = {**os.environ, **settings.as_env(),
               "TRADEMESH_METRICS_ENGINE_PORT": str(metrics_port)}
        child = Child(ChildSpec("engine", [sys.executable, "-m", "trademesh_cli", "engine"],
                                data / "logs" / "engine.log", env))
        await child.start()
        try:
            await wait_serving(f"127.0.0.1:{port}", ca_pem)
            signer = TokenSigner.from_file(private, settings.jwt_issuer, settings.jwt_audience,
                                           3600)
            assert child.pid is not None
            yield RunningEngine(f"127.0.0.1:{port}", signer, data, ca_pem, child.pid,
                                f"http://127.0.0.1:{metrics_port}/metrics")
        finally:
            await child.stop()
            await postgres.stop()
            await redis.stop()
