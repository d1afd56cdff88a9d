"""The writer's pipeline: batch N+1 prepared while N commits writes what the plain path
writes, also with many batches prepared before any commits; prepared rows whose base moved
(another link committed) are not used."""

from __future__ import annotations

import asyncio

import asyncpg
from persistence_harness import EngineSide, run_all, scenario
from test_exactly_once import TABLES, outbox_events, table_image
from trademesh.v1 import event_pb2

from mesh_runtime.config import Settings
from persistence_svc import migrations
from persistence_svc.db import create_engine
from persistence_svc.event_writer import EventWriter

Events = list[event_pb2.EngineEvent]


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)}, sync_state RESTART IDENTITY")
    finally:
        await conn.close()


async def pipelined(writer: EventWriter, parts: list[Events]) -> int:
    session = await writer.open("e1")
    try:
        pending = asyncio.create_task(writer.write(session, await writer.prepare(session,
                                                                              parts[0])))
        for part in parts[1:]:
            prepared = await writer.prepare(session, part)  # while the last one commits
            await pending
            pending = asyncio.create_task(writer.write(session, prepared))
        committed = await pending
        assert session.pipelined
        return committed
    finally:
        await writer.close(session)


async def deep(writer: EventWriter, parts: list[Events]) -> int:
    """Every part prepared before any commits (a slow database under load: several batches
    in flight), then committed in order."""
    session = await writer.open("e1")
    try:
        prepared = [await writer.prepare(session, part) for part in parts]
        committed = 0
        for batch in prepared:
            committed = await writer.write(session, batch)
        assert session.pipelined
        return committed
    finally:
        await writer.close(session)


async def moved_base(writer: EventWriter, parts: list[Events]) -> int:
    session = await writer.open("e1")
    try:
        first = await writer.prepare(session, parts[0])
        second = await writer.prepare(session, parts[1])  # folded on the first's rows
        assert await writer.commit("e1", parts[0]) == parts[0][-1].sequence  # another link
        assert await writer.write(session, first) == parts[0][-1].sequence  # nothing again
        assert not session.pipelined
        assert await writer.write(session, second) == parts[1][-1].sequence
        return await writer.write(session, await writer.prepare(session, parts[2]))
    finally:
        await writer.close(session)


async def test_pipelined_and_fallback_writes_equal_plain_commits(settings: Settings) -> None:
    engine = EngineSide(settings)
    await engine.start(with_link=False)
    try:
        await run_all(engine, scenario(4, 600))
        events = await outbox_events(engine)
    finally:
        await engine.stop()
    await migrations.upgrade(settings.postgres_dsn)
    db, dsn = create_engine(settings.postgres_dsn), settings.postgres_dsn
    writer, n = EventWriter(db), len(events) // 3
    parts = [events[:n], events[n:2 * n], events[2 * n:]]
    try:
        assert await writer.committed("e1") == 0  # the hello creates the sync_state row
        for part in parts:
            assert await writer.commit("e1", part) == part[-1].sequence
        plain = await table_image(dsn)
        await reset(dsn)
        assert await pipelined(writer, parts) == len(events)
        assert await table_image(dsn) == plain
        await reset(dsn)
        assert await moved_base(writer, parts) == len(events)
        assert await table_image(dsn) == plain
        # small batches, all in flight: later ones touch orders earlier ones made
        step = max(1, len(events) // 40)
        small = [events[i:i + step] for i in range(0, len(events), step)]
        await reset(dsn)
        assert await writer.committed("e1") == 0  # the hello again, after the truncation
        for part in small:
            assert await writer.commit("e1", part) == part[-1].sequence
        plain_small = await table_image(dsn)
        await reset(dsn)
        assert await deep(writer, small) == len(events)
        assert await table_image(dsn) == plain_small
    finally:
        await db.dispose()
