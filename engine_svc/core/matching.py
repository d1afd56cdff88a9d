"""Order entry and matching: validate -> risk hold -> match -> release/rest -> publish.

The pipeline of :func:`place`: ``_admit`` (validation, duplicate client id, reduce-only
clamp, entry prices, FOK check) -> ``_hold`` (lock funds, OrderAccepted) -> :func:`match`
(fills) -> :func:`run` (rest the GTC remainder, or cancel it and release its hold). Events
are appended to ``State.out``; balance/position events are added by the engine after.

Invariants and rules:

* Price-time priority: the taker walks the opposite ladder best price first and each
  level in arrival order; every fill is at the maker's price.
* Self-trade prevention, decided by the taker's mode: CANCEL_TAKER stops and cancels the
  taker's remainder; CANCEL_MAKER cancels the own resting order and continues;
  CANCEL_BOTH does both.
* MARKET orders never rest; they are bounded at ``slippage_bps`` from the best opposite
  price at entry (BUY: floor(best_ask*(1+s)), SELL: ceil(best_bid*(1-s))); the remainder
  beyond the bound is canceled (SLIPPAGE_BOUND). An empty opposite side rejects them
  (NO_LIQUIDITY).
* FOK is checked before anything moves, with the same STP rule as matching.
* Perp risk hold under cross margin: once any market has a mark, a perp order (not
  reduce-only) needs ``available + min(unrealised PnL, 0) >= hold`` (see :mod:`perp`).
* Isolated positions (:mod:`isolated`): ``margin_mode`` ISOLATED on a perp opens one
  (position id = order id); ``position_id`` makes the order reduce-only on that position
  of the caller in that market (POSITION_NOT_FOUND otherwise); spot, or ISOLATED with
  reduce-only and no position, is INVALID_MARGIN_MODE.
* Post-only orders that would cross are rejected (POST_ONLY_WOULD_TAKE), never repriced.
* Reduce-only (perps): the quantity is *clamped* at entry to the position it can close
  (rejected with REDUCE_ONLY_WOULD_INCREASE if that is zero), and a reduce-only order
  never rests: its unfilled remainder is canceled (REDUCE_ONLY). Resting reduce-only
  orders are an extension for the liquidation/trigger work.
* Only GTC LIMIT orders rest; the book is never left crossed. Non-resting remainders are
  canceled with IOC_REMAINDER (limit IOC), SLIPPAGE_BOUND / MARKET_REMAINDER (market:
  bound reached / book exhausted), SELF_TRADE or REDUCE_ONLY.
* Market status (:func:`registry.entry_refusal`): a HALTED market takes no order
  (MARKET_HALTED); a CLOSE_ONLY one only reduce-only perp orders (MARKET_CLOSE_ONLY).
* An order's ``stop_loss`` / ``take_profit`` are checked at admission and armed once it
  is accepted, before it matches (:mod:`trigger_rules`).
* A client order id is unique among the user's *live* orders; it is free again once the
  order is final. Replace keeps id and client id.
"""

from __future__ import annotations

from typing import Final

