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

HEAD = "0006"
OLD_COLUMNS = importlib.import_module(  # the columns 0003 adds
    "persistence_svc.migrations.versions.0003_history_columns").COLUMNS


async def test_concurrent_upgrades_create_every_table_once(database: str) -> None:
    await asyncio.gather(migrations.upgrade(database), migrations.upgrade(database))
    await migrations.upgrade(database)
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == [HEAD]
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
    assert [r["version_num"] for r in version] == [HEAD]
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


POSITION_INDEXES = importlib.import_module(  # the indexes 0005 adds
    "persistence_svc.migrations.versions.0005_position_indexes").INDEXES


async def position_indexes(database: str) -> dict[str, str]:
    """The positionId filter's indexes there are: name -> definition."""
    rows = await fetch(database, "SELECT indexname, indexdef FROM pg_indexes "
                                 "WHERE indexname LIKE '%_user_position'")
    return {r["indexname"]: r["indexdef"] for r in rows}


ISOLATED_COLUMNS = importlib.import_module(  # the columns 0004 adds
    "persistence_svc.migrations.versions.0004_isolated_positions").COLUMNS
PRIMARY_KEY = ("SELECT string_agg(a.attname, ',' ORDER BY k.n) AS cols FROM pg_index i "
               "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
               "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
               "WHERE i.indrelid = 'positions'::regclass AND i.indisprimary")


async def as_0003(database: str) -> None:
    """A database as release 0003 left it: no 0004 columns, positions keyed by (user,
    market); a cross position, a closed position, an order, a funding payment and a
    liquidation in it."""
    await migrations.upgrade(database, "0003")
    conn = await asyncpg.connect(database)
    try:
        for table, column, _ in ISOLATED_COLUMNS:  # 0001 builds the current tables
            await conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        await conn.execute("ALTER TABLE positions ADD CONSTRAINT positions_pkey "
                           "PRIMARY KEY (user_id, market)")
        await conn.execute(
            "INSERT INTO positions (user_id, market, size, cost, entry_price, margin, "
            "realized_pnl, realized_at_open, opened_ms, event_seq) "
            "VALUES ('u', 'SOL-PERP', 2, 200, 100, 20, 5, 0, 1, 1)")
        await conn.execute(
            "INSERT INTO closed_positions (user_id, market, side, size, entry_price, "
            "realized_pnl, opened_ms, closed_ms, event_seq, exit_price, leverage, "
            "margin_mode, close_reason) "
            "VALUES ('u', 'SOL-PERP', 'BUY', 10, 100, 50, 1, 2, 3, 105, 10, 'CROSS', 'CLOSED')")
        await conn.execute(
            "INSERT INTO orders (order_id, user_id, market, side, type, tif, status, price, "
            "quantity, remaining, filled, notional, created_ms, updated_ms, event_seq) "
            "VALUES (7, 'u', 'SOL-PERP', 'BUY', 'LIMIT', 'GTC', 'FILLED', 100, 2, 0, 2, 200, "
            "1, 1, 1)")
        await conn.execute(
            "INSERT INTO funding_payments (user_id, market, rate, position_size, amount, "
            "ts_ms, event_seq) VALUES ('u', 'SOL-PERP', 0.0001, 2, -0.02, 2, 4)")
        await conn.execute(
            "INSERT INTO liquidations (liquidation_id, user_id, market, side, size, price, "
            "fee, insurance_fund_delta, ts_ms, event_seq) "
            "VALUES ('5', 'u', 'SOL-PERP', 'SELL', 1, 90, 0, 0, 2, 5)")
    finally:
        await conn.close()


