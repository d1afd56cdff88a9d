"""Writes event batches to PostgreSQL: one transaction per batch, idempotent by sequence.

Invariants:

* The rows of a batch and the new ``sync_state.committed_seq`` commit together or not at
  all; the caller acknowledges only the sequence :meth:`EventWriter.commit` returns.
* Events at or below the committed sequence are skipped (a redelivery changes nothing);
  a batch that does not continue at ``committed + 1`` is refused (nothing written, the
  committed sequence is returned so the engine resends from there).
* The ``sync_state`` row is locked for the transaction (``FOR UPDATE``): two links of the
  same engine (an old stream not yet torn down) never interleave.

Pipelining (one stream, :class:`Session`): :meth:`EventWriter.prepare` loads, folds and
encodes batch N+1 while batch N's transaction runs (:meth:`EventWriter.write`). It folds
over the rows batch N left behind (the session's cache) and over PostgreSQL for the rest
(rows N does not touch, so the uncommitted transaction cannot change them). Prepared rows
are used only if the transaction finds ``committed_seq`` equal to the sequence they were
folded on and every earlier batch of the session went in as prepared; otherwise the batch
takes the plain path (:meth:`EventWriter.commit`'s: load and fold inside the transaction)
and the session stops pipelining. Folding yields to the event loop every
:data:`FOLD_SLICE` events, so the transaction in flight is never kept waiting for a whole
fold between its round trips; and a session holds one connection for the stream (no pool
checkout and ping per batch).

Append-only rows, and orders created in the batch (no row yet: a fresh event is never in
the database), go in with ``COPY`` (CSV lines from :mod:`persistence_svc.copy_csv`; COPY
inserts many rows per WAL record, which is cheaper for PostgreSQL than ``INSERT … SELECT``);
upserts with one ``INSERT … SELECT unnest(…)`` each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from trademesh.v1 import event_pb2

from persistence_svc import event_fold as ef
from persistence_svc import metrics
from persistence_svc.copy_csv import csv_bytes, lines_bytes, order_lines
from persistence_svc.fold_rows import OrderRow, PositionKey, PositionRow, Rows

log = logging.getLogger("trademesh.persistence.event_writer")
ORDER_COLS = ("order_id", "user_id", "market", "client_order_id", "side", "type", "tif",
              "status", "price", "quantity", "remaining", "filled", "notional", "reason",
              "created_ms", "updated_ms", "event_seq", "margin_mode", "position_id",
              "post_only", "reduce_only", "leverage", "self_trade_prevention", "slippage_bps",
              "stop_loss", "take_profit")  # OrderRow's fields, in order
ORDER_TYPES = ("bigint", "text", "text", "text", "text", "text", "text", "text", "numeric",
               "numeric", "numeric", "numeric", "numeric", "text", "bigint", "bigint", "bigint",
               "text", "text", "boolean", "boolean", "int", "text", "int", "numeric", "numeric")
ORDER_VALUES = attrgetter(*ORDER_COLS)
POSITION_COLS = ("user_id", "market", "size", "cost", "entry_price", "margin", "realized_pnl",
                 "realized_at_open", "opened_ms", "event_seq", "exit_quantity", "exit_notional",
                 "position_id")
POSITION_VALUES = attrgetter(*POSITION_COLS)
POSITION_TYPES = ("text", "text") + ("numeric",) * 6 + ("bigint", "bigint", "numeric", "numeric",
                                                        "text")
CANDLE_COLS = ("market", "open_ms", "open", "high", "low", "close", "volume", "first_trade",
               "last_trade", "trades")
CANDLE_TYPES = ("text", "bigint") + ("numeric",) * 5 + ("bigint", "bigint", "int")
COPIES = {  # table: (attribute of Rows, columns)
    "closed_positions": ("closed", ("user_id", "market", "side", "size", "entry_price",
                                    "realized_pnl", "opened_ms", "closed_ms", "event_seq",
                                    "exit_price", "leverage", "margin_mode", "close_reason",
                                    "position_id")),
    "funding_payments": ("funding", ("user_id", "market", "rate", "position_size", "amount",
                                     "ts_ms", "event_seq", "position_id")),
    "liquidations": ("liquidations", ("liquidation_id", "user_id", "market", "side", "size",
                                      "price", "fee", "insurance_fund_delta", "ts_ms",
                                      "event_seq", "closed_on_book", "taken_by_fund",
                                      "position_id")),
}
COPY_LINES = {  # table: (attribute of Rows holding COPY lines, columns)
    "fills": ("fills", ("fill_id", "liquidity", "order_id", "user_id", "market", "side", "price",
              "quantity", "fee", "fee_asset", "ts_ms", "event_seq", "realized_pnl")),
    "trades": ("trades", ("trade_id", "market", "price", "quantity", "taker_side", "ts_ms")),
    "ledger_entries": ("ledger", ("event_seq", "account", "user_id", "asset", "amount",
                                  "kind", "reference", "market", "ts_ms")),
}
COPY_CHUNK = 1 << 20  # bytes per COPY data message
FOLD_SLICE = 200  # events with a body folded between yields to the loop (a commit may wait)
CANDLE_MERGE = """
  high = GREATEST(c.high, EXCLUDED.high), low = LEAST(c.low, EXCLUDED.low),
  open = CASE WHEN EXCLUDED.first_trade < c.first_trade THEN EXCLUDED.open ELSE c.open END,
  close = CASE WHEN EXCLUDED.last_trade > c.last_trade THEN EXCLUDED.close ELSE c.close END,
  volume = c.volume + EXCLUDED.volume, trades = c.trades + EXCLUDED.trades,
  first_trade = LEAST(c.first_trade, EXCLUDED.first_trade),
  last_trade = GREATEST(c.last_trade, EXCLUDED.last_trade)"""


def _upsert_sql(table: str, cols: tuple[str, ...], types: tuple[str, ...],
                key: tuple[str, ...], update: str | None = None) -> str:
    args = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, 1))
    sets = update or ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
    return (f"INSERT INTO {table} AS c ({', '.join(cols)}) SELECT * FROM unnest({args}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}")


UPSERT_ORDERS = _upsert_sql("orders", ORDER_COLS, ORDER_TYPES, ("order_id",))
UPSERT_POSITIONS = _upsert_sql("positions", POSITION_COLS, POSITION_TYPES,
                               ("user_id", "market", "position_id"))
UPSERT_CANDLES = _upsert_sql("candles_1m", CANDLE_COLS, CANDLE_TYPES, ("market", "open_ms"),
                             CANDLE_MERGE)
UPSERT_BALANCES = _upsert_sql("balances", ("user_id", "asset", "available", "locked",
                                           "event_seq"),
                              ("text", "text", "numeric", "numeric", "bigint"),
                              ("user_id", "asset"))
MARKET_COLS = ("symbol", "kind", "base_asset", "quote_asset", "tick_size", "lot_size",
               "min_quantity", "max_leverage", "maker_fee_bps", "taker_fee_bps",
               "maintenance_margin_rate", "status", "updated_ms", "event_seq")
UPSERT_MARKETS = _upsert_sql("markets", MARKET_COLS, ("text",) * 4 + ("numeric",) * 3
                             + ("int",) * 3 + ("numeric", "text", "bigint", "bigint"),
                             ("symbol",))
ASSET_COLS = ("symbol", "decimals", "created_ms", "event_seq")
UPSERT_ASSETS = _upsert_sql("assets", ASSET_COLS, ("text", "int", "bigint", "bigint"),
                            ("symbol",))


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Row tuples → one list per column (the shape ``unnest`` takes)."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one (for COPY and array parameters)."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    return raw


@dataclass(slots=True)
class Session:
    """One event stream's pipeline state."""

    engine_id: str
    expected: int  # the committed sequence once every prepared batch is in
    orders: dict[int, OrderRow] = field(default_factory=dict)
    positions: dict[PositionKey, PositionRow] = field(default_factory=dict)
    pipelined: bool = True
    connection: AsyncConnection | None = None  # held for the stream: no checkout per batch


