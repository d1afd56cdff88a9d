"""An order's terms (post-only, reduce-only, leverage, self-trade prevention, slippage,
brackets) travel from the core's ``OrderAccepted`` over the event link into the order row,
equal to what the engine shows live; a MARKET order has no price. Outbox entries written
before the terms were carried encode as they did then and leave the row's terms NULL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from trademesh.v1 import event_pb2, order_pb2

from engine_svc import codec, command_codec
from engine_svc.core import (
    Deposit,
    Engine,
    MarginMode,
    OrderAccepted,
    OrderType,
    PlaceOrder,
    SetIndexPrice,
    Side,
    StpMode,
    TimeInForce,
)
from engine_svc.core.markets import default_markets
from engine_svc.event_codec import EventEncoder
from engine_svc.order_views import OrderViews
from persistence_svc import event_fold as ef
from tests.unit.persistence.test_trigger_events import scenario as stop_loss_scenario

BTC = "BTC-PERP"
TERMS = ("price", "post_only", "reduce_only", "leverage", "self_trade_prevention",
         "slippage_bps", "stop_loss", "take_profit", "margin_mode", "position_id")


def flavours() -> list[Any]:
    """Every flavour of order on BTC-PERP: post-only with brackets, MARKET with a slippage
    bound, reduce-only, each self-trade prevention mode, isolated and a close of it."""
    deposits = [Deposit(user_id=u, asset="USD", amount=10**10, tx_id=u, ts=1)
                for u in ("a", "b")]
    return [
        *deposits, SetIndexPrice(market=BTC, price=500_000, ts=2),
        PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=3, price=499_000,
                   post_only=True, leverage=10, stp=StpMode.CANCEL_BOTH, stop_loss=480_000,
                   take_profit=520_000, client_order_id="pb", ts=3),
        PlaceOrder(user_id="b", market=BTC, side=Side.SELL, quantity=20, price=501_000,
                   leverage=5, stp=StpMode.CANCEL_MAKER, ts=4),
        PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=2, type=OrderType.MARKET,
                   tif=TimeInForce.IOC, slippage_bps=100, leverage=20, ts=5),
        PlaceOrder(user_id="a", market=BTC, side=Side.SELL, quantity=1, price=502_000,
                   reduce_only=True, tif=TimeInForce.IOC, leverage=20, ts=6),
        PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=4, price=501_000,
                   margin_mode=MarginMode.ISOLATED, leverage=3, ts=7),
        PlaceOrder(user_id="b", market=BTC, side=Side.BUY, quantity=5, price=498_000,
                   leverage=5, ts=8),
        PlaceOrder(user_id="a", market=BTC, side=Side.SELL, quantity=4, type=OrderType.MARKET,
                   position_id=5, slippage_bps=250, leverage=3, ts=9),
    ]


def run(commands: list[Any]) -> tuple[list[event_pb2.EngineEvent], OrderViews]:
    engine, views = Engine(default_markets()), OrderViews()
    encoder = EventEncoder(default_markets(), lambda: 1)
    out: list[event_pb2.EngineEvent] = []
    for command in commands:
        events = engine.apply(command)
        views.apply(command, events)
        out.extend(encoder.encode(command_codec.encode(e)) for e in events)
    return out, views


def accepted(events: list[event_pb2.EngineEvent]) -> dict[str, order_pb2.Order]:
    return {e.order.order_id: e.order for e in events
            if e.HasField("order") and e.order.status == order_pb2.NEW}


def terms(order: order_pb2.Order) -> tuple[object, ...]:
    return tuple(getattr(order, name) for name in TERMS)


def test_the_link_carries_each_orders_terms_as_the_engine_shows_it_live() -> None:
    events, views = run(flavours())
    sent = accepted(events)
    assert sorted(sent, key=int) == ["1", "2", "3", "4", "5", "6", "7"]
    for oid, order in sent.items():
        record = views.get(order.user_id, int(oid))
        assert record is not None
        assert terms(order) == terms(codec.order(record, default_markets())), oid
    bracketed, market, close = sent["1"], sent["3"], sent["7"]
    assert terms(bracketed) == ("49900", True, False, 10, order_pb2.CANCEL_BOTH, 0, "48000",
                                "52000", order_pb2.CROSS, "")
    assert (market.price, market.slippage_bps, market.leverage,
            market.self_trade_prevention) == ("", 100, 20, order_pb2.CANCEL_TAKER)
    assert (sent["4"].reduce_only, sent["2"].self_trade_prevention) == (
        True, order_pb2.CANCEL_MAKER)
    assert (sent["5"].margin_mode, sent["5"].position_id, sent["5"].leverage) == (
        order_pb2.ISOLATED, "5", 3)
    assert (close.reduce_only, close.position_id, close.price, close.slippage_bps) == (
        True, "5", "", 250)  # naming an isolated position makes it reduce-only


def test_the_order_rows_hold_the_terms_the_link_carried() -> None:
    events, _ = run(flavours())
    rows = ef.fold(events, {}, {}).orders
    bracketed, market = rows[1], rows[3]
    assert (bracketed.post_only, bracketed.reduce_only, bracketed.leverage,
            bracketed.self_trade_prevention, bracketed.slippage_bps, bracketed.stop_loss,
            bracketed.take_profit, bracketed.price) == (
        True, False, 10, "CANCEL_BOTH", 0, Decimal("48000"), Decimal("52000"),
        Decimal("49900"))
    assert (market.price, market.slippage_bps, market.stop_loss, market.take_profit) == (
        None, 100, None, None)
    assert (rows[4].reduce_only, rows[7].reduce_only, rows[7].position_id) == (True, True, "5")


def test_an_order_a_trigger_places_shows_its_own_terms_live_and_on_the_link() -> None:
    events, views = run(stop_loss_scenario())
    fired = [o for o in accepted(events).values() if o.type == order_pb2.MARKET]
    assert len(fired) == 1  # the stop-loss's close: reduce-only, whatever set it off
    record = views.get(fired[0].user_id, int(fired[0].order_id))
    assert record is not None
    assert terms(fired[0]) == terms(codec.order(record, default_markets()))
    assert (fired[0].reduce_only, fired[0].leverage, fired[0].price) == (True, 1, "")


def test_a_liquidation_order_shows_its_own_terms_live_and_on_the_link() -> None:
    """a's 10x long at 50,000.0 is liquidated when the index falls to 39,999.9: the
    engine's close is a reduce-only MARKET order bounded by the liquidation slippage."""
    deposits = [Deposit(user_id=u, asset="USD", amount=amount, tx_id=u, ts=1)
                for u, amount in (("a", 10_225_000), ("b", 10**9), ("mm", 10**9))]
    events, views = run([
        *deposits,
        PlaceOrder(user_id="b", market=BTC, side=Side.SELL, quantity=10, price=500_000,
                   leverage=10, ts=2),
        PlaceOrder(user_id="a", market=BTC, side=Side.BUY, quantity=10, price=500_000,
                   leverage=10, ts=3),
        PlaceOrder(user_id="mm", market=BTC, side=Side.BUY, quantity=20, price=399_000,
                   leverage=10, ts=4),
        SetIndexPrice(market=BTC, price=399_999, ts=5)])
    assert any(e.HasField("liquidation") for e in events)
    [close] = [o for o in accepted(events).values() if o.type == order_pb2.MARKET]
    record = views.get(close.user_id, int(close.order_id))
    assert record is not None
    assert terms(close) == terms(codec.order(record, default_markets()))
    spec = default_markets().markets[BTC]
    assert (close.user_id, close.reduce_only, close.leverage, close.slippage_bps,
            close.price) == ("a", True, 1, spec.liquidation_slippage_bps, "")


