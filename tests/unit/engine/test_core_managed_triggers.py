"""Managed triggers: an order's stop-loss / take-profit following its fills, standalone
stop orders, moves, the per-user limit, price validation against the mark, halted
markets and snapshots. BTC-PERP: one lot at 500_000 ticks is 5_000_000 USD minor units."""

from __future__ import annotations

import json
from typing import Any

from core_stubs import buy, cancel, funded, reason, sell

from engine_svc.core import (
    CancelReason,
    CancelTrigger,
    Engine,
    Event,
    MarketStatus,
    MoveTrigger,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderType,
    PlaceOrder,
    PlaceTrigger,
    RejectReason,
    ReplaceOrder,
    SetIndexPrice,
    SetTriggerLimit,
    Side,
    TriggerCanceled,
    TriggerFired,
    TriggerKind,
    TriggerLimitSet,
    TriggerPlaced,
    TriggerUpdated,
    UpdateMarket,
    default_markets,
)

P = 500_000
BTC = "BTC-PERP"
SL, TP = TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT
R = RejectReason


def marked() -> Engine:
    """a, b and mm funded; BTC-PERP marked at P (no book yet)."""
    e = funded(a={"USD": 100_000_000}, b={"USD": 10**9}, mm={"USD": 10**9})
    e.apply(SetIndexPrice(market=BTC, price=P, ts=1))
    return e


def tick(e: Engine, price: int) -> list[Event]:
    return e.apply(SetIndexPrice(market=BTC, price=price, ts=9))


def of(events: list[Event], kind: type) -> list[Any]:
    return [x for x in events if isinstance(x, kind)]


def stop(user: str, side: Side, kind: TriggerKind, price: int, qty: int | None = 5,
         **kw: Any) -> PlaceTrigger:
    kw.setdefault("leverage", 10)
    return PlaceTrigger(user_id=user, market=BTC, side=side, kind=kind, trigger_price=price,
                        quantity=qty, **kw)


def test_stop_loss_and_take_profit_follow_the_fills_of_a_resting_order() -> None:
    e = marked()
    ev = e.apply(buy("a", 10, P, stop_loss=490_000, take_profit=520_000))
    placed = of(ev, TriggerPlaced)
    assert [(t.kind, t.side, t.quantity, t.order_id) for t in placed] == [
        (SL, Side.SELL, 0, 1), (TP, Side.SELL, 0, 1)]
    assert [(t.quantity, t.pending) for t in e.triggers("a")] == [(0, True), (0, True)]
    ev = e.apply(sell("b", 4, P))
    assert [(u.trigger_id, u.quantity) for u in of(ev, TriggerUpdated)] == [(1, 4), (2, 4)]
    assert [(t.quantity, t.pending) for t in e.triggers("a")] == [(4, True), (4, True)]
    e.apply(sell("b", 6, P))
    assert [(t.quantity, t.pending) for t in e.triggers("a")] == [(10, False), (10, False)]
    e.apply(buy("mm", 20, 489_000))
    ev = tick(e, 489_000)
    [fired] = of(ev, TriggerFired)
    assert (fired.trigger_id, fired.quantity, fired.kind) == (1, 10, SL)
    assert [(f.price, f.quantity, f.taker_user_id) for f in of(ev, OrderFilled)] == [
        (489_000, 10, "a")]
    assert [(c.trigger_id, c.reason) for c in of(ev, TriggerCanceled)] == [
        (2, CancelReason.POSITION_CLOSED)]
    assert e.triggers("a") == [] and e.positions("a")[BTC].size == 0


def test_a_canceled_unfilled_order_leaves_nothing_armed() -> None:
    e = marked()
    e.apply(buy("a", 10, 495_000, stop_loss=480_000))
    ev = e.apply(cancel("a", 1))
    assert [(c.trigger_id, c.reason) for c in of(ev, TriggerCanceled)] == [
        (1, CancelReason.PARENT_CANCELED)]
    assert e.triggers("a") == []


def test_a_partly_filled_then_canceled_order_keeps_what_filled_covered() -> None:
    e = marked()
    e.apply(buy("a", 10, P, stop_loss=480_000))
    e.apply(sell("b", 3, P))
    ev = e.apply(cancel("a", 1))
    assert of(ev, TriggerCanceled) == []
    [t] = e.triggers("a")
    assert (t.quantity, t.pending, t.order_id) == (3, False, 1)


