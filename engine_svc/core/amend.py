"""Replace (amend) of a resting order: shrink in place, or re-enter as a taker.

Rules (see :class:`commands.ReplaceOrder`):

* Same price and a quantity not above the open one: the order keeps its place in the
  queue, the released part of its hold is unlocked (``priority_kept=True``).
* Anything else re-enters: the order leaves the book and comes back as a taker with
  the same id and client id at the new price/quantity, after the same post-only and
  hold checks as a new order; on any rejection the original order is left untouched.
* In a market that is not OPEN only the first kind is allowed (re-entering is refused with
  MARKET_HALTED / MARKET_CLOSE_ONLY, as a new order would be).
"""

from __future__ import annotations

from engine_svc.core.book import Order
from engine_svc.core.commands import ReplaceOrder
from engine_svc.core.enums import RejectReason, Side
from engine_svc.core.events import OrderReplaced
from engine_svc.core.markets import MarketSpec
from engine_svc.core.matching import check_size, reject, run
from engine_svc.core.perp import unrealized_loss
from engine_svc.core.registry import entry_refusal
from engine_svc.core.risk import lock_per_lot
from engine_svc.core.state import State


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
            assert order.pair is not None
            st.ledger.unlock(order.pair, released)
            order.locked -= released
        order.quantity -= order.remaining - qty
        st.books[order.market].shrink(order, qty)
        st.out.append(OrderReplaced(
            st.seq(), st.last_seq, order.id, order.user_id, order.market, price, qty, True
        ))
        return None
    refusal = entry_refusal(spec, order.reduce_only)
    if refusal is not None:
        return reject(st, order.user_id, order.market, refusal, order.id)
    return _reenter(st, spec, order, price, qty, cmd.ts)


def _reenter(st: State, spec: MarketSpec, order: Order, price: int, qty: int, ts: int) -> None:
    book = st.books[order.market]
    side, user, held = order.side, order.user_id, order.pair
    assert held is not None
    best = book.opposite(side).best_price()
    crosses = best is not None and (best <= price if side is Side.BUY else best >= price)
    if order.post_only and crosses:
        return reject(st, user, order.market, RejectReason.POST_ONLY_WOULD_TAKE, order.id)
    lock_price = best if side is Side.SELL and crosses and best is not None else price
    per_lot = lock_per_lot(spec, side, lock_price, order.leverage, order.reduce_only)
    free = held.available + order.locked
    if st.marked and spec.is_perp and not order.reduce_only:
        free += unrealized_loss(st, user)
    if free < qty * per_lot:
        reason = RejectReason.INSUFFICIENT_MARGIN if spec.is_perp else \
            RejectReason.INSUFFICIENT_BALANCE
        return reject(st, user, order.market, reason, order.id)
    st.unrest(order)
    # The level may still hold the old object lazily: re-enter as a fresh object.
    old, order = order, order.clone()
    if st.attached:
        st.follow_clone(old, order)
    if order.client_order_id is not None:
        st.client_ids[user, order.client_order_id] = order
    st.ledger.unlock(held, order.locked - qty * per_lot)
    order.locked, order.lock_per_lot = qty * per_lot, per_lot
    order.price, order.remaining, order.quantity, order.ts = price, qty, order.filled + qty, ts
    st.out.append(OrderReplaced(
        st.seq(), st.last_seq, order.id, user, order.market, price, qty, False
    ))
    return run(st, spec, book, order, price)
