"""Isolated positions with hand-computed numbers (see :mod:`engine_svc.core.isolated`).

BTC-PERP as in test_core_perp: one lot at P = 500_000 ticks is 5_000_000 USD minor units;
taker fee 5 bps, maker 2 bps, maintenance 1/200, liquidation fee 50 bps. "a" opens
isolated longs at 10x against "b"'s resting sells: 10 lots = 50_000_000 notional, margin
5_000_000, taker fee 25_000.
"""

from __future__ import annotations

import json

from core_stubs import buy, conservation_gaps, deposit, funded, market, reason, sell

from engine_svc.core import (
    INSURANCE_FUND,
    BalanceChanged,
    CancelReason,
    Engine,
    Event,
    FundingPaid,
    MarginMode,
    OrderAccepted,
    OrderCanceled,
    PlaceTrigger,
    Position,
    PositionChanged,
    PositionLiquidated,
    RejectReason,
    SetIndexPrice,
    SettleFunding,
    Side,
    TriggerFired,
    TriggerKind,
    TriggerPlaced,
    default_markets,
)
from engine_svc.core.state import MAX_ISOLATED_POSITIONS

P = 500_000
BTC = "BTC-PERP"
ISO = MarginMode.ISOLATED
USERS = ["a", "b", "c", "mm"]


def index(e: Engine, price: int) -> list[Event]:
    return list(e.apply(SetIndexPrice(market=BTC, price=price, ts=1)))


def accepted(events: list[Event]) -> OrderAccepted:
    return next(x for x in events if isinstance(x, OrderAccepted))


def gaps_zero(e: Engine) -> None:
    assert set(conservation_gaps(e, USERS).values()) == {0}
    for user in USERS:  # an isolated account holds no cash between commands
        for pid in e.isolated_positions(user):
            assert e.balances(f"__iso:{pid}").get("USD", (0, 0)) == (0, 0)


def iso_long(e: Engine, qty: int = 10, user: str = "a", **kw: object) -> int:
    """``user`` opens an isolated long of ``qty`` lots at P against b; its position id."""
    e.apply(sell("b", qty, P))
    ev = e.apply(buy(user, qty, P, margin_mode=ISO, **kw))
    pid = accepted(ev).order_id
    assert accepted(ev).position_id == pid
    return pid


def test_an_isolated_order_opens_a_position_of_its_own() -> None:
    e = funded(a={"USD": 20_000_000}, b={"USD": 10**9})
    e.apply(sell("b", 10, P))
    ev = e.apply(buy("a", 10, P, margin_mode=ISO))
    pid = accepted(ev).order_id
    [pc] = [x for x in ev if isinstance(x, PositionChanged) and x.user_id == "a"]
    assert (pc.market, pc.position_id, pc.size, pc.cost, pc.margin) == (
        BTC, pid, 10, 50_000_000, 5_000_000)
    # no event names the position's own account
    assert not any(isinstance(x, BalanceChanged) and x.user_id.startswith("__")
                   and x.user_id != "__fees__" for x in ev)
    assert e.isolated_positions("a") == {pid: (BTC, Position(10, 50_000_000, 5_000_000, 0))}
    assert BTC not in e.positions("a")  # the cross position is untouched
    assert e.balances("a")["USD"] == (20_000_000 - 5_025_000, 0)
    risk = e.isolated_risks("a")[pid]
    # E(m) = 5_000_000 + 100 m - 50_000_000 = MM(m) = m / 2  ->  m = 452_261.3, up
    assert (risk.size, risk.margin, risk.liquidation_price) == (10, 5_000_000, 452_262)
    gaps_zero(e)


def test_cross_and_two_isolated_positions_in_one_market_stay_apart() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9})
    p1 = iso_long(e, 10)
    p2 = iso_long(e, 4, leverage=2)
    e.apply(sell("b", 3, P))
    e.apply(buy("a", 3, P))  # cross
    assert e.positions("a")[BTC] == Position(3, 15_000_000, 1_500_000, 0)
    assert e.isolated_positions("a") == {
        p1: (BTC, Position(10, 50_000_000, 5_000_000, 0)),
        p2: (BTC, Position(4, 20_000_000, 10_000_000, 0)),
    }
    # a cross sell reduces the cross position only
    e.apply(buy("b", 3, P))
    e.apply(sell("a", 3, P, reduce_only=True))
    assert BTC not in e.positions("a")  # flat, nothing realized
    assert len(e.isolated_positions("a")) == 2
    gaps_zero(e)