async def test_a_0003_database_upgrades_to_isolated_positions_in_place(database: str) -> None:
    """0003 → 0004 keeps every row (all of them cross: position id '' / NULL), re-keys
    positions by (user, market, position id), and history reads the old rows as cross."""
    await as_0003(database)
    assert [r["cols"] for r in await fetch(database, PRIMARY_KEY)] == ["user_id,market"]
    await migrations.upgrade(database)
    await migrations.upgrade(database)  # idempotent
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == [HEAD]
    assert [r["cols"] for r in await fetch(database, PRIMARY_KEY)] == \
        ["user_id,market,position_id"]
    assert set(await position_indexes(database)) == {n for n, _, _ in POSITION_INDEXES}
    [position] = await fetch(database, "SELECT size, realized_pnl, position_id FROM positions")
    assert tuple(position.values()) == (2, 5, "")
    conn = await asyncpg.connect(database)
    try:  # an isolated position beside the cross one of the same user and market
        await conn.execute(
            "INSERT INTO positions (user_id, market, size, cost, entry_price, margin, "
            "realized_pnl, realized_at_open, opened_ms, event_seq, position_id) "
            "VALUES ('u', 'SOL-PERP', 1, 100, 100, 10, 0, 0, 9, 9, '9')")
    finally:
        await conn.close()
    keys = await fetch(database, "SELECT position_id FROM positions ORDER BY position_id")
    assert [r["position_id"] for r in keys] == ["", "9"]
    engine = create_engine(database)
    try:
        history, page = HistoryRepository(engine), Page.of("", 0, "")
        [closed] = [codec.closed_position(r) for r in await history.closed_positions("u", page)]
        [order] = [codec.order(r) for r in await history.orders("u", page)]
        [paid] = [codec.funding(r) for r in await history.funding("u", page)]
        [liq] = [codec.liquidation(r) for r in await history.liquidations("u", page)]
    finally:
        await engine.dispose()
    assert (closed.size, closed.exit_price, closed.realized_pnl, closed.close_reason) == \
        ("10", "105", "50", account_pb2.ClosedPosition.CLOSED)
    assert (closed.position_id, closed.margin_mode, closed.closed_position_id) == \
        ("", order_pb2.CROSS, "1")
    assert (order.order_id, order.filled_quantity, order.position_id, order.margin_mode) == \
        ("7", "2", "", order_pb2.MARGIN_MODE_UNSPECIFIED)
    assert (paid.amount, paid.position_id) == ("-0.02", "")
    assert (liq.liquidation_id, liq.size, liq.position_id) == ("5", "1", "")


async def test_0004_downgrades_to_0003_and_upgrades_again(database: str) -> None:
    """A rollback to 0003: the isolated positions' current rows go (a two-column key cannot
    hold them), the cross ones stay, the 0004 columns and key are gone; 0004 again after."""
    await as_0003(database)
    await migrations.upgrade(database)
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            "INSERT INTO positions (user_id, market, size, cost, entry_price, margin, "
            "realized_pnl, realized_at_open, opened_ms, event_seq, position_id) "
            "VALUES ('u', 'SOL-PERP', 1, 100, 100, 10, 0, 0, 9, 9, '9')")
    finally:
        await conn.close()
    await migrations.downgrade(database, "0003")
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == ["0003"]
    assert [r["cols"] for r in await fetch(database, PRIMARY_KEY)] == ["user_id,market"]
    [position] = await fetch(database, "SELECT user_id, size, realized_pnl FROM positions")
    assert tuple(position.values()) == ("u", 2, 5)
    left = await fetch(database, "SELECT table_name, column_name FROM "
                                 "information_schema.columns WHERE table_schema = 'public' "
                                 "AND column_name IN ('position_id', 'margin_mode')")
    assert [(r["table_name"], r["column_name"]) for r in left] == \
        [("closed_positions", "margin_mode")]  # 0003's
    await migrations.upgrade(database)
    assert [r["cols"] for r in await fetch(database, PRIMARY_KEY)] == \
        ["user_id,market,position_id"]
    [again] = await fetch(database, "SELECT size, position_id FROM positions")
    assert tuple(again.values()) == (2, "")


async def test_a_0004_database_gets_the_position_filter_indexes(database: str) -> None:
    """0004 → 0005 adds the partial (user, position id, page key) indexes in place: the
    same ones a new database gets from the schema; downgrading drops them."""
    await migrations.upgrade(database)
    fresh = await position_indexes(database)
    assert set(fresh) == {n for n, _, _ in POSITION_INDEXES}
    assert all(d.endswith("WHERE (position_id IS NOT NULL)") for d in fresh.values()), fresh
    conn = await asyncpg.connect(database)
    try:  # as 0004 left it (0001 builds the current schema: undo 0005)
        for name, _, _ in POSITION_INDEXES:
            await conn.execute(f"DROP INDEX {name}")
        await conn.execute("UPDATE alembic_version SET version_num = '0004'")
    finally:
        await conn.close()
    assert await position_indexes(database) == {}
    await migrations.upgrade(database)
    assert await position_indexes(database) == fresh


