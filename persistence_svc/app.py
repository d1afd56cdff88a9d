"""The persistence service's composition root: migrations, repositories, servicer, server.

`trademesh persistence` runs :func:`run`: it waits for PostgreSQL, applies the migrations,
then serves ``trademesh.v1.Persistence``. Health is SERVING while PostgreSQL answers. User
tokens are checked against the revocation set in Redis (mirrored in memory), like every
service that accepts them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack

import grpc
from trademesh.v1 import persistence_pb2, persistence_pb2_grpc

from mesh_runtime.config import Settings
from mesh_runtime.dependencies import postgres_probe, watch_health
from mesh_runtime.gc_tuning import tune_gc
from mesh_runtime.revocation import RedisRevocations, TokenCheck
from mesh_runtime.serving import GrpcService, Registrar, serve_until_signal
from mesh_runtime.tokens import TokenVerifier
from persistence_svc import migrations
from persistence_svc.activity import ActivityRepository
from persistence_svc.candles import CandleRepository
from persistence_svc.db import create_engine
from persistence_svc.event_writer import EventWriter
from persistence_svc.history import HistoryRepository
from persistence_svc.servicer import PersistenceServicer
from persistence_svc.users import UserRepository

SERVICE_NAME = persistence_pb2.DESCRIPTOR.services_by_name["Persistence"].full_name
log = logging.getLogger("trademesh.persistence")


def register(servicer: persistence_pb2_grpc.PersistenceServicer) -> Registrar:
    def add(server: grpc.aio.Server) -> list[str]:
        persistence_pb2_grpc.add_PersistenceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return add


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def migrate_when_ready(dsn: str) -> None:
    """Applies the migrations, waiting (with backoff) while PostgreSQL is unreachable."""
    delay = 0.1
    while True:
        try:
            await migrations.upgrade(dsn)
            return
        except (OSError, ConnectionError) as err:
            log.warning("waiting for postgres: %s", err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def build(settings: Settings, stack: AsyncExitStack) -> PersistenceServicer:
    await migrate_when_ready(settings.postgres_dsn)
    engine = create_engine(settings.postgres_dsn)
    stack.push_async_callback(engine.dispose)
    return PersistenceServicer(EventWriter(engine), HistoryRepository(engine),
                               CandleRepository(engine), UserRepository(engine, wall_clock_ms),
                               wall_clock_ms, activity=ActivityRepository(engine))


async def run(settings: Settings) -> None:
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    async with AsyncExitStack() as stack:
        servicer = await build(settings, stack)
        revocations = RedisRevocations.from_url(settings.redis_dsn)
        stack.push_async_callback(revocations.close)
        tune_gc()
        service = GrpcService("persistence", settings.host, settings.persistence_port,
                              [register(servicer)], tls=settings.tls_files("persistence"),
                              mesh_port=settings.persistence_mesh_port,
                              token_check=TokenCheck(verifier, revocations),
                              grace_seconds=settings.shutdown_grace_seconds)
        probes = [("postgres", postgres_probe(settings.postgres_dsn))]
        await serve_until_signal(service, background=[lambda: watch_health(service, probes),
                                                      revocations.follow])
