"""Order types and matching rules, with exact books and balances (BTC-PERP, SOL-USD)."""

from __future__ import annotations

from collections.abc import Sequence

from core_stubs import buy, cancel, fills, funded, market, order_id, reason, sell

from engine_svc.core import (
    CancelByClientId,
    CancelReason,
    OrderCanceled,
    OrderReplaced,
    OrderStatus,
    PlaceOrder,
    RejectReason,
    ReplaceOrder,
    Side,
    StpMode,
    TimeInForce,
)

USD = 10**12
P = 500_000  # $50,000.0 in BTC-PERP ticks


def canceled(events: Sequence[object]) -> list[CancelReason]:
    return [e.reason for e in events if isinstance(e, OrderCanceled)]


def test_price_time_priority_and_maker_price() -> None:
    e = funded(a={"USD": USD}, b={"USD": USD}, c={"USD": USD})
    first = order_id(e.apply(sell("a", 3, P + 2)))
    second = order_id(e.apply(sell("b", 3, P + 1)))
    third = order_id(e.apply(sell("c", 3, P + 1)))
    out = fills(e.apply(buy("c", 5, P + 5, stp=StpMode.CANCEL_MAKER)))
    # c's own order at P+1 is canceled by STP (cancel maker), b's fills first
    assert [(f.maker_order_id, f.price, f.quantity) for f in out] == [
        (second, P + 1, 3), (first, P + 2, 2)]
    assert e.order_status("c", third) is OrderStatus.CANCELED
    assert e.depth("BTC-PERP") == ([], [(P + 2, 1)])
    bids, asks = e.depth("BTC-PERP")
    assert e.best_bid_ask("BTC-PERP") == (None, P + 2)
    assert not bids and asks


def test_same_price_is_fifo() -> None:
    e = funded(a={"USD": USD}, b={"USD": USD}, c={"USD": USD})
    a = order_id(e.apply(buy("a", 2, P)))
    b = order_id(e.apply(buy("b", 2, P)))
    out = fills(e.apply(sell("c", 3, P - 10)))
    assert [(f.maker_order_id, f.quantity, f.maker_remaining) for f in out] == [
        (a, 2, 0), (b, 1, 1)]
    assert e.order_status("a", a) is OrderStatus.FILLED
    assert e.get_order("b", b).status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]


def test_ioc_remainder_canceled_and_fok_all_or_nothing() -> None:
    e = funded(a={"USD": USD}, b={"USD": USD})
    e.apply(sell("a", 2, P))
    ev = e.apply(buy("b", 5, P, tif=TimeInForce.IOC))
    assert sum(f.quantity for f in fills(ev)) == 2
    assert canceled(ev) == [CancelReason.IOC_REMAINDER]
    e.apply(sell("a", 2, P))
    before = e.state_hash()
    ev = e.apply(buy("b", 3, P, tif=TimeInForce.FOK))
    assert reason(ev) is RejectReason.FOK_NOT_FILLABLE
    after = e.snapshot()
    assert after["balances"] == e.restore(e.config, after).snapshot()["balances"]
    assert e.depth("BTC-PERP") == ([], [(P, 2)])
    assert before != e.state_hash()  # only the sequence numbers moved
    ev = e.apply(buy("b", 2, P, tif=TimeInForce.FOK))
    assert sum(f.quantity for f in fills(ev)) == 2


def test_post_only() -> None:
    e = funded(a={"USD": USD}, b={"USD": USD})
    e.apply(sell("a", 2, P))
    assert reason(e.apply(buy("b", 1, P, post_only=True))) is RejectReason.POST_ONLY_WOULD_TAKE
    assert reason(e.apply(buy("b", 1, P - 1, post_only=True))) is None
    assert reason(e.apply(buy("b", 1, P - 1, post_only=True, tif=TimeInForce.IOC))) is \
        RejectReason.INVALID_ORDER
    assert e.depth("BTC-PERP") == ([(P - 1, 1)], [(P, 2)])


def test_market_order_slippage_bound_and_no_liquidity() -> None:
    e = funded(a={"USD": USD}, b={"USD": USD})
    assert reason(e.apply(market("b", Side.BUY, 1))) is RejectReason.NO_LIQUIDITY
    e.apply(sell("a", 1, P))
    e.apply(sell("a", 1, P + 4_000))  # +0.8 %
    e.apply(sell("a", 1, P + 6_000))  # +1.2 %, beyond 100 bps
    ev = e.apply(market("b", Side.BUY, 3, slippage_bps=100))
    assert [f.price for f in fills(ev)] == [P, P + 4_000]
    assert canceled(ev) == [CancelReason.SLIPPAGE_BOUND]
    assert e.depth("BTC-PERP") == ([], [(P + 6_000, 1)])
    assert e.balances("b")["USD"][1] == 0  # nothing stays locked


