"""The hot paths keep the public shapes: ladders and cached ledger handles."""

from __future__ import annotations

import random

import pytest
from core_stubs import buy, cancel, funded, order_id, sell

from engine_svc.core import Engine, Side, default_markets
from engine_svc.core.book import Ladder, Order
from engine_svc.core.enums import OrderType, TimeInForce


@pytest.mark.parametrize("is_bid", [True, False])
def test_ladder_keeps_best_first_under_random_churn(is_bid: bool) -> None:
    rng = random.Random(5)
    ladder, live = Ladder(is_bid), []
    side = Side.BUY if is_bid else Side.SELL
    for i in range(3_000):
        if live and rng.random() < 0.45:
            ladder.remove(live.pop(rng.randrange(len(live))))
        else:
            order = Order(i, "u", "m", side, OrderType.LIMIT, rng.randint(1, 200), 1,
                          TimeInForce.GTC, 0)
            ladder.add(order)
            live.append(order)
        prices = sorted({o.price for o in live}, reverse=is_bid)
        assert [p for p, _ in ladder.depth(10**6)] == prices
        assert ladder.best_price() == (prices[0] if prices else None)


def test_restored_orders_release_and_settle_their_own_balances() -> None:
    e = funded(a={"USD": 10**10}, b={"USD": 10**10})
    resting = order_id(e.apply(sell("a", 5, 500_000)))
    order_id(e.apply(sell("a", 3, 500_010)))
    restored = Engine.restore(default_markets(), e.snapshot())
    for engine in (e, restored):
        engine.apply(buy("b", 2, 500_000))
        engine.apply(cancel("a", resting))
        engine.apply(buy("b", 3, 500_010))
    assert restored.state_hash() == e.state_hash()
    assert restored.balances("a") == e.balances("a")
    assert restored.balances("a")["USD"][1] == 0