@dataclass(slots=True)
class Prepared:
    """A batch and, if ``base >= 0``, its encoded rows folded on sequence ``base``."""

    events: list[event_pb2.EngineEvent]
    base: int = -1
    last: int = 0
    copies: list[tuple[str, bytes, tuple[str, ...]]] = field(default_factory=list)
    upserts: list[tuple[str, list[list[Any]]]] = field(default_factory=list)


class EventWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def committed(self, engine_id: str) -> int:
        async with self._engine.connect() as conn:
            raw = await driver(conn)
            await raw.execute("INSERT INTO sync_state VALUES ($1, 0) ON CONFLICT DO NOTHING",
                              engine_id)
            return int(await raw.fetchval(
                "SELECT committed_seq FROM sync_state WHERE engine_id = $1", engine_id))

    async def open(self, engine_id: str) -> Session:
        """A stream's session, with a connection of its own until :meth:`close`."""
        session = Session(engine_id, await self.committed(engine_id))
        session.connection = await self._engine.connect()
        return session

    async def close(self, session: Session) -> None:
        """Returns the session's connection (a broken one is the pool's to discard)."""
        if session.connection is not None:
            connection, session.connection = session.connection, None
            try:
                await connection.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    SQLAlchemyError) as err:
                log.warning("closing the event stream's connection: %r", err)

    async def commit(self, engine_id: str, events: list[event_pb2.EngineEvent]) -> int:
        """Writes ``events`` (consecutive) once; returns the committed sequence after."""
        return await self.write(Session(engine_id, -1, pipelined=False), Prepared(events))

    async def prepare(self, session: Session, events: list[event_pb2.EngineEvent]) -> Prepared:
        """Folds and encodes ``events`` as if every batch prepared before is committed."""
        fresh = [e for e in events if e.sequence > session.expected]
        if not session.pipelined or not fresh or fresh[0].sequence != session.expected + 1:
            session.pipelined = False
            return Prepared(events)
        order_ids, keys, bodies = ef.touched(fresh)
        orders = {o: session.orders[o] for o in order_ids if o in session.orders}
        positions = {k: session.positions[k] for k in keys if k in session.positions}
        if order_ids - orders.keys() or keys - positions.keys():  # else no round trip
            async with self._engine.connect() as conn:
                raw = await driver(conn)
                orders.update(await _load_orders(raw, order_ids - orders.keys()))
                positions.update(await _load_positions(raw, keys - positions.keys()))
        rows = Rows(orders, positions)
        for start in range(0, len(bodies), FOLD_SLICE):
            await asyncio.sleep(0)  # the transaction in flight needs the loop too
            ef.fold_bodies(rows, bodies[start:start + FOLD_SLICE])
        _report(rows)
        prepared = encode(ef.finish(rows), Prepared(events, session.expected,
                                                    fresh[-1].sequence))
        # Kept for every batch prepared and not yet known committed, not only this one: with
        # several batches in flight, a later batch may touch an order an earlier one made
        # that is neither in this batch nor (yet) in the database.
        session.orders.update(rows.orders)
        session.positions.update(rows.positions)
        session.expected = prepared.last
        return prepared

    async def write(self, session: Session, prepared: Prepared) -> int:
        """Commits ``prepared`` (or its events the plain way); the committed sequence after."""
        if session.connection is not None:
            return await self._write(session, await driver(session.connection), prepared)
        async with self._engine.connect() as conn:
            return await self._write(session, await driver(conn), prepared)

    async def _write(self, session: Session, raw: asyncpg.Connection, prepared: Prepared
                     ) -> int:
        began = time.perf_counter()
        async with raw.transaction():
            committed = int(await raw.fetchval(
                "SELECT committed_seq FROM sync_state WHERE engine_id = $1 FOR UPDATE",
                session.engine_id) or 0)
            if session.pipelined and prepared.base == committed:
                await _apply(raw, prepared)
                last = prepared.last
            else:
                session.pipelined = False
                last = await _write_fresh(raw, committed, prepared.events)
            if last != committed:
                await raw.execute("UPDATE sync_state SET committed_seq = $2 "
                                  "WHERE engine_id = $1", session.engine_id, last)
        if last == session.expected:  # every prepared batch is in: the database is current
            session.orders.clear()
            session.positions.clear()
        metrics.committed(began, committed, last)
        return last


