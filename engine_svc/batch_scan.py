"""What the sequencer's batch listeners read of a batch's events, in compiled loops.

Every event of every batch passes through each listener (several events per order); an
interpreted loop over them cost the market-data publisher and the event counters about
a twentieth of the engine's event loop under streamed placement. These functions are
pure reads of the events, compiled with the core (:data:`engine_svc.core_build.COMPILED_SOURCES`);
so is the depth views' per-batch diff of a market's top levels (:func:`changes`).
"""

from __future__ import annotations

from engine_svc.core.events import (
    AssetAdded,
    Event,
    MarketChanged,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
)


def book_markets(events: list[Event]) -> set[str]:
    """The markets whose book the events may have changed (an order accepted, filled,
    canceled or replaced)."""
    out: set[str] = set()
    for e in events:
        if isinstance(e, (OrderAccepted, OrderFilled, OrderCanceled, OrderReplaced)):
            out.add(e.market)
    return out


def registry_changes(events: list[Event]) -> list[AssetAdded | MarketChanged]:
    """The events that added an asset or added or changed a market, in order."""
    return [e for e in events if isinstance(e, (AssetAdded, MarketChanged))]


class OrderCounts:
    """A batch's accepted orders and fills per market, and rejections per (market, reason
    name)."""

    def __init__(self) -> None:
        self.accepted: dict[str, int] = {}
        self.fills: dict[str, int] = {}
        self.rejected: dict[tuple[str, str], int] = {}


def order_counts(events: list[Event]) -> OrderCounts:
    counts = OrderCounts()
    accepted, fills, rejected = counts.accepted, counts.fills, counts.rejected
    for e in events:
        if isinstance(e, OrderAccepted):
            accepted[e.market] = accepted.get(e.market, 0) + 1
        elif isinstance(e, OrderFilled):
            fills[e.market] = fills.get(e.market, 0) + 1
        elif isinstance(e, OrderRejected):
            key = (e.market, e.reason.name)
            rejected[key] = rejected.get(key, 0) + 1
    return counts


def changes(old: list[tuple[int, int]], new: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Levels (price, quantity) that differ between two views of one side of a book;
    removed ones with quantity 0."""
    before, after = dict(old), dict(new)
    changed = [(p, q) for p, q in new if before.get(p) != q]
    changed.extend((p, 0) for p in before if p not in after)
    return changed