def test_an_order_that_fills_at_once_arms_its_triggers_with_what_filled() -> None:
    e = marked()
    e.apply(sell("b", 6, P))
    ev = e.apply(PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=6,
                            type=OrderType.MARKET, leverage=10, take_profit=530_000))
    assert [u.quantity for u in of(ev, TriggerUpdated)] == [6]
    [t] = e.triggers("a")
    assert (t.kind, t.quantity, t.pending) == (TP, 6, False)


def test_an_order_that_closes_instead_of_opening_arms_nothing() -> None:
    e = marked()
    e.apply(sell("b", 5, P))
    e.apply(buy("a", 5, P))  # a is long 5
    e.apply(buy("mm", 5, P))
    ev = e.apply(sell("a", 5, P, stop_loss=510_000))  # closes the long: nothing to cover
    assert [c.reason for c in of(ev, TriggerCanceled)] == [CancelReason.POSITION_CLOSED]
    assert e.triggers("a") == []


def test_prices_are_checked_against_the_mark_and_the_limit() -> None:
    e = marked()
    assert reason(e.apply(buy("a", 1, 495_000, stop_loss=496_000))) is R.INVALID_STOP_LOSS
    assert reason(e.apply(buy("a", 1, 495_000, take_profit=494_000))) is R.INVALID_TAKE_PROFIT
    assert reason(e.apply(sell("a", 1, 505_000, stop_loss=504_000))) is R.INVALID_STOP_LOSS
    market_buy = PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=1,
                            type=OrderType.MARKET, stop_loss=P)
    assert reason(e.apply(market_buy)) is R.INVALID_STOP_LOSS
    assert reason(e.apply(buy("a", 1, 495_000, stop_loss=1, reduce_only=True))) \
        is R.INVALID_ORDER
    assert reason(e.apply(buy("a", 1, 150_000, "SOL-USD", stop_loss=1))) is R.INVALID_STOP_LOSS
    e.apply(sell("b", 5, P))
    e.apply(buy("a", 5, P))  # a is long 5 at the mark
    assert reason(e.apply(stop("a", Side.SELL, SL, P, None))) is R.INVALID_TRIGGER_PRICE
    assert reason(e.apply(stop("a", Side.SELL, TP, P, None))) is R.INVALID_TRIGGER_PRICE
    assert reason(e.apply(stop("a", Side.SELL, SL, 499_999, None))) is None
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 499_000))) \
        is R.INVALID_TRIGGER_PRICE
    assert reason(e.apply(stop("a", Side.SELL, TriggerKind.STOP_MARKET, 501_000))) \
        is R.INVALID_TRIGGER_PRICE
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_LIMIT, 501_000))) \
        is R.INVALID_LIMIT_PRICE
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 501_000,
                               limit_price=P))) is R.INVALID_LIMIT_PRICE
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 501_000, None))) \
        is R.INVALID_QUANTITY
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 501_000,
                               leverage=51))) is R.INVALID_LEVERAGE
    assert reason(e.apply(PlaceTrigger(user_id="a", market="SOL-USD", side=Side.BUY,
                                       kind=TriggerKind.STOP_MARKET, trigger_price=1,
                                       quantity=1))) is R.UNKNOWN_MARKET


def test_stop_market_and_stop_limit_place_their_orders_when_the_mark_reaches_them() -> None:
    e = marked()
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 505_000))) is None
    assert reason(e.apply(stop("a", Side.SELL, TriggerKind.STOP_LIMIT, 495_000, 3,
                               limit_price=494_000))) is None
    e.apply(sell("mm", 20, 506_000))
    ev = tick(e, 504_000)
    assert of(ev, TriggerFired) == []
    ev = tick(e, 505_000)
    [fired] = of(ev, TriggerFired)
    assert (fired.trigger_id, fired.kind, fired.quantity, fired.mark_price) == (
        1, TriggerKind.STOP_MARKET, 5, 505_000)
    assert [(f.price, f.quantity, f.taker_user_id) for f in of(ev, OrderFilled)] == [
        (506_000, 5, "a")]
    assert e.positions("a")[BTC].size == 5
    ev = tick(e, 495_000)
    [fired] = of(ev, TriggerFired)
    assert (fired.trigger_id, fired.kind) == (2, TriggerKind.STOP_LIMIT)
    [accepted] = of(ev, OrderAccepted)
    assert (accepted.type, accepted.side, accepted.price, accepted.quantity) == (
        OrderType.LIMIT, Side.SELL, 494_000, 3)
    assert [(o.side, o.price, o.remaining) for o in e.open_orders("a")] == [
        (Side.SELL, 494_000, 3)]
    assert e.triggers("a") == []


