"""Spot locks, perp margin and PnL, fees, transfers, queries and sequence numbers."""

from __future__ import annotations

from core_stubs import (
    buy,
    cancel,
    conservation_gaps,
    deposit,
    engine,
    fills,
    funded,
    market,
    order_id,
    reason,
    sell,
)

from engine_svc.core import (
    FEE_ACCOUNT,
    BalanceChanged,
    CancelAll,
    CancelReason,
    Command,
    DepositApplied,
    OrderCanceled,
    Position,
    RejectReason,
    Side,
    TransferRejected,
    Withdraw,
)

S = 150_000  # $150.000 in SOL-USD ticks; one lot (0.01 SOL) = 1_500_000 USD minor units
P = 500_000  # $50,000.0 in BTC-PERP ticks; one lot (0.0001 BTC) = 5_000_000 USD minor units


def test_spot_buy_locks_quote_and_releases_on_maker_fill_and_cancel() -> None:
    e = funded(b={"USD": 10_000_000}, s={"SOL": 5_000_000})
    bid = order_id(e.apply(buy("b", 2, S, "SOL-USD")))
    assert e.balances("b") == {"USD": (10_000_000 - 3_003_000, 3_003_000)}
    ev = e.apply(sell("s", 1, S - 1_000, "SOL-USD"))
    [f] = fills(ev)
    assert (f.price, f.quantity, f.taker_fee, f.maker_fee) == (S, 1, 1_500, 0)
    assert e.balances("s") == {"SOL": (4_000_000, 0), "USD": (1_498_500, 0)}
    assert e.balances("b") == {"SOL": (1_000_000, 0), "USD": (6_998_500, 1_501_500)}
    assert e.balances(FEE_ACCOUNT) == {"USD": (1_500, 0)}
    e.apply(cancel("b", bid))
    assert e.balances("b")["USD"] == (8_500_000, 0)
    assert conservation_gaps(e, ["b", "s"]) == {"USD": 0, "BTC": 0, "ETH": 0, "SOL": 0}


def test_spot_taker_buy_at_better_price_unlocks_difference() -> None:
    e = funded(b={"USD": 10_000_000}, s={"SOL": 5_000_000})
    e.apply(sell("s", 1, 140_000, "SOL-USD"))
    assert e.balances("s")["SOL"] == (4_000_000, 1_000_000)
    e.apply(buy("b", 1, S, "SOL-USD"))
    assert e.balances("b") == {"SOL": (1_000_000, 0), "USD": (10_000_000 - 1_401_400, 0)}
    assert e.balances("s") == {"SOL": (4_000_000, 0), "USD": (1_400_000, 0)}


def test_spot_no_double_spend() -> None:
    e = funded(b={"USD": 10_000_000}, s={"SOL": 1_000_000})
    assert reason(e.apply(buy("b", 6, S, "SOL-USD"))) is None
    assert reason(e.apply(buy("b", 1, S, "SOL-USD"))) is RejectReason.INSUFFICIENT_BALANCE
    assert reason(e.apply(sell("s", 1, S + 1, "SOL-USD"))) is None
    assert reason(e.apply(sell("s", 1, S + 1, "SOL-USD"))) is RejectReason.INSUFFICIENT_BALANCE
    assert reason(e.apply(Withdraw(user_id="b", asset="USD", amount=991_001))) is \
        RejectReason.INSUFFICIENT_BALANCE


def test_spot_market_buy_locks_at_slippage_bound() -> None:
    e = funded(b={"USD": 10_000_000}, s={"SOL": 5_000_000})
    e.apply(sell("s", 1, S, "SOL-USD"))
    # bound = floor(150000 * 1.01) = 151500 ticks; hold 1 lot = 1_515_000 + 1_515 fee
    assert reason(e.apply(market("poor", Side.BUY, 1, "SOL-USD"))) is \
        RejectReason.INSUFFICIENT_BALANCE
    e.apply(deposit("poor", "USD", 1_516_515))
    assert len(fills(e.apply(market("poor", Side.BUY, 1, "SOL-USD")))) == 1
    assert e.balances("poor")["USD"] == (1_516_515 - 1_501_500, 0)


def test_perp_open_close_with_pnl_and_fees() -> None:
    e = funded(a={"USD": 10**10}, b={"USD": 10**10}, c={"USD": 10**10})
    e.apply(sell("a", 10, P))
    assert e.balances("a")["USD"] == (10**10 - 5_025_000, 5_025_000)  # 10 x (500_000 + 2_500)
    e.apply(buy("b", 4, P + 10))
    assert e.positions("b") == {"BTC-PERP": Position(4, 20_000_000, 2_000_000, 0)}
    assert e.positions("a") == {"BTC-PERP": Position(-4, -20_000_000, 2_000_000, 0)}
    assert e.balances("b")["USD"] == (10**10 - 2_000_000 - 10_000, 0)
    e.apply(CancelAll(user_id="a", market="BTC-PERP"))
    e.apply(buy("c", 4, P + 1_000))
    [f] = fills(e.apply(sell("b", 4, P + 1_000)))
    assert f.taker_fee == 10_020  # ceil(20_040_000 * 5 / 10_000)
    assert e.positions("b") == {"BTC-PERP": Position(0, 0, 0, 40_000)}
    assert e.balances("b")["USD"] == (10**10 - 10_000 - 10_020 + 40_000, 0)
    assert conservation_gaps(e, ["a", "b", "c"])["USD"] == 0


