"""The market maker's ladder: on the grid, around the index, skewed and bounded by inventory."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trademesh_cli.mm.quotes import Grid, LadderRule, ladder, moved

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
