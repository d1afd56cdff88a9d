"""Order entry and matching: validate -> risk hold -> match -> release/rest -> publish.

The pipeline of :func:`place`: ``_admit`` (validation, duplicate client id, reduce-only
clamp, entry prices, FOK check) -> ``_hold`` (lock funds, OrderAccepted) -> :func:`match`
(fills) -> ``_run`` (rest the GTC remainder, or cancel it and release its hold). Events
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
* Post-only orders that would cross are rejected (POST_ONLY_WOULD_TAKE), never repriced.
* Reduce-only (perps): the quantity is *clamped* at entry to the position it can close
  (rejected with REDUCE_ONLY_WOULD_INCREASE if that is zero), and a reduce-only order
  never rests: its unfilled remainder is canceled (REDUCE_ONLY). Resting reduce-only
  orders are an extension for the liquidation/trigger work.
* Only GTC LIMIT orders rest; the book is never left crossed. Non-resting remainders are
  canceled with IOC_REMAINDER (limit IOC), SLIPPAGE_BOUND / MARKET_REMAINDER (market:
  bound reached / book exhausted), SELF_TRADE or REDUCE_ONLY.
* A client order id is unique among the user's *live* orders; it is free again once the
  order is final. Replace keeps id and client id.
"""

from __future__ import annotations

import copy

from engine_svc.core.book import Ladder, Order, OrderBook, PriceLevel
from engine_svc.core.commands import PlaceOrder, ReplaceOrder
from engine_svc.core.enums import (
    CancelReason,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
)
from engine_svc.core.ledger import FEE_ACCOUNT
from engine_svc.core.markets import MarketSpec
from engine_svc.core.risk import lock_asset, lock_per_lot, settle_perp, settle_spot
from engine_svc.core.state import State
from engine_svc.core.units import MAX_UNITS

MAX_CLIENT_ID = 64
# Enum members bound once: attribute access on an Enum class is slow in CPython 3.11.
_BUY = Side.BUY
_SELL = Side.SELL
_SIDE_NAME = {side: side.value for side in Side}
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_GTC = TimeInForce.GTC
_FOK = TimeInForce.FOK
_CANCEL_TAKER = StpMode.CANCEL_TAKER
_CANCEL_MAKER = StpMode.CANCEL_MAKER
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELED = OrderStatus.CANCELED


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
    is_market = cmd.type is _MARKET
    if not cmd.user_id or cmd.user_id == FEE_ACCOUNT:
        return RejectReason.INVALID_ORDER
    coid = cmd.client_order_id
    if coid is not None and not 0 < len(coid) <= MAX_CLIENT_ID:
        return RejectReason.INVALID_ORDER
    if is_market:
        if cmd.post_only:
            return RejectReason.INVALID_ORDER
        if not 0 <= cmd.slippage_bps < 10_000:
            return RejectReason.INVALID_SLIPPAGE
    elif cmd.price is None:
        return RejectReason.INVALID_PRICE
    if cmd.post_only and cmd.tif is not _GTC:
        return RejectReason.INVALID_ORDER
    if spec.is_perp:
        if not 1 <= cmd.leverage <= spec.max_leverage:
            return RejectReason.INVALID_LEVERAGE
    elif cmd.leverage != 1:
        return RejectReason.INVALID_LEVERAGE
    elif cmd.reduce_only:
        return RejectReason.INVALID_ORDER
    return check_size(spec, None if is_market else cmd.price, cmd.quantity)