def test_close_an_isolated_position_by_half_then_the_rest() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9}, mm={"USD": 10**9})
    pid = iso_long(e, 10)
    other = iso_long(e, 2)
    e.apply(buy("mm", 100, 510_000))
    cash = e.balances("a")["USD"][0]
    ev = e.apply(market("a", Side.SELL, 5, position_id=pid))
    assert accepted(ev).position_id == pid
    # 5 lots at 510_000: PnL 5 * 10_000 * 10 = 500_000; margin share 2_500_000 freed; taker
    # fee ceil(25_500_000 * 5 / 1e4) = 12_750
    assert e.isolated_positions("a")[pid] == (BTC, Position(5, 25_000_000, 2_500_000, 500_000))
    assert e.balances("a")["USD"][0] == cash + 2_500_000 + 500_000 - 12_750
    # more than is left is clamped to the position; the other position is untouched
    e.apply(market("a", Side.SELL, 50, position_id=pid))
    assert pid not in e.isolated_positions("a")
    assert e.isolated_positions("a")[other][1].size == 2
    # a closed id is gone for good
    assert reason(e.apply(market("a", Side.SELL, 1, position_id=pid))) is \
        RejectReason.POSITION_NOT_FOUND
    gaps_zero(e)


def test_orders_naming_a_position_are_checked() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9}, c={"USD": 10**8})
    pid = iso_long(e, 10)
    # another user's position, a missing id, another market: not found
    assert reason(e.apply(market("c", Side.SELL, 1, position_id=pid))) is \
        RejectReason.POSITION_NOT_FOUND
    assert reason(e.apply(market("a", Side.SELL, 1, position_id=999))) is \
        RejectReason.POSITION_NOT_FOUND
    assert reason(e.apply(market("a", Side.SELL, 1, "ETH-PERP", position_id=pid))) is \
        RejectReason.POSITION_NOT_FOUND
    # the wrong side would increase it
    assert reason(e.apply(market("a", Side.BUY, 1, position_id=pid))) is \
        RejectReason.REDUCE_ONLY_WOULD_INCREASE
    # spot, or ISOLATED + reduce-only without a position: not a margin mode
    e.apply(deposit("a", "SOL", 10**9))
    assert reason(e.apply(sell("a", 1, 150_000, "SOL-USD", margin_mode=ISO))) is \
        RejectReason.INVALID_MARGIN_MODE
    assert reason(e.apply(market("a", Side.SELL, 1, margin_mode=ISO, reduce_only=True))) is \
        RejectReason.INVALID_MARGIN_MODE
    # a position-reducing order carries no stop-loss of its own
    assert reason(e.apply(sell("a", 1, P, position_id=pid, stop_loss=P + 1))) is \
        RejectReason.INVALID_ORDER
    # nothing moved
    assert e.isolated_positions("a")[pid][1] == Position(10, 50_000_000, 5_000_000, 0)
    gaps_zero(e)


def test_an_isolated_liquidation_never_touches_the_cross_account() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9})
    e.apply(deposit(INSURANCE_FUND, "USD", 10**8))
    pid = iso_long(e, 10)
    cash = e.balances("a")["USD"]
    fund = e.balances(INSURANCE_FUND)["USD"][0]
    ev = index(e, 452_262)  # its liquidation price: still safe
    assert not any(isinstance(x, PositionLiquidated) for x in ev)
    ev = index(e, 440_000)  # no bids: all 10 lots to the fund at 440_000
    [liq] = [x for x in ev if isinstance(x, PositionLiquidated)]
    # PnL 10 * -60_000 * 10 = -6_000_000 against margin 5_000_000: the fund pays 1_000_000;
    # nothing is left for a fee
    assert (liq.user_id, liq.position_id, liq.size, liq.taken_by_fund, liq.fee,
            liq.fund_covered) == ("a", pid, 10, 10, 0, 1_000_000)
    assert e.balances("a")["USD"] == cash  # the cross collateral is whole
    assert e.balances(INSURANCE_FUND)["USD"][0] == fund - 1_000_000
    assert e.positions(INSURANCE_FUND)[BTC] == Position(10, 44_000_000, 0, 0)
    assert e.isolated_positions("a") == {}
    gaps_zero(e)


