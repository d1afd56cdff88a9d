"""The cap on a user's live orders per market (TRADEMESH_MAX_OPEN_ORDERS), in the core."""

from __future__ import annotations

from collections.abc import Sequence

from core_stubs import buy, cancel, funded, order_id, sell

from engine_svc.core import (
    Engine,
    OpenOrderLimitSet,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectReason,
    SetOpenOrderLimit,
    Side,
    TimeInForce,
    default_markets,
)

P = 500_000


def _rejection(events: Sequence[object]) -> RejectReason | None:
    found = [e.reason for e in events if isinstance(e, OrderRejected)]
    return found[0] if found else None


def test_default_is_200_and_the_command_sets_it() -> None:
    e = Engine(default_markets())
    assert e.max_open_orders == 200
    events = e.apply(SetOpenOrderLimit(limit=3, ts=7))
    assert [(type(x), x.limit, x.ts) for x in events if isinstance(x, OpenOrderLimitSet)] \
        == [(OpenOrderLimitSet, 3, 7)]
    assert e.max_open_orders == 3
    e.apply(SetOpenOrderLimit(limit=0))  # below 1: unchanged, reported as in force
    assert e.max_open_orders == 3


def test_gtc_limit_refused_at_the_cap_per_user_and_market() -> None:
    e = funded(a={"USD": 10**12}, b={"USD": 10**12})
    e.apply(SetOpenOrderLimit(limit=2))
    first = order_id(e.apply(buy("a", 1, P - 10)))
    order_id(e.apply(buy("a", 1, P - 11)))
    assert _rejection(e.apply(buy("a", 1, P - 12))) is RejectReason.TOO_MANY_OPEN_ORDERS
    assert _rejection(e.apply(sell("a", 1, P + 10))) is RejectReason.TOO_MANY_OPEN_ORDERS
    assert _rejection(e.apply(buy("b", 1, P - 12))) is None  # another user
    assert _rejection(e.apply(PlaceOrder(  # another market
        user_id="a", market="ETH-PERP", side=Side.BUY, quantity=1, price=100_000))) is None
    e.apply(cancel("a", first))  # a live order gone frees a place
    assert _rejection(e.apply(buy("a", 1, P - 12))) is None
    assert len(e.open_orders("a", "BTC-PERP")) == 2


def test_orders_that_never_rest_are_not_capped() -> None:
    e = funded(a={"USD": 10**12}, b={"USD": 10**12})
    e.apply(SetOpenOrderLimit(limit=1))
    order_id(e.apply(sell("b", 5, P)))
    order_id(e.apply(buy("a", 1, P - 10)))
    ioc = PlaceOrder(user_id="a", market="BTC-PERP", side=Side.BUY, quantity=1, price=P,
                     tif=TimeInForce.IOC)
    market = PlaceOrder(user_id="a", market="BTC-PERP", side=Side.BUY, quantity=1,
                        type=OrderType.MARKET)
    assert _rejection(e.apply(ioc)) is None
    assert _rejection(e.apply(market)) is None


def test_the_limit_survives_snapshot_and_replay() -> None:
    e = funded(a={"USD": 10**12})
    e.apply(SetOpenOrderLimit(limit=1))
    order_id(e.apply(buy("a", 1, P - 10)))
    restored = Engine.restore(default_markets(), e.snapshot())
    assert restored.max_open_orders == 1
    for engine in (e, restored):
        assert _rejection(engine.apply(buy("a", 1, P - 11))) \
            is RejectReason.TOO_MANY_OPEN_ORDERS
    assert restored.state_hash() == e.state_hash()
