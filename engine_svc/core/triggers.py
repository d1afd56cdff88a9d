"""Managed triggers on perp markets, fired by the mark price: stop-loss / take-profit on a
position, and standalone stop orders (STOP_MARKET / STOP_LIMIT).

Rules (conditions and an order's attached stop-loss / take-profit: :mod:`trigger_rules`):

* ``PlaceTrigger`` is admitted when the market is a perp (else UNKNOWN_MARKET), the user
  is not a house account (INVALID_ORDER), ``trigger_price`` is in range and on the far
  side of the mark (INVALID_TRIGGER_PRICE), ``quantity`` is valid lots (INVALID_QUANTITY;
  required for stops, None for a stop-loss / take-profit means the whole position), the
  slippage is in [0, 10000) (INVALID_SLIPPAGE), and then by kind:
  STOP_LOSS / TAKE_PROFIT: no ``limit_price`` (INVALID_LIMIT_PRICE), a ``position_id``
  that is the user's open isolated position in the market (POSITION_NOT_FOUND; 0: the
  cross position) and ``side`` reduces that position (REDUCE_ONLY_WOULD_INCREASE); stops
  name no position (INVALID_ORDER); STOP_MARKET: no ``limit_price``;
  STOP_LIMIT: a ``limit_price`` whose notional is in range (INVALID_LIMIT_PRICE); stops:
  ``leverage`` in 1..max (INVALID_LEVERAGE). Last, the user's trigger limit
  (TOO_MANY_TRIGGERS, see ``SetTriggerLimit``).
* ``MoveTrigger`` changes ``trigger_price`` (same checks; an attached trigger whose order
  is a resting LIMIT also stays on the far side of its price) and/or ``limit_price``
  (STOP_LIMIT only) and emits ``TriggerUpdated``. ``MoveTrigger`` / ``CancelTrigger`` of
  an id that is not the user's armed trigger answer TRIGGER_NOT_FOUND. Rejections are
  ``OrderRejected`` (order_id 0 for a place; the trigger id for a move or cancel).
* Firing, tested only when ``SetIndexPrice`` re-marks a market (before the liquidation
  sweep, so a stop acts before the liquidator), triggers in id order, never in a halted
  market (:func:`may_fire`). Firing disarms the trigger first (once and only once), emits
  ``TriggerFired``, then places its order through the ordinary pipeline (risk checks
  included): its OrderAccepted / fills / cancel, or OrderRejected, follow.
  A stop-loss / take-profit places a reduce-only MARKET IOC order (leverage 1, its
  slippage bound) of its quantity (or the whole position) clamped to the position; an
  order it came with that still rests is canceled first (TRIGGER_FIRED: the stop ends
  that trade, and the order's rest cannot block the close by self-trade prevention); with
  nothing to close it is canceled (POSITION_CLOSED), or, while its order may still fill,
  left armed. A STOP_MARKET places a MARKET order, a STOP_LIMIT a GTC LIMIT order at its
  limit price, both with the trigger's quantity, leverage and reduce-only flag.
* At the end of every command, attached triggers follow their order's fills
  (:func:`trigger_rules.follow_fills`), then a stop-loss / take-profit whose position its
  side can no longer reduce (closed, liquidated or flipped) is canceled with
  POSITION_CLOSED, unless its order may still fill. Standalone stops stay.
"""

from __future__ import annotations

from engine_svc.core import isolated
from engine_svc.core.commands import CancelTrigger, MoveTrigger, PlaceOrder, PlaceTrigger
from engine_svc.core.enums import (
    CancelReason,
    MarketStatus,
    OrderType,
    RejectReason,
    TimeInForce,
    TriggerKind,
)
from engine_svc.core.events import TriggerFired, TriggerPlaced
from engine_svc.core.ledger import is_house
from engine_svc.core.markets import MarketSpec
from engine_svc.core.matching import cancel as cancel_order
from engine_svc.core.matching import check_size, place, reject
from engine_svc.core.state import State, Trigger
from engine_svc.core.trigger_rules import (
    cancel,
    crossed,
    far_side,
    follow_fills,
    price_ok,
    updated,
)


