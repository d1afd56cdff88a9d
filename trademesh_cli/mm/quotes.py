"""The market maker's quoting rule, pure: an index price and an inventory in, a ladder out.

Prices are exact decimals on the market's tick grid (bids rounded down, asks up, so a
quote is never tighter than the rule says); sizes are on the lot grid. Inventory skews
the ladder: a long maker bids less and lower and offers more, and stops bidding at all
once its inventory reaches the bound (symmetrically when short), so inventory stays
bounded however the market moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Generic, Protocol, TypeVar

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Grid:
    tick: Decimal
    lot: Decimal
    min_quantity: Decimal


@dataclass(frozen=True, slots=True)
class LadderRule:
    levels: int = 5
    half_spread_bps: Decimal = Decimal(5)
    step_bps: Decimal = Decimal(5)
    size: Decimal = Decimal(1)
    max_inventory: Decimal = Decimal(10)


@dataclass(frozen=True, slots=True)
class Quote:
    side: str  # "BUY" or "SELL"
    price: Decimal
    quantity: Decimal


def _on_grid(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


def ladder(index: Decimal, inventory: Decimal, grid: Grid, rule: LadderRule) -> list[Quote]:
    """Bids and asks around ``index``; ``inventory`` in base units (long > 0)."""
    if index <= 0:
        return []
    lean = max(Decimal(-1), min(Decimal(1), inventory / rule.max_inventory))
    center = index * (1 - lean * rule.half_spread_bps / BPS)
    quotes: list[Quote] = []
    for level in range(rule.levels):
        offset = (rule.half_spread_bps + rule.step_bps * level) / BPS
        bid_size = _on_grid(rule.size * (1 - lean), grid.lot, ROUND_FLOOR)
        ask_size = _on_grid(rule.size * (1 + lean), grid.lot, ROUND_FLOOR)
        bid = _on_grid(center * (1 - offset), grid.tick, ROUND_FLOOR)
        ask = _on_grid(center * (1 + offset), grid.tick, ROUND_CEILING)
        if bid_size >= grid.min_quantity and bid > 0:
            quotes.append(Quote("BUY", bid, bid_size))
        if ask_size >= grid.min_quantity:
            quotes.append(Quote("SELL", ask, ask_size))
    return quotes


def moved(old: Decimal | None, new: Decimal, threshold_bps: Decimal) -> bool:
    """True when ``new`` is ``threshold_bps`` or more away from ``old`` (or there is none)."""
    return old is None or old <= 0 or abs(new - old) / old * BPS >= threshold_bps


class Resting(Protocol):
    """An open quote as the engine lists it (``order_pb2.Order``: side 1 BUY, 2 SELL)."""

    @property
    def side(self) -> int: ...

    @property
    def price(self) -> str: ...


R = TypeVar("R", bound=Resting)
BUY_SIDE = 1


@dataclass(frozen=True, slots=True)
class RequotePlan(Generic[R]):
    """A requote in four steps, in order: place ``first``, cancel ``crossed``, place
    ``then``, cancel ``stale``. ``first`` are the new quotes that trade against no old
    one; ``crossed`` the old quotes some of ``then`` would trade against."""

    first: list[Quote]
    crossed: list[R]
    then: list[Quote]
    stale: list[R]


def _crosses(quote: Quote, order: Resting) -> bool:
    """``quote`` would trade against ``order`` (opposite sides, prices that meet)."""
    buys = quote.side == "BUY"
    if buys == (order.side == BUY_SIDE):
        return False
    price = Decimal(order.price)
    return quote.price >= price if buys else quote.price <= price


def requote_plan(old: Sequence[R], quotes: list[Quote]) -> RequotePlan[R]:
    """How to move from the ``old`` quotes to ``quotes`` so that a side both ladders
    quote is never empty (see :class:`RequotePlan`)."""
    first: list[Quote] = []
    then: list[Quote] = []
    for quote in quotes:
        (then if any(_crosses(quote, o) for o in old) else first).append(quote)
    crossed: list[R] = []
    stale: list[R] = []
    for order in old:
        (crossed if any(_crosses(q, order) for q in then) else stale).append(order)
    return RequotePlan(first, crossed, then, stale)
