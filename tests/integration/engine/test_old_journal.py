"""Recovery from a journal, outbox and snapshot written before fills carried account
changes (build a17a5e0), on the real Redis and PostgreSQL: the engine loads the old
snapshot, replays the old journal tail to the old state, and its next batch appends to the
old outbox right after its last event (a reused or skipped sequence would stop the engine
with a conflict, or stall persistence at a gap)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from engine_svc import command_codec, outbox_span
from engine_svc.core import Deposit
from engine_svc.core.markets import default_markets
from engine_svc.engine_state import load_state
from engine_svc.journal import Journal
from engine_svc.snapshot_store import PostgresSnapshotStore
from tests.old_journal import load

BATCH = 25  # commands per journal entry, as the sequencer group-commits them


@pytest.fixture
async def journal(redis_url: str) -> AsyncIterator[Journal]:
    client = aioredis.Redis.from_url(redis_url)
    prefix = uuid.uuid4().hex
    yield Journal(client, journal=f"{prefix}:j", outbox=f"{prefix}:o")
    await client.aclose()


async def test_recovery_from_the_old_format_continues_the_old_outbox(
        journal: Journal, database: str) -> None:
    old = load()
    seq = 0
    for first in range(0, len(old.commands), BATCH):
        commands = [(first + i + 1, raw)
                    for i, raw in enumerate(old.commands[first:first + BATCH])]
        events = []
        for evs in old.events[first:first + BATCH]:
            events += [(seq + i + 1, seq + i + 1, raw) for i, raw in enumerate(evs)]
            seq += len(evs)
        await journal.append(commands, events)
    snapshots = await PostgresSnapshotStore.connect(database)
    try:
        await snapshots.save(old.snapshot_seq, old.snapshot)
        state = await load_state(default_markets(), journal, snapshots)
    finally:
        await snapshots.close()
    engine = state.engine
    assert engine.state_hash() == old.state_hash
    assert engine.last_seq == await journal.last_command_seq() == len(old.commands)
    assert engine.event_seq == await journal.last_event_seq() == seq
    command = Deposit(user_id="late", asset="USD", amount=10**6, tx_id="late-1", ts=1)
    emitted = engine.apply(command)
    assert emitted and emitted[0].seq == seq + 1
    await journal.append([(engine.last_seq, command_codec.encode(command))],
                         outbox_span.records(emitted))
    assert [s async for s, _ in journal.events_after(seq - 1)] == \
        list(range(seq, engine.event_seq + 1))
