"""The batch listeners' compiled reads of a batch's events, against the plain reading of
the same events over a seeded run of every kind of command."""

from __future__ import annotations

from collections import Counter
from itertools import chain

from engine_svc.batch_scan import book_markets, order_counts, registry_changes
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
