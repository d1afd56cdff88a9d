"""Trigger events on the event link: encoded as ``trigger`` bodies (what the user channel
shows), and persistence's fold takes them without changing a row."""

from __future__ import annotations

from typing import Any

from trademesh.v1 import event_pb2, order_pb2, trigger_pb2

from engine_svc import command_codec
from engine_svc.core import (
    CancelOrder,
    Deposit,
    Engine,
    MoveTrigger,
    PlaceOrder,
    PlaceTrigger,
    SetIndexPrice,
    Side,
    TriggerKind,
)
from engine_svc.core.markets import default_markets
from engine_svc.event_codec import EventEncoder
from persistence_svc import event_fold as ef

BTC = "BTC-PERP"


def run(commands: list[Any]) -> list[event_pb2.EngineEvent]:
    engine = Engine(default_markets())
    encoder = EventEncoder(default_markets(), lambda: 1)
    out: list[event_pb2.EngineEvent] = []
    for command in commands:
        out.extend(encoder.encode(command_codec.encode(e)) for e in engine.apply(command))
    return out


def scenario() -> list[Any]:
    """a buys 10 lots resting with a stop-loss; b fills 4; a arms a stop buy, moves it;
    the mark falls through the stop-loss with mm's bid there."""
    deposits = [Deposit(user_id=u, asset="USD", amount=10**10, tx_id=u, ts=1)
                for u in ("a", "b", "mm")]
    return [*deposits, SetIndexPrice(market=BTC, price=500_000, ts=2),
            PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=10, price=500_000,
                       leverage=10, stop_loss=490_000, ts=3),
            PlaceOrder(user_id="b", market=BTC, side=Side.SELL, quantity=4, price=500_000,
                       leverage=10, ts=4),
            PlaceTrigger(user_id="a", market=BTC, side=Side.BUY, kind=TriggerKind.STOP_LIMIT,
                         trigger_price=510_000, quantity=2, limit_price=511_000, leverage=5,
                         ts=5),
            MoveTrigger(user_id="a", trigger_id=2, trigger_price=512_500, ts=6),
            PlaceOrder(user_id="mm", market=BTC, side=Side.BUY, quantity=20, price=489_000,
                       leverage=10, ts=7),
            SetIndexPrice(market=BTC, price=489_000, ts=8)]


def test_trigger_events_become_trigger_bodies() -> None:
    bodies = [(e.user_id, e.trigger) for e in run(scenario()) if e.HasField("trigger")]
    actions = [(user, t.action, t.trigger.trigger_id) for user, t in bodies]
    assert actions == [
        ("a", trigger_pb2.TRIGGER_ARMED, "1"), ("a", trigger_pb2.TRIGGER_UPDATED, "1"),
        ("a", trigger_pb2.TRIGGER_ARMED, "2"), ("a", trigger_pb2.TRIGGER_UPDATED, "2"),
        ("a", trigger_pb2.TRIGGER_FIRED, "1")]
    armed = bodies[0][1].trigger
    assert (armed.market, armed.kind, armed.side, armed.trigger_price, armed.quantity,
            armed.order_id, armed.pending) == (BTC, trigger_pb2.STOP_LOSS, order_pb2.SELL,
                                               "49000", "0", "1", True)
    assert bodies[1][1].trigger.quantity == "0.0004"  # 4 lots filled
    stop = bodies[2][1].trigger
    assert (stop.kind, stop.trigger_price, stop.limit_price, stop.quantity) == (
        trigger_pb2.STOP_LIMIT, "51000", "51100", "0.0002")
    assert bodies[3][1].trigger.trigger_price == "51250"
    fired = bodies[4][1]
    assert (fired.mark_price, fired.trigger.quantity, fired.trigger.kind) == (
        "48900", "0.0004", trigger_pb2.STOP_LOSS)


def test_a_canceled_trigger_says_why() -> None:
    events = run([Deposit(user_id="a", asset="USD", amount=10**10, tx_id="a", ts=1),
                  PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=1,
                             price=400_000, leverage=10, take_profit=450_000, ts=2),
                  CancelOrder(user_id="a", order_id=1, ts=3)])
    [canceled] = [e.trigger for e in events if e.HasField("trigger")
                  and e.trigger.action == trigger_pb2.TRIGGER_CANCELED]
    assert (canceled.trigger.trigger_id, canceled.reason) == ("1", "PARENT_CANCELED")


def test_persistence_folds_trigger_events_without_a_row_changing() -> None:
    events = run(scenario())
    without = [e for e in events if not e.HasField("trigger")]
    assert len(without) < len(events)
    rows, plain = ef.fold(events, {}, {}), ef.fold(without, {}, {})
    assert rows.orders == plain.orders and rows.positions == plain.positions
    assert rows.balances == plain.balances and rows.ledger == plain.ledger


def test_outbox_entries_written_before_managed_triggers_still_encode() -> None:
    encoder = EventEncoder(default_markets(), lambda: 1)
    placed = (b'{"@type":"TriggerPlaced","seq":5,"cmd_seq":3,"trigger_id":1,"user_id":"a",'
              b'"market":"BTC-PERP","side":"SELL","kind":"STOP_LOSS","trigger_price":490000,'
              b'"quantity":0,"ts":7}')
    fired = (b'{"@type":"TriggerFired","seq":6,"cmd_seq":4,"trigger_id":1,"user_id":"a",'
             b'"market":"BTC-PERP","mark_price":489000,"quantity":10,"ts":8}')
    armed, done = encoder.encode(placed).trigger, encoder.encode(fired).trigger
    assert (armed.trigger.trigger_price, armed.trigger.quantity, armed.trigger.order_id,
            armed.trigger.limit_price) == ("49000", "", "", "")
    assert (done.action, done.mark_price, done.trigger.quantity) == (
        trigger_pb2.TRIGGER_FIRED, "48900", "0.001")
