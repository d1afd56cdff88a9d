"""Risk holds and fill settlement: what an order locks and how a fill moves money.

Rules (all integers, rounding always in the exchange's favour):

* fee = ceil(notional * bps / 10000), in the quote asset, credited to ``FEE_ACCOUNT``.
* An order locks ``remaining * lock_per_lot``; the per-lot hold is linear so a fill of
  ``q`` lots releases exactly ``q * lock_per_lot`` and the rest stays correct.
* Spot BUY holds quote: ``P*u + ceil(P*u*taker_bps/1e4)`` per lot, where ``P`` is the
  *lock price*: the limit, or for a MARKET order its slippage bound (fills never exceed
  it). Spot SELL holds ``base_per_lot`` base per lot; its fee comes out of the proceeds.
* Perp orders hold quote: ``ceil(P*u/leverage) + ceil(P*u*taker_bps/1e4)`` per lot
  (reduce-only orders hold only the fee part). ``P`` for a perp SELL is the highest
  price it can fill at: max(limit, best bid at entry) (best bid for MARKET); it is
  lowered to the limit once the order rests.
* Perp fill: the hold for the filled lots is released, the fee paid, the closing part
  realizes ``sign * price*q*u - cost_share`` and frees ``margin * q // |size|`` (all of
  it on a full close), the opening part moves ``ceil(price*q*u/leverage)`` into margin.
* Settlement touches, in this order: the order's locked record (``Order.pair``), the
  spot counter-asset, the fee account, then the perp position (event order depends on it).
* An order with a ``position_id`` moves that isolated position (opened by its first
  fill); what its closing part frees goes to the position's own account first
  (:mod:`engine_svc.core.isolated`).
"""

from __future__ import annotations

from engine_svc.core.book import Order
from engine_svc.core.enums import Side
from engine_svc.core.ledger import USD, Balance, Ledger, Position
from engine_svc.core.markets import MarketSpec
from engine_svc.core.units import ceil_div


def fee(notional: int, bps: int) -> int:
    """Fee in minor units, rounded up."""
    return ceil_div(notional * bps, 10_000)


def lock_asset(spec: MarketSpec, side: Side) -> str:
    """The asset an order on ``side`` locks."""
    if side is Side.SELL and not spec.is_perp:
        return spec.base.symbol
    return spec.quote.symbol


def lock_per_lot(
    spec: MarketSpec, side: Side, lock_price: int, leverage: int, reduce_only: bool
) -> int:
    """Hold per open lot (see module rules)."""
    if side is Side.SELL and not spec.is_perp:
        return spec.base_per_lot
    notional = lock_price * spec.notional_unit
    fee_part = fee(notional, spec.taker_fee_bps)
    if not spec.is_perp:
        return notional + fee_part
    if reduce_only:
        return fee_part
    return ceil_div(notional, leverage) + fee_part


def settle_spot(ledger: Ledger, spec: MarketSpec, order: Order, price: int, lots: int,
                bps: int, fees: Balance) -> int:
    """Settle one side of a spot fill; returns the fee charged (credited to ``fees``)."""
    notional = price * lots * spec.notional_unit
    charged = fee(notional, bps)
    released = lots * order.lock_per_lot
    order.locked -= released
    held = order.pair
    assert held is not None
    ledger.touch(held)
    held.locked -= released
    if order.side is Side.BUY:
        held.available += released - notional - charged
        ledger.balance(order.user_id, spec.base.symbol).available += lots * spec.base_per_lot
    else:
        ledger.balance(order.user_id, spec.quote.symbol).available += notional - charged
    ledger.touch(fees)
    fees.available += charged
    return charged


def settle_perp(ledger: Ledger, spec: MarketSpec, order: Order, price: int, lots: int,
                bps: int, fees: Balance) -> tuple[int, int]:
    """Settle one side of a perp fill; returns the fee charged (credited to ``fees``) and
    the PnL the fill realized (0 when it only opened).

    The position handle is kept on the order after its first fill.
    """
    unit = spec.notional_unit
    charged = fee(price * lots * unit, bps)
    released = lots * order.lock_per_lot
    order.locked -= released
    bal = order.pair
    assert bal is not None
    ledger.touch(bal)
    bal.locked -= released
    bal.available += released - charged
    ledger.touch(fees)
    fees.available += charged
    ref = order.pos
    pid = order.position_id
    if ref is None:
        ref = order.pos = ledger.isolated_position(order.user_id, spec.symbol, pid) if pid \
            else ledger.position(order.user_id, spec.symbol)
    else:
        ledger.touch_position(ref)
    pos = ref.pos
    closing = min(lots, pos.reducible(order.side))
    realized = 0
    if closing:
        before = pos.realized
        # an isolated close pays into the position's own account (settled at the end of
        # the command: engine_svc.core.isolated)
        into = ledger.balance(ref.key[0], USD) if pid else bal
        into.available += close_lots(pos, price * closing * unit, closing)
        realized = pos.realized - before
    opening = lots - closing
    if opening:
        cash = price * opening * unit
        margin = ceil_div(cash, order.leverage)
        bal.available -= margin
        pos.margin += margin
        if order.side is Side.BUY:
            pos.size += opening
            pos.cost += cash
        else:
            pos.size -= opening
            pos.cost -= cash
    return charged, realized


def close_lots(pos: Position, cash: int, closing: int) -> int:
    """Close ``closing`` lots traded for ``cash``; returns margin freed plus realized PnL."""
    size = pos.size
    abs_size = size if size > 0 else -size
    if closing == abs_size:
        cost_share, margin_share = pos.cost, pos.margin
    else:
        cost_share = pos.cost * closing // abs_size
        margin_share = pos.margin * closing // abs_size
    pnl = (cash if size > 0 else -cash) - cost_share
    pos.cost -= cost_share
    pos.margin -= margin_share
    pos.size = size - closing if size > 0 else size + closing
    pos.realized += pnl
    return margin_share + pnl
