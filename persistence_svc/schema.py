"""The persistence schema: SQLAlchemy Core tables (the migrations create exactly these).

Invariants:

* Amounts, prices and quantities are ``NUMERIC`` in decimal units, never floating point.
* Times are ``BIGINT`` milliseconds since the Unix epoch (UTC), so candle buckets are exact
  integer arithmetic (``ts - ts % interval``).
* ``sync_state.committed_seq`` is written in the same transaction as the rows of the events
  up to it: the database holds every event up to it and none after it.
* Every ledger transaction (the postings of one ``event_seq`` and ``reference``) sums to
  zero per asset; account ``external`` is the outside world, so per asset all other accounts
  sum to deposits minus withdrawals. Accounts: ``user:<id>``, ``fees``, ``pnl``
  (counterpart of realized perp PnL), ``external``.
* History queries page by a monotonic ``BIGINT`` id the client sees (order id, fill id,
  trade id, ledger entry id, position id, payment id) with ``before``, so a cursor is stable
  while new rows arrive (they only get larger ids); each has an index on ``(user_id, id)``
  or ``(market, id)``; the ``positionId`` filter's, partial, on ``(user_id, position_id,
  id)`` where ``position_id`` is set (fills are found through their orders).
* Positions are keyed by ``(user_id, market, position_id)``: ``position_id`` is ``''`` for
  the netted cross position of a market, else an isolated position's id (the id of the
  order that opened it, never reused); history rows (orders, closed positions, funding
  payments, liquidations) carry it as NULL for cross. A closed isolated position keeps its
  row at size 0, like a flat cross position.
* Columns added after the first release are nullable (or have a default) and are added by
  later migrations with ``ADD COLUMN IF NOT EXISTS``, so a database from an older release
  upgrades in place; NULL there means "not recorded" (rows written before the column).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()


def _id() -> Column[int]:
    return Column("id", BigInteger, primary_key=True, autoincrement=True)


def num(name: str) -> Column[Decimal]:
    return Column(name, Numeric, nullable=False)


def big(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False)


def by_position(table: str, key: str) -> Index:
    """The history's ``positionId`` filter's index: isolated positions' rows only."""
    return Index(f"{table}_user_position", "user_id", "position_id", key,
                 postgresql_where=text("position_id IS NOT NULL"))


def position_id() -> Column[str]:
    """An isolated position's id (the decimal id of the order that opened it) on a history
    row; NULL for the cross position (and for rows written before 0004, all cross)."""
    return Column("position_id", String(20))


users = Table(
    "users", metadata, Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("admin", Boolean, nullable=False, server_default="false"),
    big("created_ms"))

sync_state = Table(
    "sync_state", metadata, Column("engine_id", String(64), primary_key=True),
    big("committed_seq"))

orders = Table(
    "orders", metadata, _id(), Column("order_id", BigInteger, nullable=False, unique=True),
    Column("user_id", String(64), nullable=False), Column("market", String(32), nullable=False),
    Column("client_order_id", String(64)), Column("side", String(4), nullable=False),
    Column("type", String(8), nullable=False), Column("tif", String(4), nullable=False),
    Column("status", String(16), nullable=False), Column("price", Numeric),
    num("quantity"), num("remaining"),
    num("filled"), num("notional"),
    Column("reason", String(32)), big("created_ms"),
    big("updated_ms"),
    big("event_seq"),
    Column("margin_mode", String(8)),  # perps: CROSS / ISOLATED; NULL: spot (or before 0004)
    position_id(),  # the isolated position it opens or reduces; NULL: cross
    # Its terms (0006); all NULL on rows written before them (not recorded). stop_loss /
    # take_profit are NULL also when the order has none; slippage_bps is 0 for LIMIT.
    Column("post_only", Boolean), Column("reduce_only", Boolean),
    Column("leverage", Integer), Column("self_trade_prevention", String(16)),
    Column("slippage_bps", Integer), Column("stop_loss", Numeric),
    Column("take_profit", Numeric),
    Index("orders_user_order", "user_id", "order_id"), by_position("orders", "order_id"))

fills = Table(
    "fills", metadata, _id(), big("fill_id"),
    Column("liquidity", String(5), nullable=False),
    big("order_id"), Column("user_id", String(64), nullable=False),
    Column("market", String(32), nullable=False), Column("side", String(4), nullable=False),
    num("price"), num("quantity"),
    num("fee"), Column("fee_asset", String(16), nullable=False),
    big("ts_ms"), big("event_seq"),
    Column("realized_pnl", Numeric),  # perps; NULL for spot (and before 0003)
    UniqueConstraint("fill_id", "liquidity", name="fills_fill_side"),
    Index("fills_user_fill", "user_id", "fill_id"))

