"""The batch listeners' compiled reads of a batch's events, against the plain reading of
the same events over a seeded run of every kind of command."""

from __future__ import annotations

import random
from collections import Counter
from itertools import chain

from engine_svc.batch_scan import book_markets, changes, order_counts, registry_changes
from engine_svc.core import Engine, default_markets
from engine_svc.core.events import (
    AssetAdded,
    MarketChanged,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
)
from tests.unit.engine.mixed_commands import generate

BOOK = (OrderAccepted, OrderFilled, OrderCanceled, OrderReplaced)


def test_scans_read_what_the_events_say() -> None:
    commands = generate(Engine(default_markets()), 17, 4000)
    engine = Engine(default_markets())
    batches = [engine.apply(c) for c in commands]
    batches += [list(chain.from_iterable(batches[i:i + 50]))  # larger batches
                for i in range(0, len(batches), 50)]
    seen = Counter[str]()
    for events in batches:
        assert book_markets(events) == {e.market for e in events if isinstance(e, BOOK)}
        assert registry_changes(events) == \
            [e for e in events if isinstance(e, AssetAdded | MarketChanged)]
        counts = order_counts(events)
        assert counts.accepted == Counter(e.market for e in events
                                          if isinstance(e, OrderAccepted))
        assert counts.fills == Counter(e.market for e in events if isinstance(e, OrderFilled))
        assert counts.rejected == Counter((e.market, e.reason.name) for e in events
                                          if isinstance(e, OrderRejected))
        seen.update(type(e).__name__ for e in events)
    assert {"OrderAccepted", "OrderFilled", "OrderCanceled", "OrderRejected"} <= set(seen)


def _plain_changes(old: list[tuple[int, int]], new: list[tuple[int, int]]
                   ) -> list[tuple[int, int]]:
    before, after = dict(old), dict(new)
    changed = [(p, q) for p, q in new if before.get(p) != q]
    changed.extend((p, 0) for p in before if p not in after)
    return changed


def test_depth_changes_equal_the_plain_comparison_of_two_views() -> None:
    """Seeded views of one side (bids falling, asks rising, up to 100 levels) and their next
    view after levels appear, change, vanish or fall out of the top: the merge walk gives
    the same levels in the same order as comparing the two as dicts."""
    rng = random.Random(5)
    for case in range(3000):
        falling = case % 2 == 0
        prices = rng.sample(range(1, 400), rng.choice((0, 1, 2, 3, 10, 150)))
        book = {p: rng.randrange(1, 9) for p in prices}
        limit = rng.choice((1, 5, 100))

        def view(levels: dict[int, int], falling: bool = falling, limit: int = limit,
                 ) -> list[tuple[int, int]]:
            return sorted(levels.items(), reverse=falling)[:limit]

        old = view(book)
        for _ in range(rng.randrange(0, 4)):
            price = rng.randrange(1, 400)
            if price in book and rng.random() < 0.5:
                del book[price]
            else:
                book[price] = rng.randrange(1, 9)
        new = view(book)
        assert changes(old, new) == _plain_changes(old, new), (old, new)