def _kind_reason(st: State, spec: MarketSpec, cmd: PlaceTrigger) -> RejectReason | None:
    kind = cmd.kind
    if kind is TriggerKind.STOP_LOSS or kind is TriggerKind.TAKE_PROFIT:
        if cmd.limit_price is not None:
            return RejectReason.INVALID_LIMIT_PRICE
        if cmd.position_id and isolated.find(st, cmd.user_id, cmd.market,
                                             cmd.position_id) is None:
            return RejectReason.POSITION_NOT_FOUND
        if isolated.reducible(st, cmd.user_id, cmd.market, cmd.side, cmd.position_id) == 0:
            return RejectReason.REDUCE_ONLY_WOULD_INCREASE
        return None
    if cmd.position_id:
        return RejectReason.INVALID_ORDER  # a stop order opens; it names no position
    if cmd.quantity is None:
        return RejectReason.INVALID_QUANTITY
    if not 1 <= cmd.leverage <= spec.max_leverage:
        return RejectReason.INVALID_LEVERAGE
    if kind is TriggerKind.STOP_MARKET:
        return RejectReason.INVALID_LIMIT_PRICE if cmd.limit_price is not None else None
    limit = cmd.limit_price
    if limit is None or check_size(spec, limit, cmd.quantity) is not None:
        return RejectReason.INVALID_LIMIT_PRICE
    return None


def _reason(st: State, cmd: PlaceTrigger) -> RejectReason | None:
    spec = st.markets.get(cmd.market)
    if spec is None or not spec.is_perp:
        return RejectReason.UNKNOWN_MARKET
    if not cmd.user_id or is_house(cmd.user_id):
        return RejectReason.INVALID_ORDER
    if cmd.position_id < 0:
        return RejectReason.POSITION_NOT_FOUND
    if not price_ok(st, cmd.market, cmd.side, cmd.kind, cmd.trigger_price):
        return RejectReason.INVALID_TRIGGER_PRICE
    if cmd.quantity is not None:
        reason = check_size(spec, None, cmd.quantity)
        if reason is not None:
            return reason
    if not 0 <= cmd.slippage_bps < 10_000:
        return RejectReason.INVALID_SLIPPAGE
    reason = _kind_reason(st, spec, cmd)
    if reason is None and st.triggers_left(cmd.user_id) <= 0:
        return RejectReason.TOO_MANY_TRIGGERS
    return reason


def arm(st: State, cmd: PlaceTrigger) -> None:
    reason = _reason(st, cmd)
    if reason is not None:
        return reject(st, cmd.user_id, cmd.market, reason)
    tid = st.next_trigger_id
    st.next_trigger_id = tid + 1
    limit = cmd.limit_price or 0
    trig = Trigger(tid, cmd.user_id, cmd.market, cmd.side, cmd.kind, cmd.trigger_price,
                   cmd.quantity or 0, cmd.slippage_bps, cmd.ts, limit, cmd.leverage,
                   cmd.reduce_only, 0, cmd.position_id)
    st.add_trigger(trig)
    st.out.append(TriggerPlaced(st.seq(), st.last_seq, tid, trig.user_id, trig.market,
                                trig.side, trig.kind, trig.price, trig.quantity, limit, 0,
                                cmd.ts, cmd.position_id))
    return None


def _owned(st: State, user: str, trigger_id: int) -> Trigger | None:
    trig = st.triggers.get(trigger_id)
    if trig is None or trig.user_id != user:
        reject(st, user, "", RejectReason.TRIGGER_NOT_FOUND, trigger_id)
        return None
    return trig


def disarm(st: State, cmd: CancelTrigger) -> None:
    trig = _owned(st, cmd.user_id, cmd.trigger_id)
    if trig is not None:
        cancel(st, trig, CancelReason.USER)


def _move_reason(st: State, trig: Trigger, cmd: MoveTrigger) -> RejectReason | None:
    if cmd.trigger_price is None and cmd.limit_price is None:
        return RejectReason.INVALID_TRIGGER_PRICE
    price = cmd.trigger_price
    if price is not None:
        if not price_ok(st, trig.market, trig.side, trig.kind, price):
            return RejectReason.INVALID_TRIGGER_PRICE
        parent = trig.parent
        if parent is not None and parent.type is OrderType.LIMIT and not far_side(
                trig.side, trig.kind, price, parent.price):
            return RejectReason.INVALID_TRIGGER_PRICE
    limit = cmd.limit_price
    if limit is not None and (trig.kind is not TriggerKind.STOP_LIMIT or check_size(
            st.markets[trig.market], limit, trig.quantity) is not None):
        return RejectReason.INVALID_LIMIT_PRICE
    return None


