"""The engine service's composition root: journal, snapshots, sequencer, servicer.

`trademesh engine` runs :func:`run`: it loads the newest snapshot and replays the journal
after it, then serves ``trademesh.v1.Engine``. Health is SERVING while Redis answers and
the sequencer is not recovering. On SIGTERM/SIGINT it stops taking calls, lets in-flight
ones finish, applies what is queued and saves a final snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import grpc
import redis.asyncio as aioredis
from trademesh.v1 import engine_pb2, engine_pb2_grpc

from engine_svc.core.commands import SetOpenOrderLimit, SetTriggerLimit
from engine_svc.core.markets import MarketConfig, default_markets
from engine_svc.core_build import core_build, stale_modules
from engine_svc.engine_state import load_state
from engine_svc.event_link import EventLink
from engine_svc.journal import Journal
from engine_svc.market_data import MarketDataPublisher
from engine_svc.perp_feeds import IndexFollower, funding_loop
from engine_svc.sequencer import Sequencer
from engine_svc.servicer import EngineServicer
from engine_svc.snapshot_store import MongoSnapshotStore, PostgresSnapshotStore, SnapshotStore
from mesh_runtime.config import Settings
from mesh_runtime.dependencies import redis_probe, watch_health
from mesh_runtime.gc_tuning import collect_cycles_every, freeze_survivors, tune_gc
from mesh_runtime.revocation import RedisRevocations, TokenCheck
from mesh_runtime.serving import GrpcService, Registrar, serve_until_signal
from mesh_runtime.tls import mesh_channel
from mesh_runtime.tokens import TokenVerifier

SERVICE_NAME = engine_pb2.DESCRIPTOR.services_by_name["Engine"].full_name
log = logging.getLogger("trademesh.engine")


def register(servicer: engine_pb2_grpc.EngineServicer) -> Registrar:
    def add(server: grpc.aio.Server) -> list[str]:
        engine_pb2_grpc.add_EngineServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return add


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def open_snapshot_store(settings: Settings) -> SnapshotStore:
    if settings.mongo_url:
        return MongoSnapshotStore.connect(settings.mongo_url)
    return await PostgresSnapshotStore.connect(settings.postgres_dsn)


async def _retry(what: str, attempt: Callable[[], Awaitable[object]]) -> None:
    delay = 0.1
    while True:
        try:
            await attempt()
            return
        except (OSError, ConnectionError, aioredis.RedisError) as err:
            log.warning("waiting for %s: %s", what, err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def snapshot_timer(sequencer: Sequencer, seconds: float) -> None:
    last = sequencer.engine.last_seq
    while True:
        await asyncio.sleep(seconds)
        if sequencer.engine.last_seq != last:
            last = sequencer.engine.last_seq
            sequencer.request_snapshot()


async def configure(sequencer: Sequencer, settings: Settings) -> None:
    """Journals the configured open-order and trigger limits when the state holds others.

    The limit is engine state, set by a command: a replay of the journal refuses exactly
    what the engine refused when the commands were first applied, whatever the setting is
    at the replay.
    """
    limit = settings.max_open_orders
    if limit >= 1 and sequencer.engine.max_open_orders != limit:
        await sequencer.submit(SetOpenOrderLimit(limit=limit, ts=wall_clock_ms()),
                               lambda *_: None)
        log.info("open-order limit set to %d per user and market", limit)
    triggers = settings.max_triggers
    if triggers >= 1 and sequencer.engine.max_triggers != triggers:
        await sequencer.submit(SetTriggerLimit(limit=triggers, ts=wall_clock_ms()),
                               lambda *_: None)
        log.info("trigger limit set to %d per user", triggers)


def log_core_build() -> str:
    build = core_build()
    stale = stale_modules() if build == "compiled" else []
    log.info("matching core: %s%s", build,
             f" (stale extension modules shadow {', '.join(stale)}; rerun pip install -e .)"
             if stale else "")
    return build


async def build(settings: Settings, stack: AsyncExitStack,
                config: MarketConfig | None = None) -> tuple[Sequencer, Journal]:
    """Connects the journal and the snapshot store and loads the state."""
    client = aioredis.Redis.from_url(settings.redis_dsn)
    stack.push_async_callback(client.aclose)
    await _retry("redis", client.ping)
    store_box: list[SnapshotStore] = []

    async def connect_store() -> None:
        store_box.append(await open_snapshot_store(settings))

    await _retry("the snapshot store", connect_store)
    store = store_box[0]
    stack.push_async_callback(store.close)
    journal = Journal(client)
    markets = config or default_markets()
    state = await load_state(markets, journal, store)
    return Sequencer(markets, state, journal, store,
                     snapshot_every=settings.engine_snapshot_every,
                     compress_snapshots=settings.engine_snapshot_compress == "on"), journal


async def run(settings: Settings) -> None:
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    async with AsyncExitStack() as stack:
        sequencer, journal = await build(settings, stack)
        link = EventLink(journal, settings, sequencer.config)
        link.durable = sequencer.durable
        publisher = MarketDataPublisher(sequencer, settings)
        tls = settings.tls_files("engine")
        follower = IndexFollower(
            sequencer, lambda: mesh_channel(settings.mesh_address("feed"), tls, server_name="feed"),
            wall_clock_ms)
        sequencer.add_listener(publisher)
        tune_gc()
        freeze_survivors()  # the book's objects are walked once, not by every older pass
        task = asyncio.create_task(sequencer.run())
        await configure(sequencer, settings)
        revocations = RedisRevocations.from_url(settings.redis_dsn)
        stack.push_async_callback(revocations.close)
        tokens = TokenCheck(verifier, revocations)
        servicer = EngineServicer(sequencer, wall_clock_ms,
                                  persisted=lambda: (link.committed, link.connected),
                                  core=log_core_build(), depth=publisher.depth, tokens=tokens)
        service = GrpcService("engine", settings.host, settings.engine_port,
                              [register(servicer)], tls=tls,
                              mesh_port=settings.engine_mesh_port,
                              token_check=tokens,
                              grace_seconds=settings.shutdown_grace_seconds)
        redis_ok = redis_probe(settings.redis_dsn)
        stack.push_async_callback(redis_ok.aclose)

        async def ready() -> bool:
            return sequencer.healthy and not task.done() and await redis_ok()

        async def stop_sequencer() -> None:
            if not task.done():
                await sequencer.close()
            await task  # re-raises a fatal journal conflict: the process exits non-zero

        async def exit_if_sequencer_dies() -> None:
            await asyncio.wait([task])
            log.error("the sequencer stopped: %s", task.exception())
            os.kill(os.getpid(), signal.SIGTERM)

        await serve_until_signal(
            service,
            background=[lambda: watch_health(service, [("redis+sequencer", ready)]),
                        lambda: snapshot_timer(sequencer, settings.engine_snapshot_seconds),
                        lambda: collect_cycles_every(settings.engine_gc_full_seconds),
                        link.run, publisher.run, revocations.follow, follower.run,
                        lambda: funding_loop(sequencer, settings.funding_interval_seconds,
                                             wall_clock_ms),
                        exit_if_sequencer_dies],
            cleanup=[stop_sequencer])
