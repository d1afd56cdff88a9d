"""The market-data queue is bounded by the events it holds, not by its batches: while the
feed is away, a few large batches (a streamed placement's thousands of orders) cannot hold
the engine's memory, and on overflow the queue empties and the snapshots are resent."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from engine_svc.core import Engine, Event, default_markets
from engine_svc.engine_state import State
from engine_svc.journal import Journal
from engine_svc.market_data import MarketDataPublisher
from engine_svc.order_views import OrderViews
from engine_svc.sequencer import Sequencer
from mesh_runtime.config import Settings
from tests.unit.engine.core_stubs import buy, deposit


class _NoSnapshots:
    """The sequencer is never run here: nothing is saved or loaded."""

    async def save(self, seq: int, state: bytes) -> None:
        raise AssertionError("not run")

    async def latest(self) -> tuple[int, bytes] | None:
        raise AssertionError("not run")

    async def close(self) -> None:
        return None


def _batches(engine: Engine, count: int) -> list[list[Event]]:
    """``count`` batches of real events: a deposit, then one resting order each."""
    out = [engine.apply(deposit("u1", "USD", 10**12))]
    out += [engine.apply(buy("u1", 1, 100 + i)) for i in range(count - 1)]
    return out


def _publisher(tmp_path: Path, engine: Engine, bound: int) -> MarketDataPublisher:
    """A publisher over a sequencer that never runs (its journal's client never connects)."""
    config = engine.config
    journal = Journal(aioredis.Redis.from_url("redis://127.0.0.1:1/0"))
    sequencer = Sequencer(config, State(engine, OrderViews()), journal, _NoSnapshots())
    return MarketDataPublisher(sequencer, Settings(data_dir=tmp_path),
                               max_queued_events=bound)


def test_the_queue_is_bounded_by_events(tmp_path: Path) -> None:
    engine = Engine(default_markets())
    batches = _batches(engine, 6)
    assert all(type(b[0]).__name__ in ("DepositApplied", "OrderAccepted") for b in batches)
    sizes = [len(b) for b in batches]
    bound = sum(sizes[:4])
    publisher = _publisher(tmp_path, engine, bound)
    for events in batches[:4]:  # exactly at the bound: kept
        publisher.on_batch(events)
    assert (len(publisher._queue), publisher._queued, publisher.overflows) == (4, bound, 0)
    publisher._need_snapshot = False
    publisher.on_batch(batches[4])  # one more would exceed it: emptied, snapshots owed
    assert (len(publisher._queue), publisher._queued, publisher.overflows) == \
        (1, sizes[4], 1)
    assert publisher._need_snapshot
    publisher._drop_first()  # what a sent batch does
    assert (len(publisher._queue), publisher._queued) == (0, 0)


def test_one_batch_larger_than_the_bound_is_still_queued(tmp_path: Path) -> None:
    engine = Engine(default_markets())
    publisher = _publisher(tmp_path, engine, 1)
    big = _batches(engine, 2)[1]
    assert len(big) > 1
    publisher.on_batch(big)
    assert (len(publisher._queue), publisher._queued, publisher.overflows) == (1, len(big), 0)
