"""The market maker's ladder: on the grid, around the index, skewed and bounded by inventory."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trademesh_cli.mm.quotes import Grid, LadderRule, Quote, ladder, moved, requote_plan

GRID = Grid(tick=Decimal("0.01"), lot=Decimal("0.01"), min_quantity=Decimal("0.01"))
RULE = LadderRule(levels=3, half_spread_bps=Decimal(10), step_bps=Decimal(10),
                  size=Decimal(1), max_inventory=Decimal(5))


def test_flat_inventory_gives_a_symmetric_ladder() -> None:
    quotes = ladder(Decimal(100), Decimal(0), GRID, RULE)
    assert [(q.side, q.price, q.quantity) for q in quotes] == [
        ("BUY", Decimal("99.90"), Decimal("1.00")), ("SELL", Decimal("100.10"), Decimal("1.00")),
        ("BUY", Decimal("99.80"), Decimal("1.00")), ("SELL", Decimal("100.20"), Decimal("1.00")),
        ("BUY", Decimal("99.70"), Decimal("1.00")), ("SELL", Decimal("100.30"), Decimal("1.00")),
    ]


def test_a_full_long_inventory_stops_bidding_and_leans_down() -> None:
    quotes = ladder(Decimal(100), Decimal(5), GRID, RULE)
    assert {q.side for q in quotes} == {"SELL"}
    assert min(q.price for q in quotes) < Decimal("100.10")
    assert all(q.quantity == Decimal(2) for q in quotes)


@given(st.decimals(min_value=Decimal("0.5"), max_value=Decimal(100_000), places=3),
       st.decimals(min_value=-20, max_value=20, places=2))
def test_quotes_are_on_the_grid_and_never_cross(index: Decimal, inventory: Decimal) -> None:
    quotes = ladder(index, inventory, GRID, RULE)
    bids = [q.price for q in quotes if q.side == "BUY"]
    asks = [q.price for q in quotes if q.side == "SELL"]
    for q in quotes:
        assert q.price % GRID.tick == 0 and q.quantity % GRID.lot == 0 and q.quantity > 0
    if bids and asks:
        assert max(bids) < min(asks)
    if inventory >= RULE.max_inventory:
        assert not bids
    if inventory <= -RULE.max_inventory:
        assert not asks


def test_requote_threshold() -> None:
    assert moved(None, Decimal(100), Decimal(5))
    assert not moved(Decimal(100), Decimal("100.04"), Decimal(5))
    assert moved(Decimal(100), Decimal("100.05"), Decimal(5))


@dataclass(frozen=True)
class _Open:
    side: int
    price: str


def test_a_small_move_places_everything_first_then_cancels_the_old() -> None:
    old = [_Open(1, "99.9"), _Open(2, "100.1")]
    quotes = [Quote("BUY", Decimal("99.95"), Decimal(1)), Quote("SELL", Decimal("100.15"),
                                                               Decimal(1))]
    plan = requote_plan(old, quotes)
    assert (plan.first, plan.crossed, plan.then, plan.stale) == (quotes, [], [], old)


def test_a_jump_up_places_the_asks_then_cancels_the_crossed_asks_before_the_bids() -> None:
    old = [_Open(1, "99.9"), _Open(1, "99.8"), _Open(2, "100.1"), _Open(2, "100.9")]
    bid, ask = Quote("BUY", Decimal("100.5"), Decimal(1)), Quote("SELL", Decimal("100.6"),
                                                                 Decimal(1))
    plan = requote_plan(old, [bid, ask])
    # the new ask crosses no old bid; the new bid would take the old ask at 100.1 only
    assert plan.first == [ask] and plan.then == [bid]
    assert plan.crossed == [old[2]] and plan.stale == [old[0], old[1], old[3]]


def test_a_jump_down_mirrors_it() -> None:
    old = [_Open(1, "99.9"), _Open(2, "100.1")]
    bid, ask = Quote("BUY", Decimal("99.0"), Decimal(1)), Quote("SELL", Decimal("99.5"),
                                                                Decimal(1))
    plan = requote_plan(old, [bid, ask])
    assert plan.first == [bid] and plan.then == [ask]
    assert plan.crossed == [old[0]] and plan.stale == [old[1]]
