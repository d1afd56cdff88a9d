"""Perp risk with hand-computed numbers: mark price, cross margin, liquidation, funding.

BTC-PERP: tick 0.1, lot 0.0001, USD scale 6 -> notional_unit 10: one lot at 500_000 ticks
($50,000.0) is 5_000_000 USD minor units ($5). Taker fee 5 bps, maker 2 bps, maintenance
margin rate 0.005 (= 1/200), mark band 100 bps, funding cap 75 bps, liquidation fee 50 bps,
liquidation slippage bound 200 bps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

from core_stubs import (
    buy,
    conservation_gaps,
    deposit,
    funded,
    market,
    random_commands,
    reason,
    sell,
)

from engine_svc.core import (
    INSURANCE_FUND,
    CancelReason,
    Command,
    Engine,
    FundingPaid,
    FundingSettled,
    IndexPriceSet,
    OrderCanceled,
    PerpCommandRejected,
    Position,
    PositionLiquidated,
    RejectReason,
    SetIndexPrice,
    SettleFunding,
    Side,
    Withdraw,
    default_markets,
)

P = 500_000
BTC = "BTC-PERP"
USERS = ["a", "b", "c", "mm"]


def index(e: Engine, price: int, mkt: str = BTC) -> list[object]:
    return list(e.apply(SetIndexPrice(market=mkt, price=price, ts=1)))


def long_10(a_deposit: int = 10_225_000) -> Engine:
    """a long 10 lots at P with 10x (margin 5_000_000, fee 25_000) against b short."""
    e = funded(a={"USD": a_deposit}, b={"USD": 10**9}, mm={"USD": 10**9})
    e.apply(sell("b", 10, P))
    e.apply(buy("a", 10, P))
    assert e.positions("a")["BTC-PERP"] == Position(10, 50_000_000, 5_000_000, 0)
    assert e.balances("a")["USD"] == (a_deposit - 5_025_000, 0)
    return e


def zero_gaps(e: Engine) -> None:
    assert set(conservation_gaps(e, USERS).values()) == {0}


def test_mark_is_median_of_index_mid_last_clamped_to_band() -> None:
    e = funded(b={"USD": 10**9}, s={"USD": 10**9})
    [ev] = index(e, P)
    assert isinstance(ev, IndexPriceSet) and (ev.index_price, ev.mark_price) == (P, P)
    e.apply(sell("s", 1, 502_000))
    e.apply(buy("b", 1, 502_000))  # last trade 502_000
    e.apply(buy("b", 1, 499_000))
    e.apply(sell("s", 1, 503_000))  # mid 501_000
    index(e, P)
    assert e.mark_price(BTC) == 501_000  # median(500_000, 501_000, 502_000)
    index(e, 490_000)  # median 501_000, band 4_900
    assert (e.mark_price(BTC), e.index_price(BTC)) == (494_900, 490_000)


def test_index_on_unknown_or_spot_market_or_bad_price_is_rejected() -> None:
    e = funded(a={"USD": 10})
    for mkt, price, why in (("NOPE", P, RejectReason.UNKNOWN_MARKET),
                            ("SOL-USD", P, RejectReason.UNKNOWN_MARKET),
                            (BTC, 0, RejectReason.INVALID_PRICE)):
        [ev] = index(e, price, mkt)
        assert isinstance(ev, PerpCommandRejected) and ev.reason is why
    [ev] = e.apply(SettleFunding(market=BTC))
    assert isinstance(ev, PerpCommandRejected) and ev.reason is RejectReason.INVALID_PRICE
    assert e.mark_price(BTC) is None and e.last_seq == 5


def test_cross_margin_counts_unrealised_loss_and_reports_position_risk() -> None:
    e = long_10()
    index(e, 450_000)  # mark 450_000: U = 45_000_000 - 50_000_000
    risk = e.account_risk("a")
    assert risk == (10_200_000, -5_000_000, 5_200_000, 5_000_000, 225_000)
    [pos] = e.position_risks("a").values()
    assert (pos.size, pos.entry_price, pos.mark_price, pos.unrealized_pnl, pos.margin,
            pos.leverage, pos.liquidation_price) == (
        10, Decimal(P), 450_000, -5_000_000, 5_000_000, Decimal("9.00"), 400_000)
    # available 5_200_000 but free = 5_200_000 - 5_000_000 = 200_000 < 452_250 hold
    assert reason(e.apply(buy("a", 1, 450_000))) is RejectReason.INSUFFICIENT_MARGIN
    assert reason(e.apply(Withdraw(user_id="a", asset="USD", amount=200_001))) \
        is RejectReason.INSUFFICIENT_MARGIN
    assert reason(e.apply(Withdraw(user_id="a", asset="USD", amount=200_000))) is None
    # liquidation price: (50_000_000 - 10_000_000) * 200 / (10 * 1_990) = 402_010.05 -> up
    assert e.position_risks("a")["BTC-PERP"].liquidation_price == 402_011
    # b (short 10, maker fee 10_000): collateral 999_990_000, root
    # (-50_000_000 - 999_990_000) * 200 / (10 * (-10 * 200 - 10 * 1)) = 10_447_661.19 -> down
    assert e.position_risks("b")["BTC-PERP"].liquidation_price == 10_447_661
    zero_gaps(e)


def test_liquidation_exactly_at_threshold_is_not_triggered() -> None:
    e = long_10()
    e.apply(buy("mm", 20, 399_000))  # a bid for the close (mid falls back to index)
    ev = index(e, 400_000)  # E = 10_200_000 + 40_000_000 - 50_000_000 = 200_000 = MM
    assert e.account_risk("a")[2:] == (200_000, 5_000_000, 200_000)
    assert not any(isinstance(x, PositionLiquidated) for x in ev)
    assert e.positions("a")["BTC-PERP"].size == 10


def test_liquidation_one_tick_beyond_closes_on_book_and_charges_fee() -> None:
    e = long_10()
    bid = e.apply(buy("mm", 20, 399_000))
    ev = index(e, 399_999)  # E = 199_900 < MM = ceil(199_999.5) = 200_000
    liq = [x for x in ev if isinstance(x, PositionLiquidated)]
    # close 10 @ 399_000: fee 19_950, PnL -10_100_000, margin 5_000_000 freed:
    # available 5_200_000 - 19_950 + 5_000_000 - 10_100_000 = 80_050; liquidation fee
    # ceil(39_999_900 * 50 / 1e4) = 200_000, capped at 80_050; nothing for the fund to cover
    assert [(x.user_id, x.size, x.mark_price, x.closed_on_book, x.taken_by_fund, x.fee,
             x.fund_covered) for x in liq] == [("a", 10, 399_999, 10, 0, 80_050, 0)]
    assert e.balances("a")["USD"] == (0, 0)
    assert "BTC-PERP" not in e.positions("a") or e.positions("a")["BTC-PERP"].size == 0
    assert e.balances(INSURANCE_FUND)["USD"] == (80_050, 0)
    assert e.open_orders("mm")[0].remaining == 10 and bid
    zero_gaps(e)


def test_liquidation_cancels_open_orders_first() -> None:
    e = long_10(a_deposit=10_225_000 + 502_500)
    e.apply(buy("a", 1, 300_000))
    ev = index(e, 300_000)
    [cx] = [x for x in ev if isinstance(x, OrderCanceled) and x.user_id == "a"]
    assert cx.reason is CancelReason.LIQUIDATION
    assert e.open_orders("a") == []
    zero_gaps(e)


def test_insurance_fund_absorbs_a_gap_the_book_cannot() -> None:
    e = long_10()
    e.apply(deposit(INSURANCE_FUND, "USD", 20_000_000))
    e.apply(buy("mm", 5, 200_000))  # beyond the bound 294_000: not used
    ev = index(e, 300_000)  # E = 10_200_000 + 30_000_000 - 50_000_000 = -9_800_000
    [liq] = [x for x in ev if isinstance(x, PositionLiquidated)]
    # all 10 lots to the fund at 300_000: available 5_200_000 + 5_000_000 - 20_000_000
    # = -9_800_000; no fee can be charged; the fund covers 9_800_000
    assert (liq.closed_on_book, liq.taken_by_fund, liq.fee, liq.fund_covered) == (
        0, 10, 0, 9_800_000)
    assert e.balances("a")["USD"] == (0, 0)
    assert e.balances(INSURANCE_FUND)["USD"] == (10_200_000, 0)
    assert e.positions(INSURANCE_FUND)["BTC-PERP"] == Position(10, 30_000_000, 0, 0)
    assert e.positions("b")["BTC-PERP"].size == -10
    zero_gaps(e)


def _funding_book() -> Engine:
    """a long 10 (10x), c long 5 (2x), b short 15 (5x), at P; mm quotes 499_000/501_000."""
    e = funded(a={"USD": 10**8}, b={"USD": 10**8}, c={"USD": 10**8}, mm={"USD": 10**9})
    e.apply(sell("b", 15, P, leverage=5))
    e.apply(buy("a", 10, P))
    e.apply(buy("c", 5, P, leverage=2))
    e.apply(buy("mm", 1, 499_000))
    e.apply(sell("mm", 1, 501_000))
    return e


def _paid(ev: Sequence[object]) -> dict[str, int]:
    return {x.user_id: x.amount for x in ev if isinstance(x, FundingPaid)}


def test_funding_longs_pay_shorts_at_the_capped_rate_remainder_to_fund() -> None:
    e = _funding_book()
    index(e, 490_000)  # mark: median 500_000 clamped to 494_900
    before = {u: e.balances(u)["USD"][0] for u in "abc"}
    ev = e.apply(SettleFunding(market=BTC, ts=9))
    # premium 4_900 / 490_000 = 1% -> capped at 7_500 ppm; per lot 494_900*10*7_500/1e6
    # = 37_117.5: a pays 371_175, c pays ceil(185_587.5), b gets floor(556_762.5)
    assert _paid(ev) == {"a": -371_175, "b": 556_762, "c": -185_588}
    [done] = [x for x in ev if isinstance(x, FundingSettled)]
    assert (done.mark_price, done.index_price, done.rate_ppm, done.to_insurance_fund) == (
        494_900, 490_000, 7_500, 1)
    assert {u: e.balances(u)["USD"][0] - before[u] for u in "abc"} == _paid(ev)
    assert e.balances(INSURANCE_FUND)["USD"] == (1, 0)
    zero_gaps(e)


def test_funding_shorts_pay_longs_when_mark_below_index() -> None:
    e = _funding_book()
    index(e, 510_000)  # mark 504_900 (median 500_000 clamped up)
    ev = e.apply(SettleFunding(market=BTC))
    # per lot 504_900*10*7_500/1e6 = 37_867.5
    assert _paid(ev) == {"a": 378_675, "b": -568_013, "c": 189_337}
    assert e.balances(INSURANCE_FUND)["USD"] == (1, 0)
    zero_gaps(e)


def test_funding_uncapped_rate_and_zero_rate() -> None:
    e = _funding_book()
    index(e, 499_000)  # mark median(499_000, 500_000, 500_000) = 500_000
    ev = e.apply(SettleFunding(market=BTC))
    # 1_000 * 1e6 // 499_000 = 2_004 ppm; 5_000_000 * 2_004 / 1e6 = 10_020 per lot
    assert _paid(ev) == {"a": -100_200, "b": 150_300, "c": -50_100}
    index(e, P)
    ev = e.apply(SettleFunding(market=BTC))
    assert _paid(ev) == {} and [x.rate_ppm for x in ev if isinstance(x, FundingSettled)] == [0]
    zero_gaps(e)


def test_perp_state_survives_snapshot_and_replays_identically() -> None:
    e = long_10()
    e.apply(deposit(INSURANCE_FUND, "USD", 20_000_000))
    index(e, 300_000)
    image = json.loads(json.dumps(e.snapshot()))
    r = Engine.restore(default_markets(), image)
    assert r.state_hash() == e.state_hash() and r.mark_price(BTC) == 300_000
    tail: list[Command] = [SetIndexPrice(market=BTC, price=310_000), SettleFunding(market=BTC),
            market("b", Side.BUY, 3), SettleFunding(market=BTC)]
    assert [r.apply(c) for c in tail] == [e.apply(c) for c in tail]
    assert r.state_hash() == e.state_hash()
    assert r.position_risks(INSURANCE_FUND) == e.position_risks(INSURANCE_FUND)


def test_house_accounts_cannot_trade() -> None:
    e = funded(a={"USD": 10})
    e.apply(deposit(INSURANCE_FUND, "USD", 10**9))
    assert reason(e.apply(buy(INSURANCE_FUND, 1, P))) is RejectReason.INVALID_ORDER


def _perp_stream() -> list[Command]:
    """A seeded order stream with index moves and funding ticks interleaved."""
    cmds: list[Command] = list(random_commands(seed=5, n=1_500))
    out: list[Command] = []
    price = P
    for i, cmd in enumerate(cmds):
        out.append(cmd)
        if i % 25 == 0:
            price = price + (i * 7919) % 9_001 - 4_500
            out.append(SetIndexPrice(market=BTC, price=price, ts=i))
        if i % 100 == 0:
            out.append(SettleFunding(market=BTC, ts=i))
    return out


def test_replay_and_snapshot_with_index_and_funding_are_deterministic() -> None:
    stream = _perp_stream()
    full, again = Engine(default_markets()), Engine(default_markets())
    events = [full.apply(c) for c in stream]
    assert events == [again.apply(c) for c in stream]
    assert sum(isinstance(e, FundingPaid) for ev in events for e in ev) > 10
    for cut in (300, 1_000):
        part = Engine(default_markets())
        for c in stream[:cut]:
            part.apply(c)
        restored = Engine.restore(default_markets(),
                                  json.loads(json.dumps(part.snapshot())))
        tail = stream[cut:]
        assert [restored.apply(c) for c in tail] == [part.apply(c) for c in tail]
        assert restored.state_hash() == full.state_hash()
    assert set(conservation_gaps(full, [f"u{i}" for i in range(4)]).values()) == {0}


def test_fifty_x_long_liquidation_price_and_one_tick_either_side() -> None:
    # 50x: margin 1_000_000, fee 25_000; collateral 1_125_000 - 25_000 = 1_100_000;
    # root (50_000_000 - 1_100_000) * 200 / 19_900 = 491_457.28 -> 491_458 is the last safe
    # tick: E = 245_800 >= MM 245_729; at 491_457 E = 245_700 < MM ceil(245_728.5)
    for mark, liquidated in ((491_458, False), (491_457, True)):
        e = funded(a={"USD": 1_125_000}, b={"USD": 10**9}, mm={"USD": 10**9})
        e.apply(sell("b", 10, P))
        e.apply(buy("a", 10, P, leverage=50))
        index(e, P)
        [pos] = e.position_risks("a").values()
        assert (pos.margin, pos.leverage, pos.liquidation_price) == (
            1_000_000, Decimal("50.00"), 491_458)
        e.apply(buy("mm", 10, 480_000))
        ev = index(e, mark)
        assert any(isinstance(x, PositionLiquidated) for x in ev) is liquidated
        assert e.balances("a")["USD"][0] >= 0
        zero_gaps(e)