def test_the_core_event_says_what_the_order_asked_for() -> None:
    engine = Engine(default_markets())
    engine.apply(Deposit(user_id="a", asset="USD", amount=10**10, tx_id="a", ts=1))
    [event] = [e for e in engine.apply(PlaceOrder(
        user_id="a", market=BTC, side=Side.BUY, quantity=1, price=400_000, leverage=7,
        post_only=True, stp=StpMode.CANCEL_MAKER, take_profit=450_000, ts=2))
        if isinstance(e, OrderAccepted)]
    assert (event.post_only, event.reduce_only, event.leverage, event.stp,
            event.slippage_bps, event.stop_loss, event.take_profit) == (
        True, False, 7, StpMode.CANCEL_MAKER, 0, None, 450_000)


OLD_MARKET = (b'{"@type":"OrderAccepted","seq":9,"cmd_seq":4,"order_id":3,"user_id":"a",'
              b'"market":"BTC-PERP","side":"BUY","type":"MARKET","price":505000,"quantity":2,'
              b'"tif":"IOC","client_order_id":null,"ts":5,"position_id":0}')


def test_an_outbox_entry_older_than_the_terms_encodes_as_then_and_leaves_them_null() -> None:
    order = EventEncoder(default_markets(), lambda: 1).encode(OLD_MARKET).order
    assert (order.price, order.self_trade_prevention, order.leverage, order.post_only,
            order.slippage_bps, order.stop_loss) == (
        "50500", order_pb2.SELF_TRADE_PREVENTION_UNSPECIFIED, 0, False, 0, "")
    event = event_pb2.EngineEvent(sequence=9, command_sequence=4, user_id="a", order=order)
    row = ef.fold([event], {}, {}).orders[3]
    assert row.price is None  # a MARKET order's bound is not its price
    assert (row.post_only, row.reduce_only, row.leverage, row.self_trade_prevention,
            row.slippage_bps, row.stop_loss, row.take_profit) == (None,) * 7