def test_an_isolated_liquidation_pays_the_remainder_to_the_owner() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9}, mm={"USD": 10**9})
    pid = iso_long(e, 10)
    e.apply(buy("mm", 100, 451_000))
    cash = e.balances("a")["USD"][0]
    ev = index(e, 452_000)  # below 452_262; mark stays 452_000 (mid is the index)
    [liq] = [x for x in ev if isinstance(x, PositionLiquidated)]
    assert (liq.position_id, liq.closed_on_book, liq.taken_by_fund) == (pid, 10, 0)
    # sold 10 at 451_000: PnL -4_900_000, margin 5_000_000 back, taker fee 22_550; the
    # liquidation fee ceil(45_200_000 * 50 / 1e4) = 226_000 is capped at the 77_450 left
    assert liq.fee == 77_450
    assert e.balances("a")["USD"][0] == cash
    gaps_zero(e)


def test_cross_losses_and_isolated_losses_do_not_mix() -> None:
    e = funded(a={"USD": 5_025_000 + 1_005_000}, b={"USD": 10**9}, mm={"USD": 10**9})
    pid = iso_long(e, 10)
    e.apply(buy("mm", 1, 470_000))
    index(e, 470_000)  # the isolated long is 3_000_000 under water, not liquidated
    assert e.isolated_risks("a")[pid].unrealized_pnl == -3_000_000
    # the cross account still commits all it holds: 1 lot at 10x + fee = 502_500 (x2)
    e.apply(sell("b", 2, P))
    ev = e.apply(buy("a", 2, P))
    assert reason(ev) is None
    assert e.account_risk("a").unrealized_pnl == 2 * -30_000 * 10  # its own long only
    gaps_zero(e)


def test_funding_is_paid_from_the_isolated_margin_and_received_in_cross() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9}, mm={"USD": 10**9})
    e.apply(sell("b", 10, P, leverage=5))
    e.apply(buy("a", 10, P, margin_mode=ISO))
    pid = next(iter(e.isolated_positions("a")))
    e.apply(buy("mm", 1, 499_000))
    e.apply(sell("mm", 1, 501_000))
    index(e, 490_000)  # mark 494_900: longs pay 37_117.5 per lot, capped rate
    cash = e.balances("a")["USD"][0]
    ev = e.apply(SettleFunding(market=BTC))
    [paid] = [x for x in ev if isinstance(x, FundingPaid) and x.user_id == "a"]
    assert (paid.position_id, paid.amount) == (pid, -371_175)
    assert e.isolated_positions("a")[pid][1].margin == 5_000_000 - 371_175
    assert e.balances("a")["USD"][0] == cash
    # b (cross short) receives into its cross balance as before
    assert [x.amount for x in ev if isinstance(x, FundingPaid) and x.user_id == "b"] == [
        371_175]
    gaps_zero(e)


def test_an_isolated_order_s_stop_loss_closes_only_its_position() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9}, mm={"USD": 10**9})
    e.apply(sell("b", 13, P))
    e.apply(buy("a", 3, P))  # cross long 3
    ev = e.apply(buy("a", 10, P, margin_mode=ISO, stop_loss=480_000))
    pid = accepted(ev).order_id
    [tp] = [x for x in ev if isinstance(x, TriggerPlaced)]
    assert (tp.position_id, tp.kind) == (pid, TriggerKind.STOP_LOSS)
    assert [t.position_id for t in e.triggers("a")] == [pid]
    e.apply(buy("mm", 100, 479_000))
    ev = index(e, 479_500)
    assert any(isinstance(x, TriggerFired) for x in ev)
    assert pid not in e.isolated_positions("a")
    assert e.positions("a")[BTC].size == 3
    gaps_zero(e)


def test_a_trigger_may_name_an_isolated_position() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9}, mm={"USD": 10**9})
    pid = iso_long(e, 10)
    index(e, P)
    ev = e.apply(PlaceTrigger(user_id="a", market=BTC, side=Side.SELL,
                              kind=TriggerKind.TAKE_PROFIT, trigger_price=520_000,
                              quantity=4, position_id=pid))
    assert reason(ev) is None
    for bad in (999, -1):
        assert reason(e.apply(PlaceTrigger(
            user_id="a", market=BTC, side=Side.SELL, kind=TriggerKind.TAKE_PROFIT,
            trigger_price=520_000, position_id=bad))) is RejectReason.POSITION_NOT_FOUND
    assert reason(e.apply(PlaceTrigger(
        user_id="a", market=BTC, side=Side.SELL, kind=TriggerKind.STOP_MARKET,
        trigger_price=480_000, quantity=1, position_id=pid))) is RejectReason.INVALID_ORDER
    e.apply(sell("mm", 100, 525_000))
    e.apply(buy("mm", 100, 519_000))
    index(e, 521_000)
    assert e.isolated_positions("a")[pid][1].size == 6
    gaps_zero(e)


