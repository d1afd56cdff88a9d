"""Every fill exactly once: redelivery, gaps, restarts of persistence and of the engine."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import asyncpg
from persistence_harness import (
    EngineSide,
    Persistence,
    assert_fills_match,
    fetch,
    run_all,
    scenario,
    wait_for,
)
from trademesh.v1 import event_pb2

from engine_svc.event_codec import EventEncoder
from engine_svc.journal import Journal
from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port
from mesh_runtime.tokens import TokenVerifier
from persistence_svc import migrations
from persistence_svc.db import create_engine
from persistence_svc.event_writer import EventWriter

TABLES = ("orders", "fills", "trades", "balances", "ledger_entries", "positions",
          "closed_positions", "candles_1m")


async def table_image(dsn: str, tables: tuple[str, ...] = TABLES) -> dict[str, object]:
    """Row counts plus a content hash of every table the writer touches."""
    conn = await asyncpg.connect(dsn)
    try:
        return {t: await conn.fetchval(f"SELECT count(*)::text || md5(coalesce(string_agg("
                                       f"t::text, ',' ORDER BY t::text), '')) FROM {t} t")
                for t in tables}
    finally:
        await conn.close()


async def outbox_events(engine: EngineSide) -> list[event_pb2.EngineEvent]:
    assert engine.sequencer is not None
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(engine.settings.redis_dsn)
    try:
        encoder = EventEncoder(engine.sequencer.config, lambda: 1)
        return [encoder.encode(raw) async for _, raw in Journal(client).events_after(0)]
    finally:
        await client.aclose()


async def test_redelivery_and_gaps_change_nothing(settings: Settings) -> None:
    engine = EngineSide(settings)
    await engine.start(with_link=False)
    try:
        await run_all(engine, scenario(3, 400))
        events = await outbox_events(engine)
    finally:
        await engine.stop()
    await migrations.upgrade(settings.postgres_dsn)
    db = create_engine(settings.postgres_dsn)
    writer, dsn, half = EventWriter(db), settings.postgres_dsn, len(events) // 2
    try:
        assert await writer.committed("e1") == 0
        assert await writer.commit("e1", events[:half]) == half
        image = await table_image(dsn)
        assert await writer.commit("e1", events[:half]) == half  # redelivered
        assert await writer.commit("e1", events[10:half]) == half  # partly redelivered
        assert await writer.commit("e1", events[half + 1:]) == half  # a gap: refused
        assert await table_image(dsn) == image
        assert await writer.commit("e1", events[half - 5:]) == len(events)  # overlap
        assert await writer.commit("e1", events) == len(events)
    finally:
        await db.dispose()
    fills = [e for e in events if e.WhichOneof("body") == "execution"]
    rows = await fetch(dsn, "SELECT count(*) AS n FROM fills")
    assert rows[0]["n"] == 2 * len(fills)


async def test_persistence_restarted_mid_stream(engine: EngineSide,
                                                persistence: Persistence) -> None:
    commands = scenario(5, 2400)

    async def bounce(i: int) -> None:
        if i % 400 == 199 and persistence.service is not None:
            await persistence.stop()
        elif i % 400 == 399 and persistence.service is None:
            await persistence.start()
            sessions = engine.link.sessions if engine.link else 0
            await wait_for(lambda: engine.link is not None and engine.link.sessions > sessions,
                           10)

    await run_all(engine, commands, bounce)
    if persistence.service is None:
        await persistence.start()
    await engine.drained(60)
    assert engine.link is not None and engine.link.sessions >= 7  # six restarts
    await assert_fills_match(engine)


async def test_engine_crash_and_restart_resends_from_committed(
        settings: Settings, persistence: Persistence) -> None:
    linked = settings.with_overrides(persistence_mesh_addr=persistence.mesh_address)
    first = EngineSide(linked)
    await first.start()
    await run_all(first, scenario(9, 900)[:700])
    for task in reversed(first.tasks):  # a crash: no final snapshot, no goodbye
        task.cancel()
    await asyncio.gather(*first.tasks, return_exceptions=True)
    await first.stack.aclose()
    second = EngineSide(linked, events=list(first.events))
    await second.start()
    try:
        await run_all(second, scenario(9, 900)[700:])
        await second.drained(60)
        await assert_fills_match(second)
    finally:
        await second.stop()


async def test_engine_keeps_working_while_persistence_is_down(settings: Settings) -> None:
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    port = free_port()
    engine = EngineSide(settings.with_overrides(persistence_mesh_addr=f"127.0.0.1:{port}"))
    await engine.start()
    persistence = Persistence(settings, verifier)
    persistence.mesh_port = port
    try:
        await run_all(engine, scenario(13, 600))
        assert engine.sequencer is not None and engine.link is not None
        last = engine.sequencer.engine.event_seq
        await wait_for(lambda: engine.link is not None and engine.link.lag == last, 10)
        started = time.monotonic()
        await persistence.start()
        await wait_for(lambda: engine.link is not None and engine.link.lag == 0, 30)
        assert time.monotonic() - started < 30
        await assert_fills_match(engine)
    finally:
        await engine.stop()
        await persistence.stop()
    rows = await fetch(settings.postgres_dsn, "SELECT sum(quantity) AS q FROM trades")
    assert rows[0]["q"] > Decimal(0)
