"""Trigger conditions, and the stop-loss / take-profit an order carries.

Kept apart from :mod:`engine_svc.core.triggers` (which places orders through matching)
so that matching can attach an order's triggers without a circular import.

Rules:

* Fire condition (a "stop" is STOP_LOSS, STOP_MARKET or STOP_LIMIT)::

      SELL & stop: mark <= price          SELL & TAKE_PROFIT: mark >= price
      BUY  & stop: mark >= price          BUY  & TAKE_PROFIT: mark <= price

* A trigger price must be in (0, MAX_UNITS) and, once the market has a mark, on the far
  side of it: a condition that already holds is refused (a stop-loss for a long must be
  below the mark, its take-profit above; a stop buy above the mark, a stop sell below).
* An order's ``stop_loss`` / ``take_profit`` (perps, not reduce-only, not naming an
  isolated position) close what the order opens (an ISOLATED order's: its own position):
  the closing side, and for a LIMIT order also on the far side of its limit price (a
  long's stop-loss below it, its take-profit above). Each counts against the user's
  trigger limit (TOO_MANY_TRIGGERS) when the order is placed.
* Such a trigger is armed when the order is accepted with ``quantity`` 0 and follows the
  order's fills: at the end of every command its quantity is the order's filled lots
  (``TriggerUpdated`` when that changed). Once the order is final it stays armed with
  what filled, or is canceled: PARENT_CANCELED when nothing filled, POSITION_CLOSED when
  the position is already gone.
"""

from __future__ import annotations

from engine_svc.core.book import Order
from engine_svc.core.commands import PlaceOrder
from engine_svc.core.enums import CancelReason, OrderType, RejectReason, Side, TriggerKind
from engine_svc.core.events import TriggerCanceled, TriggerPlaced, TriggerUpdated
from engine_svc.core.isolated import reducible
from engine_svc.core.markets import MarketSpec
from engine_svc.core.state import State, Trigger
from engine_svc.core.units import MAX_UNITS


def fires_below(side: Side, kind: TriggerKind) -> bool:
    """True when the trigger fires as the mark falls to its price (module table)."""
    return (side is Side.SELL) == (kind is not TriggerKind.TAKE_PROFIT)


def crossed(trig: Trigger, mark: int) -> bool:
    """The module's fire condition."""
    return mark <= trig.price if fires_below(trig.side, trig.kind) else mark >= trig.price


def far_side(side: Side, kind: TriggerKind, price: int, ref: int) -> bool:
    """``price`` is strictly on the side of ``ref`` the trigger has not reached yet."""
    return price < ref if fires_below(side, kind) else price > ref


def price_ok(st: State, market: str, side: Side, kind: TriggerKind, price: int) -> bool:
    """In range, and on the far side of the mark (when the market has one)."""
    if not 0 < price < MAX_UNITS:
        return False
    mark = st.stats[market].mark_price
    return mark is None or far_side(side, kind, price, mark)


def closing_side(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


def attach_reason(st: State, spec: MarketSpec, cmd: PlaceOrder) -> RejectReason | None:
    """Why an order's stop-loss / take-profit cannot be attached (module rules)."""
    sl, tp = cmd.stop_loss, cmd.take_profit
    if not spec.is_perp:
        return RejectReason.INVALID_STOP_LOSS if sl is not None \
            else RejectReason.INVALID_TAKE_PROFIT
    if cmd.reduce_only or cmd.position_id:
        return RejectReason.INVALID_ORDER
    side = closing_side(cmd.side)
    limit = cmd.price if cmd.type is OrderType.LIMIT else None
    for kind, price, reason in ((TriggerKind.STOP_LOSS, sl, RejectReason.INVALID_STOP_LOSS),
                                (TriggerKind.TAKE_PROFIT, tp, RejectReason.INVALID_TAKE_PROFIT)):
        if price is None:
            continue
        if not price_ok(st, spec.symbol, side, kind, price) or (
                limit is not None and not far_side(side, kind, price, limit)):
            return reason
    wanted = (sl is not None) + (tp is not None)
    if st.triggers_left(cmd.user_id) < wanted:
        return RejectReason.TOO_MANY_TRIGGERS
    return None


def attach(st: State, cmd: PlaceOrder, order: Order) -> None:
    """Arm an accepted order's stop-loss / take-profit with quantity 0 (module rules)."""
    side = closing_side(order.side)
    for kind, price in ((TriggerKind.STOP_LOSS, cmd.stop_loss),
                        (TriggerKind.TAKE_PROFIT, cmd.take_profit)):
        if price is None:
            continue
        tid = st.next_trigger_id
        st.next_trigger_id = tid + 1
        trig = Trigger(tid, order.user_id, order.market, side, kind, price, 0,
                       cmd.slippage_bps, cmd.ts, 0, 1, False, order.id, order.position_id)
        trig.parent = order
        st.add_trigger(trig)
        st.out.append(TriggerPlaced(st.seq(), st.last_seq, tid, order.user_id, order.market,
                                    side, kind, price, 0, 0, order.id, cmd.ts,
                                    order.position_id))


def cancel(st: State, trig: Trigger, reason: CancelReason) -> None:
    st.drop_trigger(trig)
    st.out.append(TriggerCanceled(st.seq(), st.last_seq, trig.id, trig.user_id, trig.market,
                                  reason))


def updated(st: State, trig: Trigger, ts: int) -> None:
    st.out.append(TriggerUpdated(st.seq(), st.last_seq, trig.id, trig.user_id, trig.market,
                                 trig.price, trig.limit_price, trig.quantity, ts))


def follow_fills(st: State, ts: int) -> None:
    """End of command: attached triggers take their order's filled lots; those whose order
    is final are detached, or canceled when nothing filled (module rules)."""
    for tid in sorted(st.attached):
        trig = st.attached[tid]
        parent = trig.parent
        assert parent is not None
        if parent.filled != trig.quantity:
            trig.quantity = parent.filled
            updated(st, trig, ts)
        if parent.id in st.live:
            continue
        if trig.quantity == 0:
            cancel(st, trig, CancelReason.PARENT_CANCELED)
        elif reducible(st, trig.user_id, trig.market, trig.side, trig.position_id) == 0:
            cancel(st, trig, CancelReason.POSITION_CLOSED)
        else:
            trig.parent = None
            del st.attached[tid]
