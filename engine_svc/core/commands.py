"""Commands: the verbs the engine applies, in integer units.

Every command is a slotted dataclass, immutable by contract (nothing changes a command once
it is built); ``Command`` is their union. The two built on every order's path,
:class:`PlaceOrder` and :class:`CancelOrder`, write their ``__init__`` out (``init=False``,
as the events do): a dataclass-generated one is interpreted code even in the compiled
build, and a frozen one sets each field through ``object.__setattr__`` (3.9 µs for a
PlaceOrder; 1.2 µs written out and compiled). The rest are ``frozen``. Prices are in
ticks, quantities in lots, amounts in minor units (see :mod:`engine_svc.core.markets`).
``ts`` (milliseconds) is given by the caller: the core never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from engine_svc.core.enums import (
    MarginMode,
    MarketKind,
    OrderType,
    Side,
    StpMode,
    TimeInForce,
    TriggerKind,
)

DEFAULT_SLIPPAGE_BPS: Final = 100


@dataclass(slots=True, kw_only=True, init=False)
class PlaceOrder:
    """Place an order. ``price`` is required for LIMIT and ignored for MARKET.

    MARKET orders never rest (GTC behaves as IOC) and stop at ``slippage_bps`` away from
    the best opposite price at entry. ``leverage`` matters on perps only.

    ``stop_loss`` / ``take_profit`` (perps, trigger prices in ticks) attach triggers to
    the order: they close what the order opens, arming with each of its fills, now or
    later (see :mod:`engine_svc.core.triggers`).

    ``margin_mode`` ISOLATED (perps) opens an isolated position of the order's own;
    ``position_id`` names one of the user's isolated positions to reduce instead (the
    order is then reduce-only on it): see :mod:`engine_svc.core.isolated`.
    """

    user_id: str
    market: str
    side: Side
    quantity: int
    type: OrderType = OrderType.LIMIT
    price: int | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    client_order_id: str | None = None
    stp: StpMode = StpMode.CANCEL_TAKER
    leverage: int = 1
    slippage_bps: int = DEFAULT_SLIPPAGE_BPS
    ts: int = 0
    stop_loss: int | None = None
    take_profit: int | None = None
    margin_mode: MarginMode = MarginMode.CROSS
    position_id: int = 0

    def __init__(
        self, *, user_id: str, market: str, side: Side, quantity: int,
        type: OrderType = OrderType.LIMIT, price: int | None = None,
        tif: TimeInForce = TimeInForce.GTC, post_only: bool = False,
        reduce_only: bool = False, client_order_id: str | None = None,
        stp: StpMode = StpMode.CANCEL_TAKER, leverage: int = 1,
        slippage_bps: int = DEFAULT_SLIPPAGE_BPS, ts: int = 0, stop_loss: int | None = None,
        take_profit: int | None = None, margin_mode: MarginMode = MarginMode.CROSS,
        position_id: int = 0,
    ) -> None:
        self.user_id = user_id
        self.market = market
        self.side = side
        self.quantity = quantity
        self.type = type
        self.price = price
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.client_order_id = client_order_id
        self.stp = stp
        self.leverage = leverage
        self.slippage_bps = slippage_bps
        self.ts = ts
        self.stop_loss = stop_loss
        self.take_profit = take_profit
        self.margin_mode = margin_mode
        self.position_id = position_id


@dataclass(slots=True, kw_only=True, init=False)
class CancelOrder:
    user_id: str
    order_id: int
    ts: int = 0

    def __init__(self, *, user_id: str, order_id: int, ts: int = 0) -> None:
        self.user_id = user_id
        self.order_id = order_id
        self.ts = ts


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelByClientId:
    user_id: str
    client_order_id: str
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelAll:
    user_id: str
    market: str | None = None
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceOrder:
    """Change a resting order's price and/or open quantity (``None`` keeps it).

    ``quantity`` is the new *open* quantity. Time priority is kept only when the price
    is unchanged and the quantity shrinks; otherwise the order re-enters as a taker
    with the same id and may match. A quantity below the market minimum is rejected
    (INVALID_QUANTITY): cancel with :class:`CancelOrder`. On any rejection the original
    order is left untouched.
    """

    user_id: str
    order_id: int
    price: int | None = None
    quantity: int | None = None
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Deposit:
    user_id: str
    asset: str
    amount: int
    tx_id: str
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdraw:
    user_id: str
    asset: str
    amount: int
    tx_id: str | None = None
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SetIndexPrice:
    """Oracle tick: set a perp market's index price (ticks), re-mark it, liquidate.

    The mark price is sampled here and only here (see :mod:`engine_svc.core.perp`), so
    every liquidation happens inside this command (or :class:`SettleFunding`), never
    inside an order.
    """

    market: str
    price: int
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SettleFunding:
    """Funding tick: longs pay shorts (or the reverse) at the clamped premium rate.

    See :mod:`engine_svc.core.funding` for the formula and rounding.
    """

    market: str
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceTrigger:
    """Arm a trigger in perp ``market``, fired on the mark (:mod:`engine_svc.core.triggers`).

    STOP_LOSS / TAKE_PROFIT: on the user's position; ``side`` is the closing side (SELL
    for a long); a reduce-only MARKET order of ``quantity`` lots (None: the whole position
    then) is placed, once. STOP_MARKET / STOP_LIMIT: a standalone conditional order of
    ``quantity`` lots (required) on ``side``, placed as a MARKET order (``slippage_bps``)
    or a GTC LIMIT order at ``limit_price`` with ``leverage`` and ``reduce_only``.
    """

    user_id: str
    market: str
    side: Side
    kind: TriggerKind
    trigger_price: int
    quantity: int | None = None
    slippage_bps: int = DEFAULT_SLIPPAGE_BPS
    ts: int = 0
    limit_price: int | None = None
    leverage: int = 1
    reduce_only: bool = False
    position_id: int = 0
    """STOP_LOSS / TAKE_PROFIT: the user's isolated position to close (0: cross)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveTrigger:
    """Move an armed trigger's ``trigger_price`` and/or ``limit_price`` (None keeps it)."""

    user_id: str
    trigger_id: int
    trigger_price: int | None = None
    limit_price: int | None = None
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTrigger:
    user_id: str
    trigger_id: int
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTriggerLimit:
    """Engine configuration: the most armed triggers one user may have (all markets).

    Journaled and kept in snapshots like :class:`SetOpenOrderLimit`. Arming past it is
    refused with TOO_MANY_TRIGGERS (an order's stop-loss / take-profit count when it is
    placed); triggers already armed stay. A ``limit`` below 1 changes nothing.
    """

    limit: int
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SetOpenOrderLimit:
    """Engine configuration: the most live orders one user may have in one market.

    Journaled like any command (so a replay refuses exactly what the live engine refused)
    and kept in snapshots. A GTC limit order (the only kind that rests) is refused with
    TOO_MANY_OPEN_ORDERS when its user already has ``limit`` live orders in its market;
    orders already resting stay. A ``limit`` below 1 changes nothing.
    """

    limit: int
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AddAsset:
    """Registry: a new asset with ``decimals`` decimal places (its minor unit)."""

    symbol: str
    decimals: int
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AddMarket:
    """Registry: a new market that trades at once. Decimals are exact decimal strings
    (``min_quantity`` empty: one lot). Validated by :mod:`engine_svc.core.registry`."""

    symbol: str
    kind: MarketKind
    base_asset: str
    quote_asset: str
    tick_size: str
    lot_size: str
    min_quantity: str = ""
    max_leverage: int = 1
    maker_fee_bps: int = 0
    taker_fee_bps: int = 0
    maintenance_margin_rate: str = "0"
    ts: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateMarket:
    """Registry: change a market's status, fees or leverage cap (``None`` / ``""`` keeps
    it). ``status`` is a :class:`MarketStatus` value as text: the compiled build keeps no
    optional-enum annotation for the journal codec to rebuild the member from."""

    market: str
    status: str = ""
    maker_fee_bps: int | None = None
    taker_fee_bps: int | None = None
    max_leverage: int | None = None
    ts: int = 0


OrderCommand = PlaceOrder | CancelOrder | CancelByClientId | CancelAll | ReplaceOrder
TransferCommand = Deposit | Withdraw
PerpCommand = SetIndexPrice | SettleFunding | PlaceTrigger | CancelTrigger | MoveTrigger
RegistryCommand = AddAsset | AddMarket | UpdateMarket
Command = (OrderCommand | TransferCommand | PerpCommand | SetOpenOrderLimit | SetTriggerLimit
           | RegistryCommand)
