"""The journal and outbox on a real Redis: ordering, group commit, refusal of stale ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from engine_svc import command_codec, outbox_span
from engine_svc.core import Deposit, Engine, OrderType, PlaceOrder, Side
from engine_svc.core.markets import default_markets
from engine_svc.journal import Journal, JournalConflict


@pytest.fixture
async def journal(redis_url: str) -> AsyncIterator[Journal]:
    client = aioredis.Redis.from_url(redis_url)
    prefix = uuid.uuid4().hex
    yield Journal(client, journal=f"{prefix}:j", outbox=f"{prefix}:o")
    await client.aclose()


async def test_append_and_read_back_in_order(journal: Journal) -> None:
    await journal.append([(1, b"a"), (2, b"b")], [(1, 1, b"e1")])
    await journal.append([(3, b"c")], [(2, 2, b"e2"), (3, 3, b"e3")])
    assert [x async for x in journal.commands_after(0)] == [(1, b"a"), (2, b"b"), (3, b"c")]
    assert [x async for x in journal.commands_after(2)] == [(3, b"c")]
    assert [s async for s, _ in journal.events_after(1)] == [2, 3]
    assert await journal.last_command_seq() == 3
    assert await journal.last_event_seq() == 3


async def test_a_span_record_is_read_back_as_its_events(journal: Journal) -> None:
    engine = Engine(default_markets())
    engine.apply(Deposit(user_id="a", asset="USD", amount=10**9, tx_id="d1", ts=1))
    engine.apply(Deposit(user_id="b", asset="SOL", amount=10**9, tx_id="d2", ts=1))
    await journal.append([(1, b"c1"), (2, b"c2")], [])  # the deposits' events: not here
    emitted = engine.apply(PlaceOrder(user_id="b", market="SOL-USD", side=Side.SELL,
                                      price=100_000, quantity=2, ts=2, leverage=1))
    emitted += engine.apply(PlaceOrder(user_id="a", market="SOL-USD", side=Side.BUY,
                                       type=OrderType.MARKET, quantity=2, ts=3, leverage=1))
    records = outbox_span.records(emitted[:2]) + outbox_span.records(emitted[2:])
    assert len(records) < len(emitted)  # the fill's four balance changes are one record
    start = emitted[0].seq
    await journal.append([(3, b"c3"), (4, b"c4")], records)
    want = [(e.seq, command_codec.encode(e)) for e in emitted]
    assert await journal.last_event_seq() == emitted[-1].seq
    assert [x async for x in journal.events_after(start - 1)] == want
    span = next(r for r in records if r[1] > r[0] + 1)
    assert [x async for x in journal.events_after(span[0])] == \
        [w for w in want if w[0] > span[0]]  # a read from inside the span


async def test_empty_journal_has_sequence_zero(journal: Journal) -> None:
    assert await journal.last_command_seq() == 0
    assert [x async for x in journal.commands_after(0)] == []


async def test_a_stale_writer_is_refused(journal: Journal) -> None:
    await journal.append([(1, b"a"), (2, b"b")], [])
    with pytest.raises(JournalConflict):
        await journal.append([(2, b"other")], [])
    assert [x async for x in journal.commands_after(0)] == [(1, b"a"), (2, b"b")]


async def test_a_refused_journal_id_leaves_the_outbox_untouched(journal: Journal) -> None:
    await journal.append([(1, b"a")], [(1, 1, b"e1")])
    with pytest.raises(JournalConflict):
        await journal.append([(1, b"again")], [(2, 2, b"e2")])
    assert [x async for x in journal.events_after(0)] == [(1, b"e1")]
    await journal.append([], [(2, 2, b"e2")])  # an outbox entry alone
    await journal.append([(2, b"b")], [])
    assert [x async for x in journal.events_after(0)] == [(1, b"e1"), (2, b"e2")]
    assert [x async for x in journal.commands_after(0)] == [(1, b"a"), (2, b"b")]


async def test_appends_go_on_after_redis_lost_the_script(journal: Journal,
                                                          redis_url: str) -> None:
    await journal.append([(1, b"a")], [])
    async with aioredis.Redis.from_url(redis_url) as admin:
        await admin.script_flush()  # as after a restart
    await journal.append([(2, b"b")], [])
    assert [x async for x in journal.commands_after(0)] == [(1, b"a"), (2, b"b")]


async def test_an_append_on_a_killed_connection_fails_and_the_next_reconnects(
        journal: Journal, redis_url: str) -> None:
    await journal.append([(1, b"a")], [])
    async with aioredis.Redis.from_url(redis_url) as admin:
        await admin.client_kill_filter(_type="normal", skipme=True)
    with pytest.raises(aioredis.ConnectionError):  # the sequencer rebuilds from the journal
        await journal.append([(2, b"b")], [])
    await journal.append([(2, b"b")], [])
    assert [x async for x in journal.commands_after(0)] == [(1, b"a"), (2, b"b")]


async def test_trim_keeps_everything_after_the_snapshot(journal: Journal) -> None:
    for first in (1, 4, 7):  # batches 1-3, 4-6, 7-9
        await journal.append([(i, str(i).encode()) for i in range(first, first + 3)], [])
    await journal.trim_below(5)  # the batch 4-6 straddles the snapshot: it is kept
    assert [s async for s, _ in journal.commands_after(5)] == [6, 7, 8, 9]
    assert [s async for s, _ in journal.commands_after(0)] == [4, 5, 6, 7, 8, 9]
    assert await journal.last_command_seq() == 9


async def test_reading_crosses_chunk_boundaries(journal: Journal,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine_svc.journal.READ_CHUNK", 3)
    for i in range(1, 8):
        await journal.append([(i, b"x")], [])
    assert [s async for s, _ in journal.commands_after(0)] == [1, 2, 3, 4, 5, 6, 7]
    assert [s async for s, _ in journal.commands_after(4)] == [5, 6, 7]


async def test_appendfsync_is_always(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert (await client.config_get("appendfsync"))["appendfsync"] == "always"
    finally:
        await client.aclose()