def test_perp_flip_and_partial_close_release_margin_proportionally() -> None:
    e = funded(a={"USD": 10**10}, b={"USD": 10**10})
    e.apply(sell("a", 4, P))
    e.apply(buy("b", 4, P))
    e.apply(buy("a", 6, P))
    e.apply(sell("b", 6, P))  # b: close 4, open 2 short
    assert e.positions("b") == {"BTC-PERP": Position(-2, -10_000_000, 1_000_000, 0)}
    assert e.positions("a") == {"BTC-PERP": Position(2, 10_000_000, 1_000_000, 0)}
    e.apply(sell("b", 1, P - 100_000))  # rests
    e.apply(buy("a", 3, P + 1, leverage=3))
    assert e.positions("a")["BTC-PERP"].size == 3
    assert conservation_gaps(e, ["a", "b"])["USD"] == 0


def test_reduce_only_clamps_and_never_rests() -> None:
    e = funded(a={"USD": 10**10}, b={"USD": 10**10})
    e.apply(sell("a", 4, P))
    e.apply(buy("b", 4, P))
    assert reason(e.apply(buy("b", 1, P, reduce_only=True))) is \
        RejectReason.REDUCE_ONLY_WOULD_INCREASE
    e.apply(buy("a", 2, P - 5))
    ev = e.apply(sell("b", 10, P - 10, reduce_only=True))
    assert sum(f.quantity for f in fills(ev)) == 2
    assert [x.reason for x in ev if isinstance(x, OrderCanceled)] == [CancelReason.REDUCE_ONLY]
    assert e.positions("b")["BTC-PERP"].size == 2
    assert e.balances("b")["USD"][1] == 0


def test_deposits_are_idempotent_and_withdrawals_checked() -> None:
    e = engine()
    ev = e.apply(deposit("u", "USD", 1_000, "t1"))
    assert isinstance(ev[0], DepositApplied)
    ev = e.apply(deposit("u", "USD", 1_000, "t1"))
    assert isinstance(ev[0], TransferRejected)
    assert ev[0].reason is RejectReason.DUPLICATE_TRANSACTION
    assert e.balances("u") == {"USD": (1_000, 0)}
    assert reason(e.apply(deposit("u", "DOGE", 1))) is RejectReason.UNKNOWN_ASSET
    assert reason(e.apply(deposit("u", "USD", 0))) is RejectReason.INVALID_AMOUNT
    assert reason(e.apply(deposit("u", "USD", 10**18))) is RejectReason.INVALID_AMOUNT
    w = Withdraw(user_id="u", asset="USD", amount=400, tx_id="w1")
    assert reason(e.apply(w)) is None
    assert reason(e.apply(w)) is RejectReason.DUPLICATE_TRANSACTION
    assert reason(e.apply(Withdraw(user_id="u", asset="USD", amount=601))) is \
        RejectReason.INSUFFICIENT_BALANCE
    assert e.balances("u") == {"USD": (600, 0)}
    assert e.totals("USD") == (1_000, 400)


def test_sequence_numbers_are_gap_free_and_balance_events_batched() -> None:
    e = funded(a={"USD": 10**10}, b={"USD": 10**10})
    seen: list[int] = []
    commands: list[Command] = [
        sell("a", 3, P), buy("b", 1, P), buy("b", 1, P), CancelAll(user_id="a"),
        CancelAll(user_id="a", market="NOPE"),
    ]
    for cmd in commands:
        ev = e.apply(cmd)
        assert all(x.cmd_seq == e.last_seq for x in ev)
        seen += [x.seq for x in ev]
        keys = [(x.user_id, x.asset) for x in ev if isinstance(x, BalanceChanged)]
        assert len(keys) == len(set(keys))
    assert seen == list(range(seen[0], seen[0] + len(seen)))
    assert e.event_seq == seen[-1] and e.last_seq == 7


def test_queries() -> None:
    e = funded(a={"USD": 10**10}, b={"USD": 10**10})
    e.apply(sell("a", 2, P))
    e.apply(sell("a", 3, P + 10))
    oid = order_id(e.apply(buy("b", 1, P - 10, client_order_id="c1")))
    q = e.quote("BTC-PERP", Side.BUY, 4)
    assert (q.fillable, q.worst_price, q.notional) == (4, P + 10, (2 * P + 2 * (P + 10)) * 10)
    assert str(q.avg_price) == "50000.5"
    assert e.quote("BTC-PERP", Side.BUY, 100).fillable == 5
    assert e.depth("BTC-PERP", 1) == ([(P - 10, 1)], [(P, 2)])
    [view] = e.open_orders("b")
    assert (view.order_id, view.client_order_id, view.remaining) == (oid, "c1", 1)
    assert e.open_orders("b", "ETH-PERP") == []
    e.apply(buy("b", 1, P))
    assert e.recent_trades("BTC-PERP")[-1][1:4] == (P, 1, "BUY")
    assert e.ticker("BTC-PERP")["last_price"] == P