def test_a_fired_stop_goes_through_the_risk_checks() -> None:
    e = funded(a={"USD": 1_000_000}, mm={"USD": 10**9})
    e.apply(SetIndexPrice(market=BTC, price=P))
    e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 505_000, 50, leverage=1))
    e.apply(sell("mm", 100, 506_000))
    ev = tick(e, 505_000)
    assert len(of(ev, TriggerFired)) == 1 and reason(ev) is R.INSUFFICIENT_MARGIN
    assert e.positions("a") == {} and e.triggers("a") == []


def test_move_and_cancel_only_your_own_triggers() -> None:
    e = marked()
    e.apply(sell("b", 5, P))
    e.apply(buy("a", 5, P))
    e.apply(stop("a", Side.SELL, SL, 490_000, None))
    e.apply(stop("a", Side.BUY, TriggerKind.STOP_LIMIT, 510_000, 2, limit_price=511_000))
    [moved] = of(e.apply(MoveTrigger(user_id="a", trigger_id=1, trigger_price=495_000)),
                 TriggerUpdated)
    assert (moved.trigger_id, moved.trigger_price, moved.quantity) == (1, 495_000, 0)
    assert reason(e.apply(MoveTrigger(user_id="a", trigger_id=1, trigger_price=P))) \
        is R.INVALID_TRIGGER_PRICE
    assert reason(e.apply(MoveTrigger(user_id="a", trigger_id=1, limit_price=P))) \
        is R.INVALID_LIMIT_PRICE
    assert reason(e.apply(MoveTrigger(user_id="b", trigger_id=1, trigger_price=494_000))) \
        is R.TRIGGER_NOT_FOUND
    assert reason(e.apply(CancelTrigger(user_id="b", trigger_id=1))) is R.TRIGGER_NOT_FOUND
    [moved] = of(e.apply(MoveTrigger(user_id="a", trigger_id=2, limit_price=512_000)),
                 TriggerUpdated)
    assert (moved.trigger_price, moved.limit_price) == (510_000, 512_000)
    assert [(t.trigger_price, t.limit_price) for t in e.triggers("a")] == [
        (495_000, 0), (510_000, 512_000)]
    assert e.trigger("b", 1) is None and e.trigger("a", 1) is not None
    e.apply(buy("a", 10, 495_000, stop_loss=480_000))  # order 3, trigger 3: pending
    assert reason(e.apply(MoveTrigger(user_id="a", trigger_id=3, trigger_price=496_000))) \
        is R.INVALID_TRIGGER_PRICE  # not below its order's limit price
    [gone] = of(e.apply(CancelTrigger(user_id="a", trigger_id=3)), TriggerCanceled)
    assert gone.reason is CancelReason.USER
    assert of(e.apply(cancel("a", 3)), TriggerCanceled) == []


def test_the_per_user_trigger_limit() -> None:
    e = marked()
    [limit] = e.apply(SetTriggerLimit(limit=2))
    assert isinstance(limit, TriggerLimitSet) and limit.limit == 2 and e.max_triggers == 2
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 505_000))) is None
    ev = e.apply(buy("a", 1, 495_000, stop_loss=480_000, take_profit=520_000))
    assert reason(ev) is R.TOO_MANY_TRIGGERS and of(ev, OrderAccepted) == []
    assert reason(e.apply(buy("a", 1, 495_000, stop_loss=480_000))) is None
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 506_000))) \
        is R.TOO_MANY_TRIGGERS
    assert reason(e.apply(stop("b", Side.BUY, TriggerKind.STOP_MARKET, 506_000))) is None
    e.apply(CancelTrigger(user_id="a", trigger_id=1))
    assert reason(e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 506_000))) is None
    e.apply(SetTriggerLimit(limit=0))
    assert e.max_triggers == 2


