"""The engine's market-data link to the feed: depth diffs, trades and user events.

A :class:`MarketDataPublisher` is a sequencer :class:`~engine_svc.sequencer.BatchListener`.
On the sequencer's task it only reads the touched markets' depth and queues the batch;
its own task turns batches into ``PublishMarketDataRequest`` messages and writes them to
``Feed.PublishMarketData`` at the feed's mesh listener (mutual TLS, as ``engine``).

Invariants:

* Per market, depth sequences are consecutive: a snapshot carries the current sequence,
  each diff the next one. Views, diffs and sequences are :class:`DepthViews`' (shared with
  ``Engine.GetDepth``: one counter for REST and ``depth@M``).
* On every (re)connect, after a queue overflow and after a sequencer reset, every market's
  snapshot (and every perp's mark: a feed that restarted has it at once) is sent before any
  diff; batches queued before a snapshot lose their depth (the
  snapshot covers it) but keep their trades and user events. Every ``snapshot_seconds``
  the snapshots are sent again (same sequence: a no-op for a feed that is in step, a
  repair for one that missed something).
* The queue is bounded by the events it holds (``max_queued_events``, not by batches: one
  batch of a streamed placement holds thousands): on overflow it is emptied and snapshots
  are resent rather than skipping a diff. While the feed is away the engine's memory (and
  its collector's work) stays bounded. A batch whose sending failed is sent again after
  reconnecting (the feed drops repeated trades and user events by id and sequence).
* A market added at runtime (``MarketChanged`` with ``added``) is published from its
  batch on, after a round of snapshots that includes it.
* The sequencer is never blocked: ``on_batch`` does O(touched markets * levels) work.
* ``mark@M``'s funding rate is the rate the next settlement would apply at that mark and
  index (the clamped premium of :mod:`engine_svc.core.funding`): derived from the engine's
  state, so a restart does not reset it.
* Whatever is queued leaves as one stream message (``MarketDataBatch``), at most one write
  per ``write_interval`` (10 ms): a write costs far more than an item (5 → 10 ms took the
  engine's and the feed's CPU per REST order under ``bench rest-wrk`` down by ~15 µs each;
  a lone batch still leaves at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from trademesh.v1 import event_pb2, feed_pb2, feed_pb2_grpc, market_pb2

from engine_svc import command_codec
from engine_svc.batch_scan import book_markets, registry_changes
from engine_svc.core.events import Event, IndexPriceSet, MarketChanged, OrderFilled
from engine_svc.core.funding import rate_ppm
from engine_svc.decimal_edge import formatter
from engine_svc.depth_views import LEVELS, DepthDiff, DepthViews
from engine_svc.event_codec import EventEncoder
from engine_svc.sequencer import Sequencer
from mesh_runtime import tracing
from mesh_runtime.config import Settings
from mesh_runtime.tls import mesh_channel

log = logging.getLogger("trademesh.engine.market_data")
Request = feed_pb2.PublishMarketDataRequest
Levels = list[tuple[int, int]]
Call = grpc.aio.StreamUnaryCall[Request, feed_pb2.PublishMarketDataResponse]
PPM_TEXT = formatter(Decimal("0.000001"))
MAX_ITEMS = 1_000  # items per stream message (each a few hundred bytes at most)


@dataclass(slots=True)
class _Batch:
    events: list[Event]
    depth: list[DepthDiff]
    traces: list[str]  # the traceparents of its traced commands (tracing on)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class MarketDataPublisher:
    def __init__(self, sequencer: Sequencer, settings: Settings, *,
                 depth: DepthViews | None = None, depth_levels: int = LEVELS,
                 max_queued_events: int = 100_000, snapshot_seconds: float = 10.0,
                 write_interval: float = 0.01,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._sequencer, self._target = sequencer, settings.mesh_address("feed")
        self._tls = settings.tls_files("engine")
        self._funding_ms = max(1, int(settings.funding_interval_seconds * 1000))
        self.depth = depth or DepthViews(sequencer, depth_levels)
        self._max_queued = max_queued_events
        self._snapshot_seconds, self._clock = snapshot_seconds, clock_ms
        self._write_interval = write_interval  # at most one stream write per interval
        config = sequencer.config
        self._price = {m: formatter(s.tick_size) for m, s in config.markets.items()}
        self._qty = {m: formatter(s.lot_size) for m, s in config.markets.items()}
        self._encoder = EventEncoder(config, clock_ms)
        self._queue: deque[_Batch] = deque()
        self._queued = 0  # events in the queued batches
        self._wakeup = asyncio.Event()
        self._need_snapshot = True
        self.connected = asyncio.Event()
        self.sent = 0
        self.overflows = 0

    # ------------------------------------------------------------ sequencer side
    def on_applied(self, events: list[Event]) -> None:
        self.depth.stage(book_markets(events))

    def on_batch(self, events: list[Event]) -> None:
        for added in registry_changes(events):
            self._encoder.learn(self._sequencer.config)
            if isinstance(added, MarketChanged) and added.added:
                self._add_market(added.symbol)
        depth = self.depth.advance()
        if self._queued + len(events) > self._max_queued and self._queue:
            self._queue.clear()
            self._queued = 0
            self._need_snapshot = True
            self.overflows += 1
        traces = [tracing.traceparent(c) for c in self._sequencer.batch_traces]
        self._queue.append(_Batch(events, depth, traces))
        self._queued += len(events)
        self._wakeup.set()

    def _add_market(self, market: str) -> None:
        """A market added at runtime: published from now on, starting with a snapshot."""
        if market in self._price:
            return
        spec = self._sequencer.config.markets[market]
        self._price[market], self._qty[market] = formatter(spec.tick_size), \
            formatter(spec.lot_size)
        self.depth.view(market)  # its view (and sequence) exist: the snapshots include it
        self._need_snapshot = True

    def on_reset(self) -> None:
        for batch in self._queue:
            batch.depth = []
        self.depth.reset()  # the snapshots that follow carry the rebuilt views
        self._need_snapshot = True
        self._wakeup.set()

    # ------------------------------------------------------------ publisher task
    async def run(self) -> None:
        """Connects, streams and reconnects with backoff until cancelled."""
        delay = 0.05
        while True:
            try:
                async with mesh_channel(self._target, self._tls, server_name="feed") as channel:
                    await self._stream(feed_pb2_grpc.FeedStub(channel))
            except (grpc.RpcError, grpc.aio.UsageError, asyncio.InvalidStateError,
                    ConnectionError) as err:
                log.warning("feed link to %s: %s; retrying in %.2fs", self._target,
                            _short(err), delay)
            except Exception:  # a translation bug: drop the batch, resync, keep publishing
                log.exception("market data: a batch could not be published; resyncing")
                if self._queue:
                    self._drop_first()
            finally:
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _stream(self, stub: feed_pb2_grpc.FeedStub) -> None:
        call = cast(Call, stub.PublishMarketData())  # type: ignore[call-arg]
        try:
            self._need_snapshot = True
            last_snapshot = last_write = 0.0
            loop = asyncio.get_running_loop()
            while True:
                if self._need_snapshot or loop.time() - last_snapshot > self._snapshot_seconds:
                    await self._send_snapshots(call)
                    last_snapshot = loop.time()
                    self.connected.set()
                if not self._queue:
                    await self._idle(call)
                    continue
                pause = last_write + self._write_interval - loop.time()
                if pause > 0:  # let batches gather: a write costs far more than an item
                    await asyncio.sleep(pause)
                await self._send_queued(call)
                last_write = loop.time()
        finally:
            call.cancel()

    async def _send_queued(self, call: Call) -> None:
        """Writes the queued batches (whole batches, about ``MAX_ITEMS`` items) as few stream
        messages as possible, then forgets them; after a failed write they stay queued for
        the next connection (the feed drops what it already had by id and sequence)."""
        taken: list[_Batch] = []
        items: list[Request] = []
        traces: list[str] = []
        for batch in self._queue:
            taken.append(batch)
            items.extend(self._requests(batch))
            traces.extend(batch.traces)
            if len(items) >= MAX_ITEMS:
                break
        for start in range(0, len(items), MAX_ITEMS):  # bounded messages, in order
            chunk = items[start:start + MAX_ITEMS]
            # the traced commands' items are all out with the last message: it names them
            carried = traces if start + MAX_ITEMS >= len(items) else []
            await call.write(chunk[0] if len(chunk) == 1 and not carried else
                             Request(batch=feed_pb2.MarketDataBatch(items=chunk,
                                                                    traceparents=carried)))
        self.sent += len(items)
        for batch in taken:
            if self._queue and self._queue[0] is batch:
                self._drop_first()

    def _drop_first(self) -> None:
        self._queued -= len(self._queue.popleft().events)

    async def _idle(self, call: Call) -> None:
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), 1.0)
        except TimeoutError:
            if call.done():
                raise ConnectionError("the feed ended the stream") from None

    async def _send_snapshots(self, call: Call) -> None:
        self._need_snapshot = False
        for batch in self._queue:  # older than the snapshot: their depth is covered
            batch.depth = []
        engine, ms = self._sequencer.engine, self._clock()
        now = self._stamp(ms)
        for market in self.depth.markets():
            sequence, bids, asks = self.depth.view(market)
            snap = market_pb2.DepthSnapshot(
                market=market, sequence=sequence, bids=self._side(market, bids),
                asks=self._side(market, asks), time=now)
            await call.write(Request(depth_snapshot=snap))
            mark, index = engine.mark_price(market), engine.index_price(market)
            if mark is not None and index is not None:
                await call.write(Request(mark=self._mark(market, mark, index, ms)))

    # ------------------------------------------------------------ translation
    def _requests(self, batch: _Batch) -> Iterator[Request]:
        ts = 0
        for event in batch.events:
            ts = getattr(event, "ts", 0) or ts
            yield from self._event_requests(event)
        stamp = self._stamp(ts or self._clock())
        for diff in batch.depth:
            yield Request(depth_update=market_pb2.DepthUpdate(
                market=diff.market, sequence=diff.sequence,
                bids=self._side(diff.market, diff.bids),
                asks=self._side(diff.market, diff.asks), time=stamp))

    def _event_requests(self, event: Event) -> Iterator[Request]:
        if isinstance(event, IndexPriceSet):
            yield Request(mark=self._mark(event.market, event.mark_price, event.index_price,
                                          event.ts or self._clock()))
        elif isinstance(event, OrderFilled):
            trade = self._trade(event)
            yield Request(trade=trade)
            encoded = self._encoder.encode_fields(command_codec.fields(event))
            for fill in (encoded.execution.taker, encoded.execution.maker):
                fill.fill_id = fill.trade_id = trade.trade_id
                fill.market, fill.price, fill.quantity = trade.market, trade.price, \
                    trade.quantity
                fill.time.CopyFrom(trade.time)
                yield Request(user_event=event_pb2.EngineEvent(
                    sequence=encoded.sequence, command_sequence=encoded.command_sequence,
                    time=trade.time, user_id=fill.user_id, fill=fill))
        elif getattr(event, "user_id", ""):
            yield Request(user_event=self._encoder.encode_fields(command_codec.fields(event)))

    def _mark(self, market: str, mark: int, index: int, ts: int) -> market_pb2.MarkPrice:
        """``mark@M``: the engine's mark and index, the funding rate the next settlement
        would apply at them, and when funding is next settled."""
        price = self._price[market]
        cap = self._sequencer.config.markets[market].funding_cap_bps
        rate = rate_ppm(mark, index, cap) if index > 0 else 0
        next_funding = (ts // self._funding_ms + 1) * self._funding_ms
        return market_pb2.MarkPrice(
            market=market, mark_price=price(mark), index_price=price(index),
            funding_rate=PPM_TEXT(rate), next_funding_time=self._stamp(next_funding),
            time=self._stamp(ts))

    def _trade(self, fill: OrderFilled) -> market_pb2.Trade:
        market = fill.market
        return market_pb2.Trade(trade_id=str(fill.fill_id), market=market,
                                price=self._price[market](fill.price),
                                quantity=self._qty[market](fill.quantity),
                                taker_side=fill.taker_side.name, time=self._stamp(fill.ts))

    def _side(self, market: str, levels: Levels) -> list[market_pb2.PriceLevel]:
        price, qty = self._price[market], self._qty[market]
        return [market_pb2.PriceLevel(price=price(p), quantity=qty(q)) for p, q in levels]

    @staticmethod
    def _stamp(ms: int) -> Timestamp:
        seconds, rest = divmod(ms, 1000)
        return Timestamp(seconds=seconds, nanos=rest * 1_000_000)


def _short(err: BaseException) -> str:
    if isinstance(err, grpc.aio.AioRpcError):
        return f"{err.code().name}: {err.details()}"
    return str(err) or type(err).__name__