def _entry_prices(
    spec: MarketSpec, book: OrderBook, cmd: PlaceOrder
) -> tuple[int, int] | RejectReason:
    """(limit price, lock price) for the order, or why it cannot enter."""
    best = book.opposite(cmd.side).best_price()
    if cmd.type is _MARKET:
        if best is None:
            return RejectReason.NO_LIQUIDITY
        slip = cmd.slippage_bps
        if cmd.side is _BUY:
            limit = best * (10_000 + slip) // 10_000
        else:
            limit = max(1, -(-best * (10_000 - slip) // 10_000))
        reason = check_size(spec, limit, cmd.quantity)
        if reason is not None:
            return reason
        return limit, (limit if cmd.side is _BUY else best)
    assert cmd.price is not None
    limit = cmd.price
    crosses = best is not None and (best <= limit if cmd.side is _BUY else best >= limit)
    if cmd.post_only and crosses:
        return RejectReason.POST_ONLY_WOULD_TAKE
    if cmd.side is _SELL and crosses and best is not None:
        return limit, best
    return limit, limit


def fillable(ladder: Ladder, side: Side, limit: int, qty: int, user: str, stp: StpMode) -> int:
    """Lots a taker could fill now within ``limit`` (same STP rule as :func:`match`)."""
    total = 0
    for level in ladder.iter_levels():
        if (level.price > limit) if side is _BUY else (level.price < limit):
            break
        for order in level.live():
            if order.user_id == user:
                if stp is _CANCEL_MAKER:
                    continue
                return total
            total += order.remaining
            if total >= qty:
                return total
    return total


def place(st: State, cmd: PlaceOrder) -> None:
    """Apply a PlaceOrder: admit -> risk hold -> match -> rest/cancel; all as events."""
    spec = st.config.markets.get(cmd.market)
    entry = _admit(st, spec, cmd) if spec is not None else RejectReason.UNKNOWN_MARKET
    if not isinstance(entry, tuple):
        return reject(st, cmd.user_id, cmd.market, entry, 0, cmd.client_order_id)
    assert spec is not None
    order = _hold(st, spec, cmd, *entry)
    if order is not None:
        _run(st, spec, st.books[cmd.market], order, order.price)
    return None


def _admit(st: State, spec: MarketSpec, cmd: PlaceOrder
           ) -> tuple[int, int, int] | RejectReason:
    """Validation stage: (quantity, limit price, lock price) or why not."""
    user = cmd.user_id
    reason = _validate(spec, cmd)
    if reason is None and cmd.client_order_id is not None and \
            (user, cmd.client_order_id) in st.client_ids:
        reason = RejectReason.DUPLICATE_CLIENT_ORDER_ID
    qty = cmd.quantity
    if reason is None and cmd.reduce_only:
        qty = min(qty, st.ledger.reducible(user, cmd.market, cmd.side))
        if qty == 0:
            reason = RejectReason.REDUCE_ONLY_WOULD_INCREASE
    if reason is not None:
        return reason
    book = st.books[cmd.market]
    prices = _entry_prices(spec, book, cmd)
    if not isinstance(prices, tuple):
        return prices
    limit, lock_price = prices
    if cmd.tif is _FOK and fillable(
        book.opposite(cmd.side), cmd.side, limit, qty, user, cmd.stp
    ) < qty:
        return RejectReason.FOK_NOT_FILLABLE
    return qty, limit, lock_price


def _hold(st: State, spec: MarketSpec, cmd: PlaceOrder, qty: int, limit: int,
          lock_price: int) -> Order | None:
    """Risk stage: lock what the order could spend and accept it, or reject."""
    user = cmd.user_id
    per_lot = lock_per_lot(spec, cmd.side, lock_price, cmd.leverage, cmd.reduce_only)
    asset = lock_asset(spec, cmd.side)
    need = qty * per_lot
    pair = st.ledger.balances.get(user, {}).get(asset)
    if pair is None or pair[0] < need:
        reason = RejectReason.INSUFFICIENT_MARGIN if spec.is_perp else \
            RejectReason.INSUFFICIENT_BALANCE
        reject(st, user, cmd.market, reason, 0, cmd.client_order_id)
        return None
    order = Order(
        st.next_order_id, user, cmd.market, cmd.side, cmd.type, limit, qty, cmd.tif, cmd.ts,
        cmd.client_order_id, cmd.post_only, cmd.reduce_only, cmd.stp, cmd.leverage,
    )
    st.next_order_id += 1
    order.lock_per_lot, order.locked = per_lot, need
    st.ledger.touched_balances[user, asset] = None
    pair[0] -= need
    pair[1] += need
    st.event_seq += 1
    st.out.append(OrderAccepted(
        st.event_seq, st.last_seq, order.id, user, cmd.market, cmd.side, cmd.type, limit, qty,
        cmd.tif, cmd.client_order_id, cmd.ts,
    ))
    return order


def _run(st: State, spec: MarketSpec, book: OrderBook, order: Order, limit: int) -> None:
    """Match ``order`` as a taker, then rest or cancel what is left."""
    stopped = match(st, spec, book, order, limit)
    if order.remaining == 0:
        st.finish(order, _FILLED)
    elif stopped is None and order.type is _LIMIT and order.tif is _GTC \
            and not order.reduce_only:
        _rest(st, spec, order)
    else:
        if stopped is None:
            stopped = _remainder_reason(book, order, limit)
        cancel(st, spec, order, stopped)


def _remainder_reason(book: OrderBook, order: Order, limit: int) -> CancelReason:
    if order.reduce_only:
        return CancelReason.REDUCE_ONLY
    if order.type is _LIMIT:
        return CancelReason.IOC_REMAINDER
    if book.opposite(order.side).best_price() is not None:
        return CancelReason.SLIPPAGE_BOUND
    return CancelReason.MARKET_REMAINDER


def _rest(st: State, spec: MarketSpec, order: Order) -> None:
    """Rest a GTC remainder, lowering a perp SELL's hold to its limit price."""
    if spec.is_perp and order.side is _SELL:
        per_lot = lock_per_lot(spec, _SELL, order.price, order.leverage, False)
        excess = order.locked - order.remaining * per_lot
        if excess:
            st.ledger.unlock(order.user_id, spec.quote.symbol, excess)
            order.locked -= excess
        order.lock_per_lot = per_lot
    st.rest(order)


def cancel(st: State, spec: MarketSpec, order: Order, reason: CancelReason) -> None:
    """Cancel an order's remainder and release its hold."""
    remaining = order.remaining
    if order.locked:
        st.ledger.unlock(order.user_id, lock_asset(spec, order.side), order.locked)
        order.locked = 0
    st.finish(order, _CANCELED)
    st.event_seq += 1
    st.out.append(OrderCanceled(
        st.event_seq, st.last_seq, order.id, order.user_id, order.market, remaining, reason
    ))


def match(st: State, spec: MarketSpec, book: OrderBook, taker: Order, limit: int
          ) -> CancelReason | None:
    """Fill ``taker`` against the book; returns SELF_TRADE if STP stopped it."""
    ladder = book.opposite(taker.side)
    is_buy = taker.side is _BUY
    while taker.remaining:
        level = ladder.top
        if level is None or ((level.price > limit) if is_buy else (level.price < limit)):
            return None
        maker = level.orders[0]
        if not maker.resting:
            maker = level.head()
        if maker.user_id == taker.user_id:
            if taker.stp is not _CANCEL_TAKER:
                cancel(st, spec, maker, CancelReason.SELF_TRADE)
            if taker.stp is not _CANCEL_MAKER:
                return CancelReason.SELF_TRADE
            continue
        _fill(st, spec, level, taker, maker)
    return None


def _fill(st: State, spec: MarketSpec, level: PriceLevel, taker: Order, maker: Order) -> None:
    """One trade at the maker's price: settle both sides, publish, update the book."""
    qty = taker.remaining if taker.remaining < maker.remaining else maker.remaining
    price = level.price
    settle = settle_perp if spec.is_perp else settle_spot
    maker_fee = settle(st.ledger, spec, maker, price, qty, spec.maker_fee_bps)
    taker_fee = settle(st.ledger, spec, taker, price, qty, spec.taker_fee_bps)
    maker.remaining -= qty
    maker.filled += qty
    level.total -= qty
    taker.remaining -= qty
    taker.filled += qty
    fill_id = st.next_fill_id
    st.next_fill_id = fill_id + 1
    st.event_seq += 1
    st.out.append(OrderFilled(
        st.event_seq, st.last_seq, fill_id, spec.symbol, price, qty, taker.side, taker.id,
        taker.user_id, taker_fee, taker.remaining, maker.id, maker.user_id, maker_fee,
        maker.remaining, taker.ts,
    ))
    stats = st.stats[spec.symbol]
    stats.last_price = price
    stats.volume += qty
    stats.trades.append((fill_id, price, qty, _SIDE_NAME[taker.side], taker.ts))
    if maker.remaining == 0:
        st.finish(maker, _FILLED)
    elif maker.status is _NEW:
        maker.set_status(_PARTIAL)
    if taker.remaining and taker.status is _NEW:
        taker.set_status(_PARTIAL)


def replace(st: State, spec: MarketSpec, order: Order, cmd: ReplaceOrder) -> None:
    """Replace a resting order (already looked up and owned by ``cmd.user_id``)."""
    price = order.price if cmd.price is None else cmd.price
    qty = order.remaining if cmd.quantity is None else cmd.quantity
    reason = check_size(spec, price, qty)
    if reason is not None:
        return reject(st, order.user_id, order.market, reason, order.id)
    if price == order.price and qty <= order.remaining:
        released = (order.remaining - qty) * order.lock_per_lot
        if released:
            st.ledger.unlock(order.user_id, lock_asset(spec, order.side), released)
            order.locked -= released
        order.quantity -= order.remaining - qty
        st.books[order.market].shrink(order, qty)
        st.out.append(OrderReplaced(
            st.seq(), st.last_seq, order.id, order.user_id, order.market, price, qty, True
        ))
        return None
    return _reenter(st, spec, order, price, qty, cmd.ts)


def _reenter(st: State, spec: MarketSpec, order: Order, price: int, qty: int, ts: int) -> None:
    book = st.books[order.market]
    side, user = order.side, order.user_id
    best = book.opposite(side).best_price()
    crosses = best is not None and (best <= price if side is _BUY else best >= price)
    if order.post_only and crosses:
        return reject(st, user, order.market, RejectReason.POST_ONLY_WOULD_TAKE, order.id)
    lock_price = best if side is _SELL and crosses and best is not None else price
    per_lot = lock_per_lot(spec, side, lock_price, order.leverage, order.reduce_only)
    asset = lock_asset(spec, side)
    if st.ledger.available(user, asset) + order.locked < qty * per_lot:
        reason = RejectReason.INSUFFICIENT_MARGIN if spec.is_perp else \
            RejectReason.INSUFFICIENT_BALANCE
        return reject(st, user, order.market, reason, order.id)
    book.remove(order)
    del st.live[order.id]
    # The level may still hold the old object lazily: re-enter as a fresh object.
    order = copy.copy(order)
    if order.client_order_id is not None:
        st.client_ids[user, order.client_order_id] = order
    st.ledger.unlock(user, asset, order.locked - qty * per_lot)
    order.locked, order.lock_per_lot = qty * per_lot, per_lot
    order.price, order.remaining, order.quantity, order.ts = price, qty, order.filled + qty, ts
    st.out.append(OrderReplaced(
        st.seq(), st.last_seq, order.id, user, order.market, price, qty, False
    ))
    return _run(st, spec, book, order, price)
