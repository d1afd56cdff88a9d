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
    """Levels (price, quantity) that differ between two views of one side of a book, each
    best first (as a ladder reads them): new and changed ones in ``new``'s order, then the
    removed ones with quantity 0 in ``old``'s."""
    if old == new:
        return []
    if len(old) < 2 and len(new) < 2:
        before, after = dict(old), dict(new)
        changed = [(p, q) for p, q in new if before.get(p) != q]
        changed.extend((p, 0) for p in before if p not in after)
        return changed
    # both sides are in the ladder's order (bids falling, asks rising): one merge walk,
    # new and changed levels in ``new``'s order, then the removed ones in ``old``'s
    falling = new[0][0] > new[1][0] if len(new) > 1 else old[0][0] > old[1][0]
    changed, removed = [], []
    i = j = 0
    while i < len(old) and j < len(new):
        price_old, qty_old = old[i]
        price_new, qty_new = new[j]
        if price_old == price_new:
            if qty_old != qty_new:
                changed.append((price_new, qty_new))
            i += 1
            j += 1
        elif (price_new > price_old) == falling:  # new's level comes first: it is new
            changed.append((price_new, qty_new))
            j += 1
        else:  # old's level comes first: it is gone
            removed.append((price_old, 0))
            i += 1
    changed.extend(new[j:])
    removed.extend((price, 0) for price, _ in old[i:])
    return changed + removed