from engine_svc.core import isolated
from engine_svc.core.book import Ladder, Order, OrderBook, PriceLevel
from engine_svc.core.commands import PlaceOrder
from engine_svc.core.enums import (
    CancelReason,
    MarginMode,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.events import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected
from engine_svc.core.ledger import is_house
from engine_svc.core.markets import MarketSpec
from engine_svc.core.perp import unrealized_loss
from engine_svc.core.registry import entry_refusal
from engine_svc.core.risk import lock_asset, lock_per_lot, settle_perp, settle_spot
from engine_svc.core.state import State
from engine_svc.core.trigger_rules import attach, attach_reason
from engine_svc.core.units import MAX_UNITS, ceil_div

MAX_CLIENT_ID: Final = 64


def reject(st: State, user: str, market: str, reason: RejectReason,
           order_id: int = 0, client_order_id: str | None = None) -> None:
    st.out.append(
        OrderRejected(st.seq(), st.last_seq, user, market, order_id, client_order_id, reason)
    )


def check_size(spec: MarketSpec, price: int | None, qty: int) -> RejectReason | None:
    """Grid/range checks for a (price, quantity) pair; ``price`` None skips price."""
    if not 0 < qty < MAX_UNITS or qty < spec.min_lots:
        return RejectReason.INVALID_QUANTITY
    if price is not None:
        if not 0 < price < MAX_UNITS:
            return RejectReason.INVALID_PRICE
        if price * qty * spec.notional_unit >= MAX_UNITS:
            return RejectReason.INVALID_QUANTITY
    return None


def _validate(spec: MarketSpec, cmd: PlaceOrder) -> RejectReason | None:
    user = cmd.user_id
    if not user or is_house(user):
        return RejectReason.INVALID_ORDER
    coid = cmd.client_order_id
    if coid is not None and not 0 < len(coid) <= MAX_CLIENT_ID:
        return RejectReason.INVALID_ORDER
    post_only = cmd.post_only
    price = cmd.price
    if cmd.type is OrderType.MARKET:
        if post_only:
            return RejectReason.INVALID_ORDER
        if not 0 <= cmd.slippage_bps < 10_000:
            return RejectReason.INVALID_SLIPPAGE
        price = None
    elif price is None:
        return RejectReason.INVALID_PRICE
    if post_only and cmd.tif is not TimeInForce.GTC:
        return RejectReason.INVALID_ORDER
    if spec.is_perp:
        if not 1 <= cmd.leverage <= spec.max_leverage:
            return RejectReason.INVALID_LEVERAGE
    elif cmd.leverage != 1:
        return RejectReason.INVALID_LEVERAGE
    elif cmd.reduce_only:
        return RejectReason.INVALID_ORDER
    return check_size(spec, price, cmd.quantity)


def _isolated_reason(spec: MarketSpec, cmd: PlaceOrder) -> RejectReason | None:
    """An isolated order: perps only; opening (ISOLATED, not reduce-only) or naming a
    position to reduce (``position_id`` > 0)."""
    if not spec.is_perp or (cmd.reduce_only and not cmd.position_id):
        return RejectReason.INVALID_MARGIN_MODE
    if cmd.position_id < 0:
        return RejectReason.POSITION_NOT_FOUND
    return None


def reduces(cmd: PlaceOrder) -> bool:
    """Reduce-only, by flag or by naming an isolated position."""
    return cmd.reduce_only or cmd.position_id != 0


def _entry_prices(
    spec: MarketSpec, book: OrderBook, cmd: PlaceOrder
) -> tuple[int, int, RejectReason | None]:
    """(limit price, lock price, None) for the order, or (0, 0, why it cannot enter).

    A fixed-length tuple, not a union with the reason: mypyc returns it as a C struct
    (no tuple object, no boxed ints)."""
    is_buy = cmd.side is Side.BUY
    top = (book.asks if is_buy else book.bids).top
    if cmd.type is OrderType.MARKET:
        if top is None:
            return 0, 0, RejectReason.NO_LIQUIDITY
        best, slip = top.price, cmd.slippage_bps
        if is_buy:
            limit = best * (10_000 + slip) // 10_000
        else:
            limit = max(1, ceil_div(best * (10_000 - slip), 10_000))
        reason = check_size(spec, limit, cmd.quantity)
        if reason is not None:
            return 0, 0, reason
        return limit, (limit if is_buy else best), None
    price = cmd.price
    assert price is not None
    if top is None:
        return price, price, None
    best = top.price
    crosses = best <= price if is_buy else best >= price
    if crosses and cmd.post_only:
        return 0, 0, RejectReason.POST_ONLY_WOULD_TAKE
    if crosses and not is_buy:
        return price, best, None
    return price, price, None


def fillable(ladder: Ladder, side: Side, limit: int, qty: int, user: str, stp: StpMode) -> int:
    """Lots a taker could fill now within ``limit`` (same STP rule as :func:`match`)."""
    total = 0
    for level in ladder.iter_levels():
        if (level.price > limit) if side is Side.BUY else (level.price < limit):
            break
        for order in level.live():
            if order.user_id == user:
                if stp is StpMode.CANCEL_MAKER:
                    continue
                return total
            total += order.remaining
            if total >= qty:
                return total
    return total


def place(st: State, cmd: PlaceOrder) -> None:
    """Apply a PlaceOrder: admit -> risk hold -> match -> rest/cancel; all as events."""
    spec = st.markets.get(cmd.market)
    if spec is None:
        return reject(st, cmd.user_id, cmd.market, RejectReason.UNKNOWN_MARKET, 0,
                      cmd.client_order_id)
    book = st.books[cmd.market]
    qty, limit, lock_price, reason = _admit(st, spec, book, cmd)
    if reason is not None:
        return reject(st, cmd.user_id, cmd.market, reason, 0, cmd.client_order_id)
    order = _hold(st, spec, cmd, qty, limit, lock_price)
    if order is not None:
        if cmd.stop_loss is not None or cmd.take_profit is not None:
            attach(st, cmd, order)
        run(st, spec, book, order, order.price)
    return None


def _admit(st: State, spec: MarketSpec, book: OrderBook, cmd: PlaceOrder
           ) -> tuple[int, int, int, RejectReason | None]:
    """Validation stage: (quantity, limit price, lock price, None) or (0, 0, 0, why not)
    (a fixed-length tuple: a C struct under mypyc, see :func:`_entry_prices`)."""
    user = cmd.user_id
    reason = _validate(spec, cmd)
    if reason is None and (cmd.position_id or cmd.margin_mode is not MarginMode.CROSS):
        reason = _isolated_reason(spec, cmd)
    reduce_only = reduces(cmd)
    if reason is None:
        reason = entry_refusal(spec, reduce_only)
    if reason is None and cmd.position_id and isolated.find(
            st, user, cmd.market, cmd.position_id) is None:
        reason = RejectReason.POSITION_NOT_FOUND
    if reason is not None:
        return 0, 0, 0, reason
    if cmd.stop_loss is not None or cmd.take_profit is not None:
        reason = attach_reason(st, spec, cmd)
        if reason is not None:
            return 0, 0, 0, reason
    if cmd.client_order_id is not None and (user, cmd.client_order_id) in st.client_ids:
        return 0, 0, 0, RejectReason.DUPLICATE_CLIENT_ORDER_ID
    qty = cmd.quantity
    if reduce_only:
        qty = min(qty, isolated.reducible(st, user, cmd.market, cmd.side, cmd.position_id))
        if qty == 0:
            return 0, 0, 0, RejectReason.REDUCE_ONLY_WOULD_INCREASE
    limit, lock_price, reason = _entry_prices(spec, book, cmd)
    if reason is not None:
        return 0, 0, 0, reason
    if cmd.tif is TimeInForce.FOK and fillable(
        book.opposite(cmd.side), cmd.side, limit, qty, user, cmd.stp
    ) < qty:
        return 0, 0, 0, RejectReason.FOK_NOT_FILLABLE
    return qty, limit, lock_price, None


def _hold(st: State, spec: MarketSpec, cmd: PlaceOrder, qty: int, limit: int,
          lock_price: int) -> Order | None:
    """Risk stage: lock what the order could spend and accept it, or reject."""
    user, side = cmd.user_id, cmd.side
    reduce_only = reduces(cmd)
    if cmd.type is OrderType.LIMIT and cmd.tif is TimeInForce.GTC and not reduce_only \
            and st.at_open_order_limit(user, cmd.market):
        reject(st, user, cmd.market, RejectReason.TOO_MANY_OPEN_ORDERS, 0, cmd.client_order_id)
        return None
    if not cmd.position_id and cmd.margin_mode is MarginMode.ISOLATED \
            and st.at_isolated_limit(user):
        reject(st, user, cmd.market, RejectReason.TOO_MANY_POSITIONS, 0, cmd.client_order_id)
        return None
    per_lot = lock_per_lot(spec, side, lock_price, cmd.leverage, reduce_only)
    asset = lock_asset(spec, side)
    need = qty * per_lot
    bal = st.ledger.find(user, asset)
    if bal is None or bal.available < need or (
            st.marked and spec.is_perp and not reduce_only
            and bal.available + unrealized_loss(st, user) < need):
        reason = RejectReason.INSUFFICIENT_MARGIN if spec.is_perp else \
            RejectReason.INSUFFICIENT_BALANCE
        reject(st, user, cmd.market, reason, 0, cmd.client_order_id)
        return None
    oid = st.new_order_id()
    order = Order(oid, user, cmd.market, side, cmd.type, limit, qty, cmd.tif, cmd.ts,
                  cmd.client_order_id, cmd.post_only, reduce_only, cmd.stp, cmd.leverage)
    order.lock_per_lot, order.locked, order.pair = per_lot, need, bal
    pid = cmd.position_id
    if not pid and cmd.margin_mode is MarginMode.ISOLATED:
        pid = oid
    order.position_id = pid
    st.ledger.lock(bal, need)
    slippage = cmd.slippage_bps if cmd.type is OrderType.MARKET else 0
    st.out.append(OrderAccepted(st.seq(), st.last_seq, oid, user, cmd.market, side, cmd.type,
                                limit, qty, cmd.tif, cmd.client_order_id, cmd.ts, pid,
                                cmd.post_only, reduce_only, cmd.leverage, cmd.stp, slippage,
                                cmd.stop_loss, cmd.take_profit))
    return order


def run(st: State, spec: MarketSpec, book: OrderBook, order: Order, limit: int) -> None:
    """Match ``order`` as a taker, then rest or cancel what is left."""
    stopped = match(st, spec, book, order, limit)
    if order.remaining == 0:
        st.finish(order, OrderStatus.FILLED)
    elif stopped is None and order.type is OrderType.LIMIT and order.tif is TimeInForce.GTC \
            and not order.reduce_only:
        _rest(st, spec, book, order)
    else:
        if stopped is None:
            stopped = _remainder_reason(book, order)
        cancel(st, order, stopped)


def _remainder_reason(book: OrderBook, order: Order) -> CancelReason:
    if order.reduce_only:
        return CancelReason.REDUCE_ONLY
    if order.type is OrderType.LIMIT:
        return CancelReason.IOC_REMAINDER
    if book.opposite(order.side).top is not None:
        return CancelReason.SLIPPAGE_BOUND
    return CancelReason.MARKET_REMAINDER


def _rest(st: State, spec: MarketSpec, book: OrderBook, order: Order) -> None:
    """Rest a GTC remainder, lowering a perp SELL's hold to its limit price."""
    if spec.is_perp and order.side is Side.SELL:
        per_lot = lock_per_lot(spec, Side.SELL, order.price, order.leverage, False)
        excess = order.locked - order.remaining * per_lot
        if excess:
            assert order.pair is not None
            st.ledger.unlock(order.pair, excess)
            order.locked -= excess
        order.lock_per_lot = per_lot
    st.rest(order)


def cancel(st: State, order: Order, reason: CancelReason) -> None:
    """Cancel an order's remainder and release its hold."""
    remaining = order.remaining
    locked = order.locked
    if locked:
        assert order.pair is not None
        st.ledger.unlock(order.pair, locked)
        order.locked = 0
    st.finish(order, OrderStatus.CANCELED)
    st.out.append(OrderCanceled(
        st.seq(), st.last_seq, order.id, order.user_id, order.market, remaining, reason
    ))


def match(st: State, spec: MarketSpec, book: OrderBook, taker: Order, limit: int
          ) -> CancelReason | None:
    """Fill ``taker`` against the book; returns SELF_TRADE if STP stopped it."""
    is_buy = taker.side is Side.BUY
    ladder = book.asks if is_buy else book.bids
    user = taker.user_id
    while taker.remaining:
        level = ladder.top
        if level is None or ((level.price > limit) if is_buy else (level.price < limit)):
            return None
        maker = level.head()
        if maker.user_id == user:
            if taker.stp is not StpMode.CANCEL_TAKER:
                cancel(st, maker, CancelReason.SELF_TRADE)
            if taker.stp is not StpMode.CANCEL_MAKER:
                return CancelReason.SELF_TRADE
            continue
        _fill(st, spec, level, taker, maker)
    return None


def _fill(st: State, spec: MarketSpec, level: PriceLevel, taker: Order, maker: Order) -> None:
    """One trade at the maker's price: settle both sides, publish, update the book."""
    qty = min(taker.remaining, maker.remaining)
    price = level.price
    fees = st.fee_balance(spec.quote.symbol)
    if spec.is_perp:
        maker_fee, maker_pnl = settle_perp(st.ledger, spec, maker, price, qty,
                                           spec.maker_fee_bps, fees)
        taker_fee, taker_pnl = settle_perp(st.ledger, spec, taker, price, qty,
                                           spec.taker_fee_bps, fees)
    else:
        maker_fee = settle_spot(st.ledger, spec, maker, price, qty, spec.maker_fee_bps, fees)
        taker_fee = settle_spot(st.ledger, spec, taker, price, qty, spec.taker_fee_bps, fees)
        maker_pnl = taker_pnl = 0
    maker.remaining -= qty
    maker.filled += qty
    level.total -= qty
    taker.remaining -= qty
    taker.filled += qty
    fill_id = st.next_fill_id
    st.next_fill_id += 1
    st.out.append(OrderFilled(
        st.seq(), st.last_seq, fill_id, spec.symbol, price, qty, taker.side, taker.id,
        taker.user_id, taker_fee, taker.remaining, maker.id, maker.user_id, maker_fee,
        maker.remaining, taker.ts, taker_pnl, maker_pnl,
    ))
    st.stats[spec.symbol].record_trade(fill_id, price, qty, taker.side, taker.ts)
    # NEW -> PARTIALLY_FILLED is an edge of the lifecycle table: assigned directly.
    if maker.remaining == 0:
        st.finish(maker, OrderStatus.FILLED)
    elif maker.status is OrderStatus.NEW:
        maker.status = OrderStatus.PARTIALLY_FILLED
    if taker.remaining and taker.status is OrderStatus.NEW:
        taker.status = OrderStatus.PARTIALLY_FILLED
