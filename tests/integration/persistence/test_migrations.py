"""Migrations: programmatic, idempotent, safe when several replicas start at once."""

from __future__ import annotations

import asyncio
import importlib

import asyncpg
from persistence_harness import fetch
from trademesh.v1 import account_pb2, order_pb2

from persistence_svc import codec, migrations
from persistence_svc.db import create_engine
from persistence_svc.history import HistoryRepository, Page
from persistence_svc.schema import metadata

OLD_COLUMNS = importlib.import_module(  # the columns 0003 adds
    "persistence_svc.migrations.versions.0003_history_columns").COLUMNS


async def test_concurrent_upgrades_create_every_table_once(database: str) -> None:
    await asyncio.gather(migrations.upgrade(database), migrations.upgrade(database))
    await migrations.upgrade(database)
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == ["0004"]
    tables = await fetch(database, "SELECT tablename FROM pg_tables WHERE schemaname='public'")
    assert {r["tablename"] for r in tables} == {*metadata.tables, "alembic_version"}
    numeric = await fetch(database, "SELECT count(*) AS n FROM information_schema.columns "
                                    "WHERE table_schema = 'public' AND data_type IN "
                                    "('real', 'double precision')")
    assert numeric[0]["n"] == 0  # no binary floating point anywhere


async def test_a_database_of_the_previous_release_upgrades_and_reads(database: str) -> None:
    """A 0001 database as the previous release left it (without 0003's columns), with a
    closed position, a fill and a liquidation in it: the upgrade adds the columns, keeps
    the rows, and history reads them (exit price and reason unknown, margin mode CROSS)."""
    await migrations.upgrade(database, "0001")
    conn = await asyncpg.connect(database)
    try:
        for table, column, _ in OLD_COLUMNS:  # 0001 builds the current tables: undo 0003
            await conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        await conn.execute(
            "INSERT INTO closed_positions (user_id, market, side, size, entry_price, "
            "realized_pnl, opened_ms, closed_ms, event_seq) "
            "VALUES ('u', 'SOL-PERP', 'BUY', 10, 100, -155, 1, 2, 3)")
        await conn.execute(
            "INSERT INTO fills (fill_id, liquidity, order_id, user_id, market, side, price, "
            "quantity, fee, fee_asset, ts_ms, event_seq) "
            "VALUES (1, 'TAKER', 1, 'u', 'SOL-PERP', 'SELL', 84.5, 10, 0.5, 'USD', 2, 3)")
        await conn.execute(
            "INSERT INTO liquidations (liquidation_id, user_id, market, side, size, price, "
            "fee, insurance_fund_delta, ts_ms, event_seq) "
            "VALUES ('4', 'u', 'SOL-PERP', 'BUY', 10, 85, 1, 0, 2, 4)")
        await conn.execute(
            "INSERT INTO positions (user_id, market, size, cost, entry_price, margin, "
            "realized_pnl, realized_at_open, opened_ms, event_seq) "
            "VALUES ('u', 'ETH-PERP', 1, 3000, 3000, 300, 0, 0, 1, 1)")
    finally:
        await conn.close()
    await migrations.upgrade(database)
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == ["0004"]
    [position] = await fetch(database, "SELECT exit_quantity, exit_notional FROM positions")
    assert tuple(position.values()) == (0, 0)
    engine = create_engine(database)
    try:
        history = HistoryRepository(engine)
        page = Page.of("", 0, "")
        [closed] = [codec.closed_position(r) for r in await history.closed_positions("u", page)]
        [fill] = [codec.fill(r) for r in await history.fills("u", page)]
        [liq] = [codec.liquidation(r) for r in await history.liquidations("u", page)]
    finally:
        await engine.dispose()
    assert (closed.size, closed.realized_pnl, closed.exit_price, closed.leverage) == \
        ("10", "-155", "", 0)
    assert closed.margin_mode == order_pb2.CROSS
    assert closed.close_reason == account_pb2.ClosedPosition.CLOSE_REASON_UNSPECIFIED
    assert (fill.price, fill.realized_pnl) == ("84.5", "")
    assert (liq.liquidation_id, liq.size, liq.closed_on_book, liq.taken_by_fund) == \
        ("4", "10", "", "")
