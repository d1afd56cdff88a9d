"""The fold keys positions by (user, market, position id): a cross position and isolated
positions of one user in one market are folded apart (the hand-built stream of
:mod:`tests.unit.persistence.isolated_stream`)."""

from __future__ import annotations

import csv
from decimal import Decimal

from persistence_svc import event_fold as ef
from persistence_svc.fold_rows import OrderRow, PositionKey, PositionRow, Rows
from tests.unit.persistence import isolated_stream as s
from tests.unit.persistence.test_persistence_exits import closed

SOL = s.SOL


def folded(parts: list[list[s.Event]]) -> list[Rows]:
    """Each batch folded over the state the ones before left (as the writer does)."""
    out: list[Rows] = []
    orders: dict[int, OrderRow] = {}
    positions: dict[PositionKey, PositionRow] = {}
    for part in parts:
        rows = ef.fold(part, dict(orders), dict(positions))
        orders.update(rows.orders)
        positions.update(rows.positions)
        out.append(rows)
    return out


def test_cross_and_two_isolated_positions_are_kept_apart() -> None:
    state = folded(s.batches(s.OPEN))
    assert all(rows.unexplained == [] for rows in state)
    positions = state[-1].positions
    mine = {k: (v.size, v.entry_price, v.margin) for k, v in positions.items() if k[0] == "u"}
    assert mine == {("u", SOL, ""): (10, 100, 100), ("u", SOL, "3"): (4, 100, 40),
                    ("u", SOL, "4"): (6, 100, 60)}
    assert positions["mm", SOL, ""].size == -20
    iso = state[2].orders[3]
    assert (iso.margin_mode, iso.position_id) == ("ISOLATED", "3")
    assert (state[1].orders[2].margin_mode, state[1].orders[2].position_id) == ("CROSS", None)


def test_an_isolated_position_closed_by_half_then_fully() -> None:
    state = folded(s.batches())
    half = state[6]  # u sold 2 of position 3 at 110
    row = half.positions["u", SOL, "3"]
    assert (row.size, row.exit_quantity, row.exit_notional, row.realized_pnl) == \
        (2, 2, 220, 20)
    assert closed(half, "u") == []
    full = state[8]
    [done] = closed(full, "u")
    assert (done["side"], done["size"], done["entry_price"], done["exit_price"],
            done["realized_pnl"], done["leverage"], done["margin_mode"], done["close_reason"],
            done["position_id"]) == ("BUY", 4, 100, Decimal(115), 60, 10, "ISOLATED",
                                     "CLOSED", "3")
    assert [r[12] for r in csv.reader(full.fills) if r[3] == "u"] == ["40"]
    assert all(rows.unexplained == [] for rows in state)
    cross = state[-1].positions["u", SOL, ""]
    assert (cross.size, cross.exit_quantity, cross.realized_pnl) == (10, 0, 0)  # untouched


def test_an_isolated_liquidation_closes_only_that_position() -> None:
    state = folded(s.batches())
    liquidated = state[-1]
    assert liquidated.unexplained == []
    [row] = closed(liquidated, "u")
    assert (row["size"], row["exit_price"], row["realized_pnl"], row["margin_mode"],
            row["close_reason"], row["position_id"]) == (6, 85, -90, "ISOLATED",
                                                         "LIQUIDATED", "4")
    [liq] = liquidated.liquidations
    assert (liq[0], liq[1], liq[-1]) == ("99", "u", "4")
    assert liquidated.positions[s.FUND, SOL, ""].size == 6  # the fund's cross position
    assert liquidated.changed_positions == {("u", SOL, "4"), (s.FUND, SOL, "")}


def test_funding_rows_carry_the_position() -> None:
    [rows] = folded(s.batches([*s.OPEN, *s.FUNDING]))[-1:]
    assert [(r[0], r[4], r[-1]) for r in rows.funding] == [
        ("u", Decimal("-0.1"), None), ("u", Decimal("-0.04"), "3"),
        ("u", Decimal("-0.06"), "4"), ("mm", Decimal("0.2"), None)]


def test_the_mismatch_check_is_per_position() -> None:
    """Position 3's close folded over a state that never saw it open (stale) is reported
    as that position's, not the cross one's; the same fills over the right state are not."""
    parts = s.batches()
    right = folded(parts)
    before, orders = right[7].positions, right[7].orders
    stale = {k: v for k, v in before.items() if k != ("u", SOL, "3")}
    rows = ef.fold(parts[8], dict(orders), stale)
    assert rows.unexplained == [("u", SOL, "3")]
    assert closed(rows, "u") == []  # nothing to close from a position never seen open
    assert ef.fold(parts[8], dict(orders), dict(before)).unexplained == []


def test_fills_onto_a_position_without_its_event_are_reported() -> None:
    """An isolated order whose event lacks its position id (a broken contract): its fill
    is folded onto the cross position, which no position event follows; the fold says so
    instead of leaving the cross position's history quietly wrong."""
    broken = s.order(3, "u", s.BUY, "4", mode=s.ISO)  # no position_id
    parts = s.batches([s.OPEN[0], s.OPEN[1], [broken, *s.OPEN[2][1:]]])
    state = folded(parts)
    assert state[1].unexplained == []
    assert state[2].unexplained == [("u", SOL, "")]
    assert folded(s.batches(s.OPEN))[2].unexplained == []


def test_a_trigger_close_of_an_isolated_position_says_so() -> None:
    for reason, name in ((s.account_pb2.ClosedPosition.STOP_LOSS, "STOP_LOSS"),
                         (s.account_pb2.ClosedPosition.TAKE_PROFIT, "TAKE_PROFIT")):
        order, execution, _, mm = s.FULL[1]
        fired = s.position("u", "0", "0", "0", "60", "3", reason)
        parts = s.batches([*s.OPEN, *s.HALF, s.FULL[0], [order, execution, fired, mm]])
        [row] = closed(folded(parts)[-1], "u")
        assert (row["position_id"], row["margin_mode"], row["close_reason"]) == \
            ("3", "ISOLATED", name)