TERM_COLUMNS = importlib.import_module(  # the columns 0006 adds
    "persistence_svc.migrations.versions.0006_order_terms").COLUMNS
ORDER = ("INSERT INTO orders (order_id, user_id, market, side, type, tif, status, price, "
         "quantity, remaining, filled, notional, created_ms, updated_ms, event_seq, "
         "margin_mode) VALUES ($1, 'u', 'BTC-PERP', 'BUY', $2, $3, 'FILLED', $4, 2, 0, 2, "
         "100000, 1, 1, $1, 'CROSS')")


async def as_0005(database: str) -> None:
    """A database as release 0005 left it: no order terms; a LIMIT order and a MARKET
    order (whose slippage bound 0005 stored as its price) in it."""
    await migrations.upgrade(database, "0005")
    conn = await asyncpg.connect(database)
    try:
        for table, column, _ in TERM_COLUMNS:  # 0001 builds the current tables
            await conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        await conn.execute(ORDER, 1, "LIMIT", "GTC", 50000)
        await conn.execute(ORDER, 2, "MARKET", "IOC", 50500)
    finally:
        await conn.close()


async def term_columns(database: str) -> list[str]:
    found = await fetch(database, "SELECT column_name FROM information_schema.columns "
                                  "WHERE table_schema = 'public' AND table_name = 'orders' "
                                  "ORDER BY ordinal_position")
    names = [r["column_name"] for r in found]
    return [n for n in names if n in {c for _, c, _ in TERM_COLUMNS}]


async def test_a_0005_database_upgrades_to_order_terms_in_place(database: str) -> None:
    """0005 → 0006 keeps the orders, whose terms read as not recorded (unset, not guessed)
    and a MARKET order without its bound as price; an order written after has them."""
    await as_0005(database)
    assert await term_columns(database) == []
    await migrations.upgrade(database)
    await migrations.upgrade(database)  # idempotent
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == [HEAD]
    assert await term_columns(database) == [c for _, c, _ in TERM_COLUMNS]
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(ORDER, 3, "LIMIT", "GTC", 49900)
        await conn.execute(
            "UPDATE orders SET post_only = true, reduce_only = false, leverage = 10, "
            "self_trade_prevention = 'CANCEL_BOTH', slippage_bps = 0, stop_loss = 48000, "
            "take_profit = 52000 WHERE order_id = 3")
    finally:
        await conn.close()
    engine = create_engine(database)
    try:
        rows = await HistoryRepository(engine).orders("u", Page.of("", 0, ""))
        limit, market, recorded = sorted((codec.order(r) for r in rows),
                                         key=lambda o: int(o.order_id))
    finally:
        await engine.dispose()
    for old in (limit, market):
        assert (old.post_only, old.reduce_only, old.leverage, old.self_trade_prevention,
                old.slippage_bps, old.stop_loss, old.take_profit) == (
            False, False, 0, order_pb2.SELF_TRADE_PREVENTION_UNSPECIFIED, 0, "", "")
    assert (limit.price, limit.filled_quantity, market.price) == ("50000", "2", "")
    assert (recorded.post_only, recorded.leverage, recorded.self_trade_prevention,
            recorded.stop_loss, recorded.take_profit) == (
        True, 10, order_pb2.CANCEL_BOTH, "48000", "52000")


async def test_0006_downgrades_to_0005_and_upgrades_again(database: str) -> None:
    """A rollback to 0005 drops the terms (the orders stay); 0006 again after, NULL."""
    await as_0005(database)
    await migrations.upgrade(database)
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("UPDATE orders SET leverage = 5, post_only = true")
    finally:
        await conn.close()
    await migrations.downgrade(database, "0005")
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == ["0005"]
    assert await term_columns(database) == []
    kept = await fetch(database, "SELECT order_id, price FROM orders ORDER BY order_id")
    assert [tuple(r.values()) for r in kept] == [(1, 50000), (2, 50500)]
    await migrations.upgrade(database)
    assert await term_columns(database) == [c for _, c, _ in TERM_COLUMNS]
    again = await fetch(database, "SELECT leverage, post_only FROM orders")
    assert [tuple(r.values()) for r in again] == [(None, None), (None, None)]