async def _write_fresh(raw: asyncpg.Connection, committed: int,
                       events: list[event_pb2.EngineEvent]) -> int:
    """The plain path, inside the transaction: the events after ``committed``, if they
    continue it; returns the sequence committed then."""
    fresh = [e for e in events if e.sequence > committed]
    if not fresh or fresh[0].sequence != committed + 1:
        return committed  # a redelivery, or a gap the engine must fill
    order_ids, position_keys, _ = ef.touched(fresh)
    orders = await _load_orders(raw, order_ids)
    positions = await _load_positions(raw, position_keys)
    rows = ef.fold(fresh, orders, positions)
    _report(rows)
    await _apply(raw, encode(rows, Prepared(fresh)))
    return fresh[-1].sequence


def _report(rows: Rows) -> None:
    """Positions the batch's fills do not explain (folded over a stale prior state: their
    history would be wrong) are logged and counted, never silently written."""
    for user, market, position_id in rows.unexplained:
        metrics.POSITION_MISMATCHES.inc()
        log.error("position %s/%s%s: its new size is not its prior state plus the fills, "
                  "or fills moved it with no position event (a stale prior state, or an "
                  "order naming another position?); its history may be wrong", user, market,
                  f"/{position_id}" if position_id else "")


def encode(rows: Rows, into: Prepared) -> Prepared:
    """The rows as COPY sources and upsert arrays (nothing refers to ``rows`` after)."""
    for table, (attribute, cols) in COPY_LINES.items():
        lines = getattr(rows, attribute)
        if lines:
            into.copies.append((table, lines_bytes(lines), cols))
    for table, (attribute, cols) in COPIES.items():
        records = getattr(rows, attribute)
        if records:
            into.copies.append((table, csv_bytes(records), cols))
    created = [ORDER_VALUES(rows.orders[o]) for o in sorted(rows.new_orders)]
    if created:
        into.copies.append(("orders", lines_bytes(order_lines(created)), ORDER_COLS))
    into.upserts = _upsert_arrays(rows)
    return into


