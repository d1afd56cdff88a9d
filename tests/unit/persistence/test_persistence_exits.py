"""How a closed position is recorded: lots, exit price, realized PnL per fill, leverage and
reason, folded from the real core's events (SOL-PERP: price ticks of 0.001, lots of 0.01)."""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

from engine_svc.core import Deposit, OrderType, PlaceOrder, Side
from engine_svc.core.commands import PlaceTrigger, SetIndexPrice
from engine_svc.core.enums import TriggerKind
from persistence_svc import event_fold as ef
from persistence_svc import exits
from persistence_svc.fold_rows import Rows
from tests.unit.persistence.test_persistence_fold import funded, run

SOL = "SOL-PERP"


def perp(user: str, side: Side, lots: int, price: int | None = None, leverage: int = 10,
         ts: int = 60_000) -> PlaceOrder:
    kind = OrderType.LIMIT if price else OrderType.MARKET
    return PlaceOrder(user_id=user, market=SOL, side=side, type=kind, price=price,
                      quantity=lots, ts=ts, leverage=leverage)


def deposit(user: str, dollars: int) -> Deposit:
    return Deposit(user_id=user, asset="USD", amount=dollars * 10**6, tx_id=f"d{user}", ts=1)


def closed(rows: Rows, user: str) -> list[dict[str, Any]]:
    cols = ("user_id", "market", "side", "size", "entry_price", "realized_pnl", "opened_ms",
            "closed_ms", "event_seq", "exit_price", "leverage", "margin_mode", "close_reason",
            "position_id")
    return [dict(zip(cols, r, strict=True)) for r in rows.closed if r[0] == user]


def fill_pnl(rows: Rows, user: str) -> list[str]:
    return [r[12] for r in csv.reader(rows.fills) if r[3] == user]


def test_partial_closes_average_into_the_exit_price() -> None:
    rows = ef.fold(run([*funded("a", "b"),
                        perp("a", Side.SELL, 1000, 100_000), perp("b", Side.BUY, 1000),
                        perp("a", Side.BUY, 400, 110_000), perp("b", Side.SELL, 400),
                        perp("a", Side.BUY, 600, 90_000), perp("b", Side.SELL, 600)]), {}, {})
    [row] = closed(rows, "b")
    # long 10 at 100: 4 sold at 110 (+40), 6 at 90 (-60)
    assert (row["side"], row["size"], row["entry_price"], row["exit_price"]) == \
        ("BUY", Decimal(10), Decimal(100), Decimal(98))
    assert (row["realized_pnl"], row["leverage"], row["close_reason"]) == \
        (Decimal(-20), 10, "CLOSED")
    assert fill_pnl(rows, "b") == ["0", "40", "-60"]
    assert rows.positions["b", SOL, ""].exit_quantity == 0  # flat: a new position starts clean


def test_a_flip_closes_the_old_side_at_the_flipping_fill() -> None:
    rows = ef.fold(run([*funded("a", "b"),
                        perp("a", Side.SELL, 500, 100_000, leverage=5), perp("b", Side.BUY, 500,
                                                                             leverage=5),
                        perp("a", Side.BUY, 800, 101_000), perp("b", Side.SELL, 800)]), {}, {})
    assert rows.unexplained == []
    [row] = closed(rows, "b")
    assert (row["size"], row["exit_price"], row["realized_pnl"], row["leverage"]) == \
        (Decimal(5), Decimal(101), Decimal(5), 5)
    short = rows.positions["b", SOL, ""]
    assert (short.size, short.exit_quantity, short.exit_notional) == (Decimal(-3), 0, 0)


def test_a_partial_close_is_remembered_until_the_close() -> None:
    events = run([*funded("a", "b"),
                  perp("a", Side.SELL, 1000, 100_000), perp("b", Side.BUY, 1000),
                  perp("a", Side.BUY, 300, 120_000), perp("b", Side.SELL, 300),
                  perp("a", Side.BUY, 700, 80_000), perp("b", Side.SELL, 700)])
    cut = max(i for i, e in enumerate(events) if e.WhichOneof("body") == "position"
              and e.position.user_id == "b" and e.position.size == "7") + 1
    first = ef.fold(events[:cut], {}, {})
    assert (first.positions["b", SOL, ""].exit_quantity,
            first.positions["b", SOL, ""].exit_notional) == (Decimal(3), Decimal(360))
    second = ef.fold(events[cut:], dict(first.orders), dict(first.positions))
    [row] = closed(second, "b")
    assert (row["size"], row["exit_price"], row["realized_pnl"]) == \
        (Decimal(10), Decimal(92), Decimal(-80))  # (3*120 + 7*80) / 10


