"""A liquidated position's history, through the real engine's events into PostgreSQL.

The regression: with several event batches prepared before the first commits (a busy
database: the engine's window keeps three in flight), a batch that liquidated a position
opened by an earlier, still uncommitted batch folded over the database's stale row (no
position), so no ``closed_positions`` row was written and the realized PnL was posted
against zero, with nothing failing: the position was missing from ``/history/positions``
while persistence reported no lag. Here the open, an unrelated batch and the liquidation
are all prepared before any commit, as well as written the plain way; both must record
the close with its exit price, leverage and reason, and the fills their realized PnL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
from persistence_harness import EngineSide, fetch
from test_exactly_once import outbox_events, table_image
from test_pipeline import deep, reset
from trademesh.v1 import event_pb2

from engine_svc.core import Deposit, OrderType, PlaceOrder, Side
from engine_svc.core.commands import SetIndexPrice
from mesh_runtime.config import Settings
from persistence_svc import migrations
from persistence_svc.db import create_engine
from persistence_svc.event_writer import EventWriter

Events = list[event_pb2.EngineEvent]
USD = 10**6  # minor units per dollar


def limit(user: str, side: Side, price: int, lots: int, leverage: int, ts: int) -> PlaceOrder:
    # SOL-PERP: tick 0.001 (price 100_000 = 100), lot 0.01 (1000 lots = 10)
    return PlaceOrder(user_id=user, market="SOL-PERP", side=side, type=OrderType.LIMIT,
                      price=price, quantity=lots, leverage=leverage, ts=ts)


OPEN: list[Any] = [
    Deposit(user_id="maker", asset="USD", amount=10**6 * USD, tx_id="m"),
    Deposit(user_id="long", asset="USD", amount=110 * USD, tx_id="l"),
    SetIndexPrice(market="SOL-PERP", price=100_000, ts=1_000),
    limit("maker", Side.SELL, 100_000, 1000, 2, 2_000),
    limit("long", Side.BUY, 100_000, 1000, 10, 3_000),  # a 10x long of 10 at 100
]
UNRELATED: list[Any] = [Deposit(user_id="someone", asset="USD", amount=USD, tx_id="s")]
LIQUIDATE: list[Any] = [
    limit("maker", Side.BUY, 84_500, 2000, 2, 4_000),  # a bid within the bound to close on
    SetIndexPrice(market="SOL-PERP", price=85_000, ts=5_000),
]


async def engine_batches(settings: Settings) -> list[Events]:
    """The events of OPEN, UNRELATED and LIQUIDATE, one batch each."""
    engine = EngineSide(settings)
    await engine.start(with_link=False)
    ends: list[int] = []
    try:
        for commands in (OPEN, UNRELATED, LIQUIDATE):
            for command in commands:
                await engine.submit(command)
            assert engine.sequencer is not None
            ends.append(engine.sequencer.engine.event_seq)
        events = await outbox_events(engine)
    finally:
        await engine.stop()
    starts = [0, *ends[:-1]]
    return [[e for e in events if start < e.sequence <= end] for start, end in zip(
        starts, ends, strict=True)]


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def assert_liquidation_recorded(dsn: str) -> None:
    closed = await fetch(dsn, "SELECT * FROM closed_positions WHERE user_id = 'long'")
    assert [(r["market"], r["side"], r["size"], r["entry_price"], r["exit_price"],
             r["realized_pnl"], r["leverage"], r["margin_mode"], r["close_reason"])
            for r in closed] == [("SOL-PERP", "BUY", 10, 100, Decimal("84.5"),
                                  Decimal("-155"), 10, "CROSS", "LIQUIDATED")]
    maker = await fetch(dsn, "SELECT size, exit_price, realized_pnl, close_reason, leverage "
                             "FROM closed_positions WHERE user_id = 'maker'")
    # the maker's short of 10 at 100 bought back at 84.5 by its own bid: +155, closed by
    # an order (its own), at 2x
    assert [tuple(r.values()) for r in maker] == [(10, Decimal("84.5"), Decimal("155"),
                                                   "CLOSED", 2)]
    fills = await fetch(dsn, "SELECT user_id, realized_pnl FROM fills ORDER BY id")
    assert [(r["user_id"], r["realized_pnl"]) for r in fills] == [
        ("long", 0), ("maker", 0),  # the open: nothing realized
        ("long", Decimal("-155")), ("maker", Decimal("155"))]  # the liquidation's close
    liquidation = await fetch(dsn, "SELECT size, price, closed_on_book, taken_by_fund "
                                   "FROM liquidations")
    assert [tuple(r.values()) for r in liquidation] == [(10, 85, 10, 0)]


async def test_a_liquidation_folded_over_uncommitted_batches_records_the_close(
        settings: Settings) -> None:
    parts = await engine_batches(settings)
    await migrations.upgrade(settings.postgres_dsn)
    db, dsn = create_engine(settings.postgres_dsn), settings.postgres_dsn
    writer = EventWriter(db)
    try:
        assert await writer.committed("e1") == 0  # the hello creates the sync_state row
        for part in parts:  # the plain path
            assert await writer.commit("e1", part) == part[-1].sequence
        await assert_liquidation_recorded(dsn)
        plain = await table_image(dsn)
        await reset(dsn)
        await execute(dsn, "TRUNCATE liquidations")
        assert await writer.committed("e1") == 0
        assert await deep(writer, parts) == parts[-1][-1].sequence  # all prepared first
        await assert_liquidation_recorded(dsn)
        assert await table_image(dsn) == plain
    finally:
        await db.dispose()
