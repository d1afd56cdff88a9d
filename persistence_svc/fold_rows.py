"""The rows persistence folds a batch of engine events into: orders, positions, candles,
and :class:`Rows`, everything one batch writes (:mod:`persistence_svc.event_fold` fills it,
:mod:`persistence_svc.event_writer` writes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from persistence_svc.copy_csv import Accounts, Fields, Number, Numbers
from persistence_svc.exits import Exits

ZERO = Decimal(0)
PositionKey = tuple[str, str, str]  # (user, market, position id: "" for cross)


@dataclass(slots=True)
class OrderRow:
    order_id: int
    user_id: str
    market: str
    client_order_id: str | None
    side: str
    type: str
    tif: str
    status: str
    price: Decimal | None
    quantity: Decimal
    remaining: Decimal
    filled: Decimal
    notional: Decimal
    reason: str | None
    created_ms: int
    updated_ms: int
    event_seq: int
    margin_mode: str | None = None  # perps: CROSS / ISOLATED; None: spot (or not recorded)
    position_id: str | None = None  # the isolated position it opens or reduces; None: cross
    # Its terms; all None when the accepting event did not carry them (see _terms).
    post_only: bool | None = None
    reduce_only: bool | None = None
    leverage: int | None = None
    self_trade_prevention: str | None = None
    slippage_bps: int | None = None
    stop_loss: Decimal | None = None  # None also when it has none
    take_profit: Decimal | None = None


@dataclass(slots=True)
class PositionRow:
    user_id: str
    market: str
    size: Decimal  # signed
    cost: Decimal
    entry_price: Decimal
    margin: Decimal
    realized_pnl: Decimal
    realized_at_open: Decimal
    opened_ms: int
    event_seq: int
    exit_quantity: Decimal = ZERO  # lots closed since the position opened
    exit_notional: Decimal = ZERO  # their price times quantity
    position_id: str = ""  # an isolated position's id; "" for the cross position


@dataclass(slots=True)
class Candle:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    first_trade: int
    last_trade: int
    trades: int


@dataclass(slots=True)
class Rows:
    """Everything one batch writes; append-only lists and last-state-wins upserts.
    ``fills``, ``trades`` and ``ledger`` are ``COPY`` lines (the columns of
    ``event_writer.COPY_LINES``)."""

    orders: dict[int, OrderRow]
    positions: dict[PositionKey, PositionRow]
    fills: list[str] = field(default_factory=list)
    trades: list[str] = field(default_factory=list)
    ledger: list[str] = field(default_factory=list)
    closed: list[tuple[object, ...]] = field(default_factory=list)
    funding: list[tuple[object, ...]] = field(default_factory=list)
    liquidations: list[tuple[object, ...]] = field(default_factory=list)
    balances: dict[tuple[str, str], tuple[Decimal, Decimal, int]] = field(default_factory=dict)
    candles: dict[tuple[str, int], Candle] = field(default_factory=dict)
    changed_orders: set[int] = field(default_factory=set)
    new_orders: set[int] = field(default_factory=set)  # created in the batch: not in the DB
    changed_positions: set[PositionKey] = field(default_factory=set)
    balance_text: dict[tuple[str, str], tuple[str, str, int]] = field(default_factory=dict)
    numbers: Numbers = field(default_factory=Numbers)
    notionals: dict[tuple[str, str], Number] = field(default_factory=dict)
    fields: Fields = field(default_factory=Fields)
    accounts: Accounts = field(default_factory=Accounts)
    markets: dict[str, tuple[object, ...]] = field(default_factory=dict)
    """symbol -> the ``markets`` row (runtime registry; the last change wins)."""
    assets: dict[str, tuple[object, ...]] = field(default_factory=dict)
    exits: Exits = field(default_factory=Exits)  # the current command's
    # positions whose new size is not the prior state plus the command's fills (the prior
    # state was stale), or that fills moved with no position event following (the fills
    # went to the wrong position): the writer reports them; nothing here can correct them
    unexplained: list[PositionKey] = field(default_factory=list)