def move(st: State, cmd: MoveTrigger) -> None:
    trig = _owned(st, cmd.user_id, cmd.trigger_id)
    if trig is None:
        return
    reason = _move_reason(st, trig, cmd)
    if reason is not None:
        return reject(st, cmd.user_id, trig.market, reason, trig.id)
    if cmd.trigger_price is not None:
        trig.price = cmd.trigger_price
    if cmd.limit_price is not None:
        trig.limit_price = cmd.limit_price
    updated(st, trig, cmd.ts)
    return None


def may_fire(st: State, market: str) -> bool:
    """Whether ``market``'s triggers may fire now: not while the market is halted."""
    spec = st.markets.get(market)
    return spec is not None and spec.status is not MarketStatus.HALTED


def fire(st: State, market: str, mark: int, ts: int) -> None:
    """Fire every armed trigger of ``market`` whose condition holds at ``mark``."""
    if not may_fire(st, market):
        return
    due = sorted((t for t in st.triggers.values() if t.market == market and crossed(t, mark)),
                 key=lambda t: t.id)
    for trig in due:
        if trig.id not in st.triggers:
            continue  # canceled by an earlier trigger's close in this same sweep
        if trig.on_position:
            _close(st, trig, mark, ts)
        else:
            _stop(st, trig, mark, ts)


def _close(st: State, trig: Trigger, mark: int, ts: int) -> None:
    """A stop-loss / take-profit: a reduce-only market order closing its quantity."""
    lots = isolated.reducible(st, trig.user_id, trig.market, trig.side, trig.position_id)
    if trig.quantity or trig.order_id:
        lots = min(lots, trig.quantity)
    if lots == 0:
        if trig.parent is None:
            cancel(st, trig, CancelReason.POSITION_CLOSED)
        return
    parent = trig.parent
    st.drop_trigger(trig)
    st.out.append(TriggerFired(st.seq(), st.last_seq, trig.id, trig.user_id, trig.market,
                               mark, lots, trig.kind, ts, trig.position_id))
    if parent is not None and parent.id in st.live:
        cancel_order(st, parent, CancelReason.TRIGGER_FIRED)
    place(st, PlaceOrder(user_id=trig.user_id, market=trig.market, side=trig.side,
                         quantity=lots, type=OrderType.MARKET, tif=TimeInForce.IOC,
                         reduce_only=True, leverage=1, slippage_bps=trig.slippage, ts=ts,
                         position_id=trig.position_id))


def _stop(st: State, trig: Trigger, mark: int, ts: int) -> None:
    """A standalone stop: its market or limit order."""
    st.drop_trigger(trig)
    st.out.append(TriggerFired(st.seq(), st.last_seq, trig.id, trig.user_id, trig.market,
                               mark, trig.quantity, trig.kind, ts))
    if trig.kind is TriggerKind.STOP_LIMIT:
        place(st, PlaceOrder(user_id=trig.user_id, market=trig.market, side=trig.side,
                             quantity=trig.quantity, type=OrderType.LIMIT,
                             price=trig.limit_price, tif=TimeInForce.GTC,
                             reduce_only=trig.reduce_only, leverage=trig.leverage, ts=ts))
    else:
        place(st, PlaceOrder(user_id=trig.user_id, market=trig.market, side=trig.side,
                             quantity=trig.quantity, type=OrderType.MARKET,
                             tif=TimeInForce.IOC, reduce_only=trig.reduce_only,
                             leverage=trig.leverage, slippage_bps=trig.slippage, ts=ts))


def settle(st: State, ts: int) -> None:
    """End of command: attached triggers follow their orders' fills, then stop-losses /
    take-profits whose touched position their side can no longer reduce are canceled."""
    if st.attached:
        follow_fills(st, ts)
    keys = st.trigger_keys
    for ref in st.ledger.touched_positions:
        ids = keys.get(ref.key)
        if not ids:
            continue
        for tid in sorted(ids):
            trig = st.triggers[tid]
            if trig.on_position and trig.parent is None and ref.pos.reducible(trig.side) == 0:
                cancel(st, trig, CancelReason.POSITION_CLOSED)