def coalesce(first: Prepared, then: Prepared) -> bool:
    """Appends ``then`` (prepared right after ``first``, on its rows) to ``first``, to be
    written in one transaction; False (nothing changed) if either was not folded in
    sequence. Each table's COPY lines stay in event order; upserts run in batch order, so
    the later state wins (candles merge as across transactions)."""
    if first.base < 0 or then.base != first.last:
        return False
    first.events = [*first.events, *then.events]
    tables = {table: (data, cols) for table, data, cols in first.copies}
    for table, data, cols in then.copies:
        tables[table] = (tables[table][0] + data, cols) if table in tables else (data, cols)
    first.copies = [(table, data, cols) for table, (data, cols) in tables.items()]
    first.upserts += then.upserts
    first.last = then.last
    return True


async def _apply(raw: asyncpg.Connection, prepared: Prepared) -> None:
    for table, data, cols in prepared.copies:
        await raw.copy_to_table(table, source=_chunks(data), columns=cols, format="csv")
    for sql, arrays in prepared.upserts:
        await raw.execute(sql, *arrays)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    """COPY data as asyncpg sends it without a worker thread (it reads a file-like source
    in the default executor, and takes ``bytes`` for a path)."""
    for start in range(0, len(data), COPY_CHUNK):
        yield data[start:start + COPY_CHUNK]


def _upsert_arrays(rows: Rows) -> list[tuple[str, list[list[Any]]]]:
    out: list[tuple[str, list[list[Any]]]] = []
    updated = rows.changed_orders - rows.new_orders
    if updated:
        order_rows = [ORDER_VALUES(rows.orders[o]) for o in sorted(updated)]
        out.append((UPSERT_ORDERS, columns(order_rows, len(ORDER_COLS))))
    if rows.changed_positions:
        pos_rows = [POSITION_VALUES(rows.positions[k]) for k in sorted(rows.changed_positions)]
        out.append((UPSERT_POSITIONS, columns(pos_rows, len(POSITION_COLS))))
    if rows.balances:
        bal_rows = [(u, a, *v) for (u, a), v in sorted(rows.balances.items())]
        out.append((UPSERT_BALANCES, columns(bal_rows, 5)))
    if rows.assets:
        out.append((UPSERT_ASSETS, columns([rows.assets[a] for a in sorted(rows.assets)],
                                           len(ASSET_COLS))))
    if rows.markets:
        out.append((UPSERT_MARKETS, columns([rows.markets[m] for m in sorted(rows.markets)],
                                            len(MARKET_COLS))))
    if rows.candles:
        candle_rows = [(m, t, c.open, c.high, c.low, c.close, c.volume, c.first_trade,
                        c.last_trade, c.trades) for (m, t), c in sorted(rows.candles.items())]
        out.append((UPSERT_CANDLES, columns(candle_rows, len(CANDLE_COLS))))
    return out


async def _load_orders(raw: asyncpg.Connection, ids: set[int]) -> dict[int, OrderRow]:
    if not ids:
        return {}
    found = await raw.fetch(f"SELECT {', '.join(ORDER_COLS)} FROM orders "
                            "WHERE order_id = ANY($1::bigint[])", list(ids))
    return {r["order_id"]: OrderRow(*r.values()) for r in found}


async def _load_positions(raw: asyncpg.Connection, keys: set[PositionKey]
                          ) -> dict[PositionKey, PositionRow]:
    if not keys:
        return {}
    users, markets, ids = zip(*keys, strict=True)
    found = await raw.fetch(
        f"SELECT {', '.join(POSITION_COLS)} FROM positions p JOIN unnest($1::text[], "
        "$2::text[], $3::text[]) AS k(u, m, i) "
        "ON p.user_id = k.u AND p.market = k.m AND p.position_id = k.i",
        list(users), list(markets), list(ids))
    return {(r["user_id"], r["market"], r["position_id"]): PositionRow(*r.values())
            for r in found}