def test_a_resting_isolated_order_survives_a_snapshot_and_fills_into_its_position() -> None:
    e = funded(a={"USD": 10**8}, b={"USD": 10**9})
    e.apply(sell("b", 4, P))
    ev = e.apply(buy("a", 10, P, margin_mode=ISO))  # 4 fill, 6 rest
    pid = accepted(ev).order_id
    image = json.loads(json.dumps(e.snapshot()))
    r = Engine.restore(default_markets(), image)
    assert r.state_hash() == e.state_hash()
    tail = [sell("b", 6, P), index_cmd(P), buy("b", 3, P),
            market("a", Side.SELL, 3, position_id=pid)]
    assert [r.apply(c) for c in tail] == [e.apply(c) for c in tail]
    assert r.isolated_positions("a") == e.isolated_positions("a") == {
        pid: (BTC, Position(7, 35_000_000, 3_500_000, 0))}
    assert r.state_hash() == e.state_hash()


def index_cmd(price: int) -> SetIndexPrice:
    return SetIndexPrice(market=BTC, price=price, ts=2)


def test_cross_liquidation_leaves_isolated_positions_alone() -> None:
    e = funded(a={"USD": 35_250_000}, b={"USD": 10**9}, mm={"USD": 10**9})
    e.apply(deposit(INSURANCE_FUND, "USD", 10**8))
    pid = iso_long(e, 10, leverage=2)  # margin 25_000_000: liquidated below 251_257
    e.apply(sell("b", 10, P))
    e.apply(buy("a", 10, P))  # cross long 10 at 10x
    e.apply(buy("a", 1, 300_000, leverage=1))  # resting: locks cross USD
    # cross: E = 10_200_000 + 100 m - 50_000_000 < m / 2 below m = 400_000
    ev = index(e, 399_000)
    liq = [x for x in ev if isinstance(x, PositionLiquidated)]
    assert [(x.user_id, x.position_id) for x in liq] == [("a", 0)]
    assert any(isinstance(x, OrderCanceled) and x.reason is CancelReason.LIQUIDATION
               for x in ev)
    assert e.isolated_positions("a")[pid][1] == Position(10, 50_000_000, 25_000_000, 0)
    gaps_zero(e)


def test_house_and_isolated_account_ids_cannot_trade_or_deposit() -> None:
    e = funded(b={"USD": 10**9})
    pid = iso_long(funded(a={"USD": 10**8}, b={"USD": 10**9}), 1)
    assert reason(e.apply(buy(f"__iso:{pid}", 1, P))) is RejectReason.INVALID_ORDER
    assert reason(e.apply(deposit(f"__iso:{pid}", "USD", 5))) is RejectReason.INVALID_AMOUNT


def test_a_user_holds_at_most_max_isolated_positions_and_closing_frees_one() -> None:
    """Each isolated position is an account every sweep values: 100 per user at most. The
    101st opening order is refused (nothing locked, no order), reducing one never is, and
    a closed one frees its slot once its order is final."""
    e = funded(a={"USD": 10**9}, b={"USD": 10**10})
    pids = [iso_long(e, qty=1) for _ in range(MAX_ISOLATED_POSITIONS)]
    assert len(e.isolated_positions("a")) == MAX_ISOLATED_POSITIONS
    e.apply(sell("b", 1, P))
    before = e.balances("a")["USD"]
    refused = e.apply(buy("a", 1, P, margin_mode=ISO))
    assert reason(refused) is RejectReason.TOO_MANY_POSITIONS
    assert not any(isinstance(x, OrderAccepted) for x in refused)
    assert e.balances("a")["USD"] == before
    cross = e.apply(buy("a", 1, P))  # cross orders are not counted
    assert accepted(cross).position_id == 0
    e.apply(buy("b", 1, P))  # a bid for a's close
    closing = e.apply(sell("a", 1, P, position_id=pids[0]))
    assert accepted(closing).position_id == pids[0]
    assert len(e.isolated_positions("a")) == MAX_ISOLATED_POSITIONS - 1
    e.apply(sell("b", 1, P))
    assert accepted(e.apply(buy("a", 1, P, margin_mode=ISO))).position_id > 0
    gaps_zero(e)
