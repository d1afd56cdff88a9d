"""Events: what happened, in the past tense.

Every event carries ``seq`` (gap-free event sequence number, starting at 1) and
``cmd_seq`` (sequence number of the command that produced it). Within one command the
order is: order events (accepted/rejected, fills, cancels, replaced) and perp events
(index set, liquidation orders and ``PositionLiquidated``, funding payments) first, in the
order they happened, then ``BalanceChanged`` per touched (user, asset) and
``PositionChanged`` per touched position, each once, in first-touched order. Liquidations
and funding move the insurance fund as the account ``INSURANCE_FUND`` (``"__insurance__"``),
reported like any account through ``BalanceChanged`` / ``PositionChanged``.

Perp events are in :mod:`engine_svc.core.perp_events`, registry events (assets and markets
added or changed) in :mod:`engine_svc.core.market_events`; ``Event`` is the union of all.

Events are dataclasses (equality, repr, ``dataclasses.fields``, orjson) with their
``__init__`` written out (``init=False``): a dataclass-generated ``__init__`` is interpreted
code even in the compiled build, and events are built on every order's path. They are
immutable by contract: the core never changes an event once it is emitted.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine_svc.core.enums import (
    CancelReason,
    OrderType,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.market_events import (
    AssetAdded,
    MarketChanged,
    RegistryCommandRejected,
    RegistryEvent,
)
from engine_svc.core.perp_events import (
    FundingPaid,
    FundingSettled,
    IndexPriceSet,
    PerpCommandRejected,
    PerpEvent,
    PositionLiquidated,
    TriggerCanceled,
    TriggerFired,
    TriggerLimitSet,
    TriggerPlaced,
    TriggerUpdated,
)


@dataclass(slots=True, init=False)
class OrderAccepted:
    """An order entered the book's matching (it may fill, rest or be canceled next).

    ``price`` is the limit price, or for a MARKET order the bound its ``slippage_bps``
    set at entry (not a price the order asked for). ``reduce_only`` is the effective flag
    (set, or implied by naming an isolated ``position_id``); ``slippage_bps`` is 0 for a
    LIMIT order; ``stop_loss`` / ``take_profit`` are the attached trigger prices in ticks
    (``None``: none). A liquidation's order is reduce-only MARKET IOC at leverage 1, its
    ``slippage_bps`` the market's liquidation slippage (from the reference price).
    """

    seq: int
    cmd_seq: int
    order_id: int
    user_id: str
    market: str
    side: Side
    type: OrderType
    price: int
    quantity: int
    tif: TimeInForce
    client_order_id: str | None
    ts: int
    position_id: int
    post_only: bool
    reduce_only: bool
    leverage: int
    stp: StpMode
    slippage_bps: int
    stop_loss: int | None
    take_profit: int | None

    def __init__(
        self, seq: int, cmd_seq: int, order_id: int, user_id: str, market: str, side: Side,
        type: OrderType, price: int, quantity: int, tif: TimeInForce, client_order_id: str | None,
        ts: int, position_id: int = 0, post_only: bool = False, reduce_only: bool = False,
        leverage: int = 1, stp: StpMode = StpMode.CANCEL_TAKER, slippage_bps: int = 0,
        stop_loss: int | None = None, take_profit: int | None = None,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.order_id = order_id
        self.user_id = user_id
        self.market = market
        self.side = side
        self.type = type
        self.price = price
        self.quantity = quantity
        self.tif = tif
        self.client_order_id = client_order_id
        self.ts = ts
        self.position_id = position_id
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.leverage = leverage
        self.stp = stp
        self.slippage_bps = slippage_bps
        self.stop_loss = stop_loss
        self.take_profit = take_profit


@dataclass(slots=True, init=False)
class OrderRejected:
    """A place/cancel/replace that changed nothing.

    ``order_id`` is 0 for a rejected place (no id is consumed); ``market`` is "" for a
    cancel/replace whose order was not found.
    """

    seq: int
    cmd_seq: int
    user_id: str
    market: str
    order_id: int
    client_order_id: str | None
    reason: RejectReason

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, market: str, order_id: int,
        client_order_id: str | None, reason: RejectReason,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.market = market
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.reason = reason


@dataclass(slots=True, init=False)
class OrderFilled:
    """One trade between a resting maker and an incoming taker; fees in quote minor units.

    ``taker_realized`` / ``maker_realized``: perp PnL each side's fill realized by closing
    (USD minor units, fees not included); 0 for an opening fill and for spot.
    """

    seq: int
    cmd_seq: int
    fill_id: int
    market: str
    price: int
    quantity: int
    taker_side: Side
    taker_order_id: int
    taker_user_id: str
    taker_fee: int
    taker_remaining: int
    maker_order_id: int
    maker_user_id: str
    maker_fee: int
    maker_remaining: int
    ts: int
    taker_realized: int
    maker_realized: int

    def __init__(
        self, seq: int, cmd_seq: int, fill_id: int, market: str, price: int, quantity: int,
        taker_side: Side, taker_order_id: int, taker_user_id: str, taker_fee: int,
        taker_remaining: int, maker_order_id: int, maker_user_id: str, maker_fee: int,
        maker_remaining: int, ts: int, taker_realized: int, maker_realized: int,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.fill_id = fill_id
        self.market = market
        self.price = price
        self.quantity = quantity
        self.taker_side = taker_side
        self.taker_order_id = taker_order_id
        self.taker_user_id = taker_user_id
        self.taker_fee = taker_fee
        self.taker_remaining = taker_remaining
        self.maker_order_id = maker_order_id
        self.maker_user_id = maker_user_id
        self.maker_fee = maker_fee
        self.maker_remaining = maker_remaining
        self.ts = ts
        self.taker_realized = taker_realized
        self.maker_realized = maker_realized


@dataclass(slots=True, init=False)
class OrderCanceled:
    seq: int
    cmd_seq: int
    order_id: int
    user_id: str
    market: str
    canceled_quantity: int
    reason: CancelReason

    def __init__(
        self, seq: int, cmd_seq: int, order_id: int, user_id: str, market: str,
        canceled_quantity: int, reason: CancelReason,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.order_id = order_id
        self.user_id = user_id
        self.market = market
        self.canceled_quantity = canceled_quantity
        self.reason = reason


@dataclass(slots=True, init=False)
class OrderReplaced:
    seq: int
    cmd_seq: int
    order_id: int
    user_id: str
    market: str
    price: int
    quantity: int
    priority_kept: bool

    def __init__(
        self, seq: int, cmd_seq: int, order_id: int, user_id: str, market: str, price: int,
        quantity: int, priority_kept: bool,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.order_id = order_id
        self.user_id = user_id
        self.market = market
        self.price = price
        self.quantity = quantity
        self.priority_kept = priority_kept


@dataclass(slots=True, init=False)
class BalanceChanged:
    """Balances after the command; ``locked`` is held by open orders."""

    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    available: int
    locked: int

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, asset: str, available: int, locked: int,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.asset = asset
        self.available = available
        self.locked = locked


@dataclass(slots=True, init=False)
class PositionChanged:
    """Perp position after the command: signed size (lots), signed cost (quote minor units).

    ``user_id`` is always the owner; ``position_id`` names an isolated position (the id of
    the order that opened it), 0 the netted cross position of the market."""

    seq: int
    cmd_seq: int
    user_id: str
    market: str
    size: int
    cost: int
    margin: int
    realized_pnl: int
    position_id: int

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, market: str, size: int, cost: int, margin: int,
        realized_pnl: int, position_id: int = 0,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.market = market
        self.size = size
        self.cost = cost
        self.margin = margin
        self.realized_pnl = realized_pnl
        self.position_id = position_id


@dataclass(slots=True, init=False)
class DepositApplied:
    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    amount: int
    tx_id: str

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, asset: str, amount: int, tx_id: str,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.asset = asset
        self.amount = amount
        self.tx_id = tx_id


@dataclass(slots=True, init=False)
class WithdrawalApplied:
    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    amount: int
    tx_id: str | None

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, asset: str, amount: int, tx_id: str | None,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.asset = asset
        self.amount = amount
        self.tx_id = tx_id


@dataclass(slots=True, init=False)
class TransferRejected:
    """A deposit/withdrawal that changed nothing (``DUPLICATE_TRANSACTION`` for a retry)."""

    seq: int
    cmd_seq: int
    user_id: str
    asset: str
    amount: int
    tx_id: str | None
    reason: RejectReason

    def __init__(
        self, seq: int, cmd_seq: int, user_id: str, asset: str, amount: int, tx_id: str | None,
        reason: RejectReason,
    ) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.user_id = user_id
        self.asset = asset
        self.amount = amount
        self.tx_id = tx_id
        self.reason = reason


@dataclass(slots=True, init=False)
class OpenOrderLimitSet:
    """The per-user, per-market live-order limit in force after a ``SetOpenOrderLimit``."""

    seq: int
    cmd_seq: int
    limit: int
    ts: int

    def __init__(self, seq: int, cmd_seq: int, limit: int, ts: int) -> None:
        self.seq = seq
        self.cmd_seq = cmd_seq
        self.limit = limit
        self.ts = ts


OrderEvent = OrderAccepted | OrderRejected | OrderFilled | OrderCanceled | OrderReplaced
AccountEvent = (
    BalanceChanged | PositionChanged | DepositApplied | WithdrawalApplied | TransferRejected
)
Event = OrderEvent | AccountEvent | PerpEvent | OpenOrderLimitSet | RegistryEvent

__all__ = [  # the perp events are re-exported: import any event from here
    "AccountEvent",
    "AssetAdded",
    "BalanceChanged",
    "DepositApplied",
    "Event",
    "FundingPaid",
    "FundingSettled",
    "IndexPriceSet",
    "MarketChanged",
    "OpenOrderLimitSet",
    "OrderAccepted",
    "OrderCanceled",
    "OrderEvent",
    "OrderFilled",
    "OrderRejected",
    "OrderReplaced",
    "PerpCommandRejected",
    "PerpEvent",
    "PositionChanged",
    "PositionLiquidated",
    "RegistryCommandRejected",
    "RegistryEvent",
    "TransferRejected",
    "TriggerCanceled",
    "TriggerFired",
    "TriggerLimitSet",
    "TriggerPlaced",
    "TriggerUpdated",
    "WithdrawalApplied",
]