trades = Table(
    "trades", metadata, _id(), Column("trade_id", BigInteger, nullable=False, unique=True),
    Column("market", String(32), nullable=False), num("price"),
    num("quantity"), Column("taker_side", String(4), nullable=False),
    big("ts_ms"),
    Index("trades_market_trade", "market", "trade_id"),
    Index("trades_market_ts", "market", "ts_ms"))

balances = Table(
    "balances", metadata, Column("user_id", String(64), nullable=False),
    Column("asset", String(16), nullable=False), num("available"),
    num("locked"), big("event_seq"),
    PrimaryKeyConstraint("user_id", "asset"))

ledger = Table(
    "ledger_entries", metadata, _id(), big("event_seq"),
    Column("account", String(80), nullable=False), Column("user_id", String(64)),
    Column("asset", String(16), nullable=False), num("amount"),
    Column("kind", String(16), nullable=False), Column("reference", String(140), nullable=False),
    Column("market", String(32)), big("ts_ms"),
    Index("ledger_user_id", "user_id", "id"))

positions = Table(
    "positions", metadata, Column("user_id", String(64), nullable=False),
    Column("market", String(32), nullable=False), num("size"),
    Column("side", String(4)), num("cost"),
    num("entry_price"), num("margin"),
    num("realized_pnl"),
    num("realized_at_open"),
    big("opened_ms"), big("event_seq"),
    # lots closed since the position opened, and their price times quantity (exit price)
    Column("exit_quantity", Numeric, nullable=False, server_default="0"),
    Column("exit_notional", Numeric, nullable=False, server_default="0"),
    # '' for the cross position of (user, market), else the isolated position's id
    Column("position_id", String(20), nullable=False, server_default=""),
    PrimaryKeyConstraint("user_id", "market", "position_id", name="positions_pkey"))

closed_positions = Table(
    "closed_positions", metadata, _id(), Column("user_id", String(64), nullable=False),
    Column("market", String(32), nullable=False), Column("side", String(4), nullable=False),
    num("size"), num("entry_price"),
    num("realized_pnl"), big("opened_ms"),
    big("closed_ms"), big("event_seq"),
    Column("exit_price", Numeric), Column("leverage", Integer),
    Column("margin_mode", String(8)),  # CROSS / ISOLATED; NULL (before 0003) was CROSS
    Column("close_reason", String(16)),  # CLOSED, LIQUIDATED, STOP_LOSS, TAKE_PROFIT
    position_id(),
    Index("closed_positions_user_id", "user_id", "id"), by_position("closed_positions", "id"))

funding_payments = Table(
    "funding_payments", metadata, _id(), Column("user_id", String(64), nullable=False),
    Column("market", String(32), nullable=False), num("rate"),
    num("position_size"), num("amount"),
    big("ts_ms"), big("event_seq"),
    position_id(),
    Index("funding_user_id", "user_id", "id"), by_position("funding", "id"))

liquidations = Table(
    "liquidations", metadata, _id(), Column("liquidation_id", String(64), nullable=False,
                                            unique=True),
    Column("user_id", String(64), nullable=False), Column("market", String(32), nullable=False),
    Column("side", String(4), nullable=False), num("size"),
    num("price"), num("fee"),
    num("insurance_fund_delta"),
    big("ts_ms"), big("event_seq"),
    Column("closed_on_book", Numeric), Column("taken_by_fund", Numeric),
    position_id(),
    Index("liquidations_user_id", "user_id", "id"), by_position("liquidations", "event_seq"))

candles_1m = Table(
    "candles_1m", metadata, Column("market", String(32), nullable=False),
    big("open_ms"), num("open"),
    num("high"), num("low"),
    num("close"), num("volume"),
    big("first_trade"),
    big("last_trade"), Column("trades", Integer, nullable=False),
    PrimaryKeyConstraint("market", "open_ms"))

assets = Table(
    "assets", metadata, Column("symbol", String(16), primary_key=True),
    Column("decimals", Integer, nullable=False), big("created_ms"), big("event_seq"))
"""Assets added at runtime (the engine's built-in ones are not events)."""

markets = Table(
    "markets", metadata, Column("symbol", String(32), primary_key=True),
    Column("kind", String(8), nullable=False), Column("base_asset", String(16), nullable=False),
    Column("quote_asset", String(16), nullable=False), num("tick_size"), num("lot_size"),
    num("min_quantity"), Column("max_leverage", Integer, nullable=False),
    Column("maker_fee_bps", Integer, nullable=False),
    Column("taker_fee_bps", Integer, nullable=False),
    Column("maintenance_margin_rate", Numeric), Column("status", String(16), nullable=False),
    big("updated_ms"), big("event_seq"))
"""Markets added or changed at runtime, as the last change left them."""