def test_a_liquidation_records_book_and_fund_lots_at_their_prices() -> None:
    rows = ef.fold(run([*funded("mm"), deposit("long", 110),
                        SetIndexPrice(market=SOL, price=100_000),
                        perp("mm", Side.SELL, 1000, 100_000, leverage=2),
                        perp("long", Side.BUY, 1000, 100_000),
                        perp("mm", Side.BUY, 400, 84_500, leverage=2),  # absorbs 4 of 10
                        SetIndexPrice(market=SOL, price=85_000, ts=61_000)]), {}, {})
    assert rows.unexplained == []  # book fills and the fund's takeover explain both sizes
    [row] = closed(rows, "long")
    # 4 lots sold to the bid at 84.5, 6 taken over by the fund at the mark (85)
    assert (row["size"], row["exit_price"], row["close_reason"]) == \
        (Decimal(10), Decimal("84.8"), "LIQUIDATED")
    [liq] = rows.liquidations
    assert (liq[4], liq[5], liq[10], liq[11]) == (Decimal(10), Decimal(85), Decimal(4),
                                                  Decimal(6))
    fund = rows.positions[exits.INSURANCE_FUND, SOL, ""]
    assert fund.size == 6  # it took the long's last 6 lots


def test_stop_loss_and_take_profit_closes_say_so() -> None:
    for kind, index in ((TriggerKind.STOP_LOSS, 95_000), (TriggerKind.TAKE_PROFIT, 105_000)):
        rows = ef.fold(run([
            *funded("mm", "mm2", "long"), SetIndexPrice(market=SOL, price=100_000),
            perp("mm", Side.SELL, 1000, 100_000, leverage=2), perp("long", Side.BUY, 1000),
            PlaceTrigger(user_id="long", market=SOL, side=Side.SELL, kind=kind,
                         trigger_price=index),
            perp("mm", Side.BUY, 2000, index, leverage=2),
            SetIndexPrice(market=SOL, price=index, ts=61_000),
            # then an ordinary open and close: the reason does not leak to later commands
            perp("mm2", Side.SELL, 100, index + 1000, leverage=2), perp("long", Side.BUY, 100),
            perp("long", Side.SELL, 100)]), {}, {})
        assert rows.unexplained == []
        [row, later] = closed(rows, "long")
        assert (row["close_reason"], row["exit_price"]) == (kind.value, Decimal(index) / 1000)
        assert (later["close_reason"], later["size"]) == ("CLOSED", 1)


def test_exit_price_and_leverage_arithmetic() -> None:
    assert exits.exit_price(Decimal(3), Decimal(100), Decimal(3)) == \
        Decimal("33.333333333333")  # rounded to 12 places
    assert exits.exit_price(Decimal(4), Decimal("338.2"), Decimal(4)) == Decimal("84.55")
    assert exits.exit_price(Decimal(2), Decimal(200), Decimal(5)) is None  # lots unknown
    assert exits.exit_price(Decimal(0), Decimal(0), Decimal(0)) is None
    assert exits.leverage(Decimal(10), Decimal(100), Decimal(100)) == 10
    assert exits.leverage(Decimal(10), Decimal(100), Decimal("100.5")) == 10
    assert exits.leverage(Decimal(1), Decimal(1), Decimal(3)) == 1  # at least 1
    assert exits.leverage(Decimal(10), Decimal(100), Decimal(0)) is None


def test_a_stale_prior_state_is_reported_not_silently_folded() -> None:
    """Fills folded over the wrong prior position (the lost-liquidation bug: a batch folded
    over the database while the batch that opened the position was not yet committed) do
    not explain the new size: the fold says so."""
    events = run([*funded("mm"), deposit("long", 110), SetIndexPrice(market=SOL, price=100_000),
                  perp("mm", Side.SELL, 1000, 100_000, leverage=2),
                  perp("long", Side.BUY, 1000, 100_000),
                  perp("mm", Side.BUY, 2000, 84_500, leverage=2),
                  SetIndexPrice(market=SOL, price=85_000, ts=61_000)])
    cut = max(i for i, e in enumerate(events) if e.WhichOneof("body") == "position"
              and e.position.user_id == "long" and e.position.size == "10") + 1
    first = ef.fold(events[:cut], {}, {})
    right = ef.fold(events[cut:], dict(first.orders), dict(first.positions))
    assert right.unexplained == [] and len(closed(right, "long")) == 1
    stale = ef.fold(events[cut:], dict(first.orders), {})  # the open not seen
    assert ("long", SOL, "") in stale.unexplained and closed(stale, "long") == []
