"""Stop-loss and take-profit triggers on perp positions, fired by the mark price.

Rules:

* ``PlaceTrigger`` is admitted when the market is a perp (else UNKNOWN_MARKET), the user
  is not a house account (INVALID_ORDER), ``trigger_price`` is in (0, MAX_UNITS)
  (INVALID_PRICE), ``quantity`` is None or valid lots (INVALID_QUANTITY), the slippage is
  in [0, 10000) (INVALID_SLIPPAGE), and ``side`` reduces the user's position in the market
  (REDUCE_ONLY_WOULD_INCREASE). Rejections are ``OrderRejected`` (order_id 0; the
  trigger id for ``CancelTrigger``, which answers ORDER_NOT_FOUND for an id that is not
  the user's armed trigger).
* Fire condition, tested only when ``SetIndexPrice`` re-marks the market (before the
  liquidation sweep, so a stop acts before the liquidator), triggers in id order::

      SELL & STOP_LOSS: mark <= trigger     SELL & TAKE_PROFIT: mark >= trigger
      BUY  & STOP_LOSS: mark >= trigger     BUY  & TAKE_PROFIT: mark <= trigger

  A trigger whose condition already holds when placed fires at the next index tick.
* Firing disarms the trigger first (once and only once), emits ``TriggerFired``, then
  places a reduce-only MARKET IOC order (leverage 1, the trigger's slippage bound, the
  quantity or the whole position, clamped to the position) through the ordinary pipeline:
  its OrderAccepted / fills / cancel, or OrderRejected (e.g. NO_LIQUIDITY), follow.
* At the end of every command, a trigger whose position its side can no longer reduce
  (closed, liquidated or flipped) is canceled with POSITION_CLOSED.
"""

from __future__ import annotations

from engine_svc.core.commands import CancelTrigger, PlaceOrder, PlaceTrigger
from engine_svc.core.enums import (
    CancelReason,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
    TriggerKind,
)
from engine_svc.core.events import TriggerCanceled, TriggerFired, TriggerPlaced
from engine_svc.core.ledger import FEE_ACCOUNT, INSURANCE_FUND
from engine_svc.core.matching import check_size, place, reject
from engine_svc.core.state import State, Trigger
from engine_svc.core.units import MAX_UNITS


def _reason(st: State, cmd: PlaceTrigger) -> RejectReason | None:
    spec = st.markets.get(cmd.market)
    if spec is None or not spec.is_perp:
        return RejectReason.UNKNOWN_MARKET
    if not cmd.user_id or cmd.user_id in (FEE_ACCOUNT, INSURANCE_FUND):
        return RejectReason.INVALID_ORDER
    if not 0 < cmd.trigger_price < MAX_UNITS:
        return RejectReason.INVALID_PRICE
    if cmd.quantity is not None:
        reason = check_size(spec, None, cmd.quantity)
        if reason is not None:
            return reason
    if not 0 <= cmd.slippage_bps < 10_000:
        return RejectReason.INVALID_SLIPPAGE
    if st.ledger.reducible(cmd.user_id, cmd.market, cmd.side) == 0:
        return RejectReason.REDUCE_ONLY_WOULD_INCREASE
    return None


def arm(st: State, cmd: PlaceTrigger) -> None:
    reason = _reason(st, cmd)
    if reason is not None:
        return reject(st, cmd.user_id, cmd.market, reason)
    tid = st.next_trigger_id
    st.next_trigger_id = tid + 1
    trig = Trigger(tid, cmd.user_id, cmd.market, cmd.side, cmd.kind, cmd.trigger_price,
                   cmd.quantity or 0, cmd.slippage_bps, cmd.ts)
    st.add_trigger(trig)
    st.out.append(TriggerPlaced(st.seq(), st.last_seq, tid, trig.user_id, trig.market,
                                trig.side, trig.kind, trig.price, trig.quantity, cmd.ts))
    return None


def disarm(st: State, cmd: CancelTrigger) -> None:
    trig = st.triggers.get(cmd.trigger_id)
    if trig is None or trig.user_id != cmd.user_id:
        return reject(st, cmd.user_id, "", RejectReason.ORDER_NOT_FOUND, cmd.trigger_id)
    _cancel(st, trig, CancelReason.USER)
    return None


def _cancel(st: State, trig: Trigger, reason: CancelReason) -> None:
    st.drop_trigger(trig)
    st.out.append(TriggerCanceled(st.seq(), st.last_seq, trig.id, trig.user_id, trig.market,
                                  reason))


def crossed(trig: Trigger, mark: int) -> bool:
    """The module's fire condition."""
    below = (trig.side is Side.SELL) == (trig.kind is TriggerKind.STOP_LOSS)
    return mark <= trig.price if below else mark >= trig.price


def fire(st: State, market: str, mark: int, ts: int) -> None:
    """Fire every armed trigger of ``market`` whose condition holds at ``mark``."""
    due = sorted((t for t in st.triggers.values() if t.market == market and crossed(t, mark)),
                 key=lambda t: t.id)
    for trig in due:
        if trig.id not in st.triggers:
            continue  # canceled by an earlier trigger's close in this same sweep
        st.drop_trigger(trig)
        lots = st.ledger.reducible(trig.user_id, market, trig.side)
        if trig.quantity:
            lots = min(lots, trig.quantity)
        if lots == 0:
            st.out.append(TriggerCanceled(st.seq(), st.last_seq, trig.id, trig.user_id,
                                          market, CancelReason.POSITION_CLOSED))
            continue
        st.out.append(TriggerFired(st.seq(), st.last_seq, trig.id, trig.user_id, market,
                                   mark, lots, ts, trig.kind))
        place(st, PlaceOrder(user_id=trig.user_id, market=market, side=trig.side,
                             quantity=lots, type=OrderType.MARKET, tif=TimeInForce.IOC,
                             reduce_only=True, leverage=1, slippage_bps=trig.slippage,
                             ts=ts))


def reap(st: State) -> None:
    """Cancel triggers whose touched position their side can no longer reduce."""
    keys = st.trigger_keys
    for ref in st.ledger.touched_positions:
        ids = keys.get(ref.key)
        if not ids:
            continue
        for tid in sorted(ids):
            trig = st.triggers[tid]
            if ref.pos.reducible(trig.side) == 0:
                _cancel(st, trig, CancelReason.POSITION_CLOSED)