def test_self_trade_prevention_modes() -> None:
    for mode, maker_left, taker_fills in [
        (StpMode.CANCEL_TAKER, [(P, 1)], 0),
        (StpMode.CANCEL_MAKER, [], 1),
        (StpMode.CANCEL_BOTH, [], 0),
    ]:
        e = funded(a={"USD": USD}, b={"USD": USD})
        e.apply(sell("a", 1, P))
        e.apply(sell("b", 1, P + 1))
        ev = e.apply(buy("a", 2, P + 1, stp=mode))
        assert e.depth("BTC-PERP")[1] == maker_left + ([(P + 1, 1)] if not taker_fills else [])
        assert len(fills(ev)) == taker_fills
        assert e.depth("BTC-PERP")[0] == ([(P + 1, 1)] if mode is StpMode.CANCEL_MAKER else [])


def test_client_order_ids() -> None:
    e = funded(a={"USD": USD})
    oid = order_id(e.apply(buy("a", 1, P, client_order_id="x1")))
    assert reason(e.apply(buy("a", 1, P, client_order_id="x1"))) is \
        RejectReason.DUPLICATE_CLIENT_ORDER_ID
    ev = e.apply(CancelByClientId(user_id="a", client_order_id="x1"))
    assert canceled(ev) == [CancelReason.USER]
    assert e.order_status("a", oid) is OrderStatus.CANCELED
    assert reason(e.apply(buy("a", 1, P, client_order_id="x1"))) is None  # reusable
    assert reason(e.apply(CancelByClientId(user_id="b", client_order_id="x1"))) is \
        RejectReason.ORDER_NOT_FOUND


def test_cancel_never_reveals_foreign_orders() -> None:
    e = funded(a={"USD": USD}, b={"USD": USD})
    oid = order_id(e.apply(buy("a", 1, P)))
    assert reason(e.apply(cancel("b", oid))) is RejectReason.ORDER_NOT_FOUND
    assert e.get_order("b", oid) is None
    assert reason(e.apply(cancel("a", oid))) is None
    assert reason(e.apply(cancel("a", oid))) is RejectReason.ORDER_ALREADY_FINAL
    assert reason(e.apply(cancel("b", oid))) is RejectReason.ORDER_NOT_FOUND
    assert reason(e.apply(cancel("a", 999))) is RejectReason.ORDER_NOT_FOUND


def test_replace_keeps_priority_only_when_shrinking() -> None:
    e = funded(a={"USD": USD}, b={"USD": USD}, c={"USD": USD})
    a = order_id(e.apply(sell("a", 5, P)))
    b = order_id(e.apply(sell("b", 5, P)))
    ev = e.apply(ReplaceOrder(user_id="a", order_id=a, quantity=3))
    assert [x.priority_kept for x in ev if isinstance(x, OrderReplaced)] == [True]
    assert fills(e.apply(buy("c", 1, P)))[0].maker_order_id == a
    ev = e.apply(ReplaceOrder(user_id="a", order_id=a, quantity=4))  # grow: back of queue
    assert [x.priority_kept for x in ev if isinstance(x, OrderReplaced)] == [False]
    assert fills(e.apply(buy("c", 1, P)))[0].maker_order_id == b
    # a new price that crosses matches at once
    ev = e.apply(ReplaceOrder(user_id="b", order_id=b, price=P - 1))
    assert e.depth("BTC-PERP") == ([], [(P - 1, 4), (P, 4)])
    e.apply(buy("c", 2, P - 5))
    ev = e.apply(ReplaceOrder(user_id="b", order_id=b, price=P - 5))
    assert [(f.maker_user_id, f.quantity) for f in fills(ev)] == [("c", 2)]
    assert reason(e.apply(ReplaceOrder(user_id="c", order_id=a, quantity=1))) is \
        RejectReason.ORDER_NOT_FOUND


def test_invalid_commands_are_rejected_values() -> None:
    e = funded(a={"USD": USD})
    bad = [
        (PlaceOrder(user_id="a", market="NOPE", side=Side.BUY, quantity=1, price=P),
         RejectReason.UNKNOWN_MARKET),
        (buy("a", 0, P), RejectReason.INVALID_QUANTITY),
        (buy("a", 1, 0), RejectReason.INVALID_PRICE),
        (buy("a", 1, -5), RejectReason.INVALID_PRICE),
        (buy("a", 10**17, P), RejectReason.INVALID_QUANTITY),
        (buy("a", 1, P, leverage=51), RejectReason.INVALID_LEVERAGE),
        (buy("a", 1, P, leverage=0), RejectReason.INVALID_LEVERAGE),
        (PlaceOrder(user_id="a", market="BTC-PERP", side=Side.BUY, quantity=1),
         RejectReason.INVALID_PRICE),
        (market("a", Side.BUY, 1, slippage_bps=-1), RejectReason.INVALID_SLIPPAGE),
        (buy("a", 1, 150_000, "SOL-USD", reduce_only=True), RejectReason.INVALID_ORDER),
        (buy("a", 10**7, P), RejectReason.INSUFFICIENT_MARGIN),
        (buy("a", 1, P, client_order_id=""), RejectReason.INVALID_ORDER),
    ]
    for cmd, expected in bad:
        assert reason(e.apply(cmd)) is expected, cmd
    assert e.last_seq == 1 + len(bad)
    assert e.balances("a") == {"USD": (USD, 0)}