def test_a_halted_market_fires_nothing() -> None:
    e = marked()
    e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 505_000))
    e.apply(sell("mm", 20, 506_000))
    e.apply(UpdateMarket(market=BTC, status=MarketStatus.HALTED.value))
    assert of(tick(e, 505_000), TriggerFired) == []
    e.apply(UpdateMarket(market=BTC, status=MarketStatus.OPEN.value))
    assert len(of(tick(e, 505_000), TriggerFired)) == 1


def test_closing_the_position_removes_its_stop_loss_but_not_a_stop_order() -> None:
    e = marked()
    e.apply(sell("b", 5, P))
    e.apply(buy("a", 5, P))
    e.apply(stop("a", Side.SELL, SL, 490_000, None))
    e.apply(stop("a", Side.BUY, TriggerKind.STOP_MARKET, 510_000))
    e.apply(buy("mm", 5, P))
    ev = e.apply(sell("a", 5, P))
    assert [(c.trigger_id, c.reason) for c in of(ev, TriggerCanceled)] == [
        (1, CancelReason.POSITION_CLOSED)]
    assert [t.kind for t in e.triggers("a")] == [TriggerKind.STOP_MARKET]


def test_snapshots_keep_pending_triggers_and_old_images_load() -> None:
    e = marked()
    e.apply(buy("a", 10, P, stop_loss=480_000))
    e.apply(sell("b", 2, P))
    image = json.loads(json.dumps(e.snapshot()))
    r = Engine.restore(default_markets(), image)
    assert r.state_hash() == e.state_hash() and r.triggers("a") == e.triggers("a")
    for engine in (e, r):
        [u] = of(engine.apply(sell("b", 3, P)), TriggerUpdated)
        assert u.quantity == 5
    assert r.state_hash() == e.state_hash()
    old = json.loads(json.dumps(e.snapshot()))
    old["triggers"] = [row[:9] for row in old["triggers"]]
    del old["max_triggers"]
    [t] = Engine.restore(default_markets(), old).triggers("a")
    assert (t.quantity, t.order_id, t.pending) == (5, 0, False)


def test_trigger_events_carry_what_the_user_channel_shows() -> None:
    e = marked()
    [placed] = of(e.apply(stop("a", Side.BUY, TriggerKind.STOP_LIMIT, 505_000, 2,
                               limit_price=506_000)), TriggerPlaced)
    assert (placed.kind, placed.trigger_price, placed.limit_price, placed.quantity,
            placed.order_id, placed.user_id) == (TriggerKind.STOP_LIMIT, 505_000, 506_000, 2,
                                                 0, "a")


def test_an_amended_order_keeps_its_triggers_following_its_fills() -> None:
    e = marked()
    e.apply(buy("a", 10, 495_000, stop_loss=480_000))
    e.apply(sell("b", 2, 495_000))
    e.apply(ReplaceOrder(user_id="a", order_id=1, price=496_000))  # re-enters: a new object
    ev = e.apply(sell("b", 5, 496_000))
    assert [u.quantity for u in of(ev, TriggerUpdated)] == [7]
    assert [(t.quantity, t.pending) for t in e.triggers("a")] == [(7, True)]


def test_a_firing_stop_loss_cancels_the_rest_of_its_order() -> None:
    e = marked()
    e.apply(buy("a", 10, P, stop_loss=490_000))
    e.apply(sell("b", 4, P))  # a is long 4; the order's other 6 still bid at P
    e.apply(buy("mm", 20, 489_000))
    ev = tick(e, 489_000)
    [canceled] = [c for c in of(ev, OrderCanceled) if c.order_id == 1]
    assert (canceled.reason, canceled.canceled_quantity) == (CancelReason.TRIGGER_FIRED, 6)
    assert [(f.price, f.quantity, f.taker_user_id) for f in of(ev, OrderFilled)] == [
        (489_000, 4, "a")]
    assert e.positions("a")[BTC].size == 0 and e.triggers("a") == []
