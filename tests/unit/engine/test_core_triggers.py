"""Stop-loss / take-profit triggers: fired by the mark once and only once, canceled with
the position. Numbers as in ``test_core_perp`` (BTC-PERP, one lot at 500_000 = 5_000_000)."""

from __future__ import annotations

import json

from core_stubs import buy, funded, reason, sell

from engine_svc.core import (
    CancelReason,
    CancelTrigger,
    Engine,
    OrderFilled,
    PlaceTrigger,
    RejectReason,
    SetIndexPrice,
    Side,
    TimeInForce,
    TriggerCanceled,
    TriggerFired,
    TriggerKind,
    default_markets,
)
from engine_svc.core.state import Trigger
from engine_svc.core.trigger_rules import crossed

P = 500_000
BTC = "BTC-PERP"
SL, TP = TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT


def setup() -> Engine:
    """a long 10 at P (10x) with 100 USD; mm bids 20 @ 489_000 and 20 @ 509_000 later."""
    e = funded(a={"USD": 100_000_000}, b={"USD": 10**9}, mm={"USD": 10**9})
    e.apply(sell("b", 10, P))
    e.apply(buy("a", 10, P))
    return e


def trigger(user: str, side: Side, kind: TriggerKind, price: int,
            qty: int | None = None) -> PlaceTrigger:
    return PlaceTrigger(user_id=user, market=BTC, side=side, kind=kind, trigger_price=price,
                        quantity=qty)


def tick(e: Engine, price: int) -> list[object]:
    return list(e.apply(SetIndexPrice(market=BTC, price=price, ts=7)))


def test_fire_conditions() -> None:
    def t(side: Side, kind: TriggerKind) -> Trigger:
        return Trigger(1, "u", BTC, side, kind, 100, 0, 0, 0)

    assert crossed(t(Side.SELL, SL), 100) and not crossed(t(Side.SELL, SL), 101)
    assert crossed(t(Side.SELL, TP), 100) and not crossed(t(Side.SELL, TP), 99)
    assert crossed(t(Side.BUY, SL), 100) and not crossed(t(Side.BUY, SL), 99)
    assert crossed(t(Side.BUY, TP), 100) and not crossed(t(Side.BUY, TP), 101)


def test_stop_loss_fires_once_closes_position_and_cancels_sibling() -> None:
    e = setup()
    assert reason(e.apply(trigger("a", Side.SELL, SL, 490_000))) is None
    assert reason(e.apply(trigger("a", Side.SELL, TP, 520_000, 4))) is None
    e.apply(buy("mm", 20, 489_000))
    assert not any(isinstance(x, TriggerFired) for x in tick(e, 495_000))
    ev = tick(e, 490_000)  # mark median(490_000, 490_000, 500_000) = 490_000 <= 490_000
    [fired] = [x for x in ev if isinstance(x, TriggerFired)]
    assert (fired.trigger_id, fired.mark_price, fired.quantity) == (1, 490_000, 10)
    [fill] = [x for x in ev if isinstance(x, OrderFilled)]
    assert (fill.price, fill.quantity, fill.taker_user_id, fill.taker_fee) == (
        489_000, 10, "a", 24_450)
    [gone] = [x for x in ev if isinstance(x, TriggerCanceled)]
    assert (gone.trigger_id, gone.reason) == (2, CancelReason.POSITION_CLOSED)
    # 100_000_000 - 5_025_000 + 5_000_000 margin - 1_100_000 PnL - 24_450 fee
    assert e.balances("a")["USD"] == (98_850_550, 0)
    assert e.triggers("a") == []
    assert not any(isinstance(x, TriggerFired) for x in tick(e, 480_000))


def test_take_profit_partial_fires_once_and_user_cancel() -> None:
    e = setup()
    e.apply(trigger("a", Side.SELL, SL, 450_000))
    e.apply(trigger("a", Side.SELL, TP, 510_000, 4))
    e.apply(buy("mm", 20, 509_000))
    ev = tick(e, 510_000)
    [fired] = [x for x in ev if isinstance(x, TriggerFired)]
    assert (fired.trigger_id, fired.quantity) == (2, 4)
    assert [(f.price, f.quantity) for f in ev if isinstance(f, OrderFilled)] == [(509_000, 4)]
    assert e.positions("a")[BTC].size == 6
    assert [t.trigger_id for t in e.triggers("a")] == [1]
    assert not any(isinstance(x, TriggerFired) for x in tick(e, 512_000))
    assert reason(e.apply(CancelTrigger(user_id="b", trigger_id=1))) \
        is RejectReason.TRIGGER_NOT_FOUND
    [c] = e.apply(CancelTrigger(user_id="a", trigger_id=1))
    assert isinstance(c, TriggerCanceled) and c.reason is CancelReason.USER
    assert reason(e.apply(CancelTrigger(user_id="a", trigger_id=1))) \
        is RejectReason.TRIGGER_NOT_FOUND


def test_short_stop_loss_buys_back() -> None:
    e = setup()
    e.apply(trigger("b", Side.BUY, SL, 505_000))
    e.apply(sell("mm", 20, 506_000))
    ev = tick(e, 505_000)
    assert [(f.price, f.quantity, f.taker_user_id) for f in ev
            if isinstance(f, OrderFilled)] == [(506_000, 10, "b")]
    assert e.positions("b")[BTC].size == 0


def test_trigger_admission() -> None:
    e = setup()
    assert reason(e.apply(trigger("a", Side.BUY, SL, 1))) \
        is RejectReason.REDUCE_ONLY_WOULD_INCREASE
    assert reason(e.apply(trigger("c", Side.SELL, SL, 1))) \
        is RejectReason.REDUCE_ONLY_WOULD_INCREASE
    assert reason(e.apply(trigger("a", Side.SELL, SL, 0))) \
        is RejectReason.INVALID_TRIGGER_PRICE
    assert reason(e.apply(trigger("a", Side.SELL, SL, 1, 0))) \
        is RejectReason.INVALID_QUANTITY
    assert reason(e.apply(PlaceTrigger(user_id="a", market="SOL-USD", side=Side.SELL,
                                       kind=SL, trigger_price=1))) \
        is RejectReason.UNKNOWN_MARKET


def test_closing_by_hand_cancels_triggers_and_snapshot_keeps_them() -> None:
    e = setup()
    e.apply(trigger("a", Side.SELL, SL, 400_000))
    e.apply(trigger("a", Side.SELL, TP, 600_000, 3))
    image = json.loads(json.dumps(e.snapshot()))
    r = Engine.restore(default_markets(), image)
    assert r.state_hash() == e.state_hash() and r.triggers("a") == e.triggers("a")
    for engine in (e, r):
        engine.apply(buy("mm", 10, 499_000))
        ev = engine.apply(sell("a", 10, 499_000, reduce_only=True, tif=TimeInForce.IOC))
        assert [(x.trigger_id, x.reason) for x in ev if isinstance(x, TriggerCanceled)] == [
            (1, CancelReason.POSITION_CLOSED), (2, CancelReason.POSITION_CLOSED)]
    assert r.state_hash() == e.state_hash()
