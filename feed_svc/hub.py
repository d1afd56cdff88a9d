"""The hub: the feed's channel state and who listens to what. Both front doors (gRPC and
WebSocket) subscribe outboxes here; the Redis relay feeds it the engine's messages.

Invariants:

* A depth subscriber's first message is a snapshot; after it, diffs with consecutive
  sequences. A diff the hub cannot apply (a gap) is not forwarded: the book waits for the
  next snapshot, which every subscriber then receives as a reset.
* Every trade updates the 24h ticker and each interval's candle before anyone is told;
  each is counted once (:mod:`feed_svc.activity`), also across a seed from the durable
  record.
* ``tickers`` carries each market's ticker at most once per ``TICKERS_INTERVAL_MS`` (the
  newest one; :mod:`feed_svc.pacer`), so it stays bounded however busy the markets are.
* ``apply`` only pushes into outboxes (never waits), so a slow client delays nobody.
* Deferred outboxes (``Outbox.deferred``: the WebSocket pacer's) get their public channels'
  messages in one ``push_all`` per outbox per :meth:`Hub.settle` (the pacer calls it each
  tick) instead of one ``push`` per message: a message waits in ``_pending`` once, not in
  every outbox, and outboxes with the same channels share one list of it. ``settle`` runs
  before anything else reaches a deferred outbox (a subscription's first state, a user
  event, a reply: ``Session``) or changes who listens, so every outbox ends up with what
  pushing at once would have given it, in the same order.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal

from trademesh.v1 import market_pb2

from feed_svc import codec
from feed_svc.activity import LiveTrade, MarketActivity, Seed
from feed_svc.book import Book
from feed_svc.channels import INTERVALS_MS, TICKERS_CHANNEL, Channel, Kind
from feed_svc.codec import Frame, PublishRequest
from feed_svc.outbox import Message, Mode, Outbox
from feed_svc.pacer import Pacer
from feed_svc.stats import Candle, TickerStats
from mesh_runtime import tracing
from mesh_runtime.ascii_digits import is_ascii_digits

Box = Outbox[Frame]
_MODES = {Kind.TRADES: Mode.STRICT, Kind.USER: Mode.STRICT, Kind.DEPTH: Mode.DIFF,
          Kind.TICKER: Mode.CONFLATE, Kind.KLINE: Mode.CONFLATE, Kind.MARK: Mode.CONFLATE}
TICKERS_INTERVAL_MS = 250  # at most 4 tickers a second per market on ``tickers``


def _activity() -> MarketActivity:
    return MarketActivity(INTERVALS_MS)


class Hub:
    def __init__(self, markets: Iterable[str], clock_ms: Callable[[], int]) -> None:
        self._clock = clock_ms
        self.markets = frozenset(markets)
        self.books: dict[str, Book] = {}
        self._activity: dict[str, MarketActivity] = defaultdict(_activity)
        self._pacer = Pacer(TICKERS_INTERVAL_MS)
        self._marks: dict[str, market_pb2.MarkPrice] = {}
        self._indexes: dict[str, market_pb2.MarkPrice] = {}
        self._listeners: dict[str, set[Box]] = defaultdict(set)  # pushed at once
        self._deferred: dict[str, set[Box]] = defaultdict(set)  # pushed at settle()
        self._groups: dict[frozenset[str], set[Box]] = {}  # deferred outboxes by channels
        self._group_of: dict[Box, frozenset[str]] = {}
        self._pending: list[Message[Frame]] = []
        self._wakers: list[Callable[[], None]] = []
        self._users: dict[str, set[Box]] = defaultdict(set)
        self.applied = 0
        self._last_user_seq: dict[str, int] = {}
        self._handlers: dict[str, Callable[[PublishRequest], None]] = {
            "depth_snapshot": self._snapshot, "depth_update": self._update,
            "trade": self._trade, "mark": self._mark, "user_event": self._user_event,
            "index": self._index, "batch": self._batch,
            "ticker": lambda _: None,
        }

    # ------------------------------------------------------------ subscribers
    def subscribe(self, box: Box, channel: Channel, user_id: str = "") -> None:
        """Adds ``box`` to ``channel`` and queues the channel's current state to it."""
        self.settle()
        if channel.kind is Kind.USER:
            self._users[user_id].add(box)
            return
        if box.deferred:
            self._deferred[channel.name].add(box)
            self._regroup(box, self._group_of.get(box, frozenset()) | {channel.name})
        else:
            self._listeners[channel.name].add(box)
        if channel.kind is Kind.TICKERS:
            for market in sorted(self.markets):
                if self._has_ticker(market):
                    box.push(self._tickers_message(market))
            return
        current = self.current(channel)
        if current is not None:
            box.push(current)

    def unsubscribe(self, box: Box, channel: Channel, user_id: str = "") -> None:
        self.settle()
        if channel.kind is Kind.USER:
            group = self._users.get(user_id)
        elif box.deferred:
            group = self._deferred.get(channel.name)
            self._regroup(box, self._group_of.get(box, frozenset()) - {channel.name})
        else:
            group = self._listeners.get(channel.name)
        if group is not None:
            group.discard(box)
        box.forget(channel.name)

    def drop(self, box: Box) -> None:
        """Forgets ``box`` everywhere (its connection ended)."""
        for group in (*self._listeners.values(), *self._deferred.values(),
                      *self._users.values()):
            group.discard(box)
        self._regroup(box, frozenset())

    def subscription_count(self) -> int:
        """Subscriptions held now (safe to call from another thread: reads snapshots)."""
        groups = [*list(self._listeners.values()), *list(self._deferred.values()),
                  *list(self._users.values())]
        return sum(len(group) for group in groups)

    # ------------------------------------------------------------ deferred outboxes
    def when_pending(self, wake: Callable[[], None]) -> None:
        """Calls ``wake`` whenever a message starts waiting for :meth:`settle`."""
        self._wakers.append(wake)

    def settle(self) -> None:
        """Hands the waiting messages to the deferred outboxes: one ``push_all`` each."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        for channels, boxes in self._groups.items():
            chunk = [m for m in pending if m.channel in channels]
            if chunk:
                plain = all(m.mode is Mode.STRICT or m.mode is Mode.DIFF for m in chunk)
                for box in boxes:
                    box.push_all(chunk, plain)

    def _regroup(self, box: Box, channels: frozenset[str]) -> None:
        old = self._group_of.pop(box, None)
        if old is not None:
            group = self._groups[old]
            group.discard(box)
            if not group:
                del self._groups[old]
        if channels:
            self._group_of[box] = channels
            self._groups.setdefault(channels, set()).add(box)

    def current(self, channel: Channel) -> Message[Frame] | None:
        """The channel's state as one message: a depth snapshot, the ticker, the open
        candle or the last mark; None when there is nothing yet."""
        market, name = channel.market, channel.name
        if channel.kind is Kind.DEPTH:
            book = self.books.get(market)
            if book is None or not book.valid:
                return None
            return Message(name, Mode.SNAPSHOT, codec.snapshot_frame(name, book, self._clock()))
        if channel.kind is Kind.TICKER:
            return self._ticker_message(market) if self._has_ticker(market) else None
        if channel.kind is Kind.KLINE:
            activity = self._activity.get(market)
            current = None if activity is None else activity.candles[channel.interval].current
            if current is None:
                return None
            return self._candle_message(name, market, channel.interval, current)
        if channel.kind is Kind.INDEX:
            index = self._indexes.get(market)
            return None if index is None else Message(name, Mode.CONFLATE,
                                                      codec.index_frame(name, index))
        mark = self._marks.get(market) if channel.kind is Kind.MARK else None
        return None if mark is None else Message(name, Mode.CONFLATE,
                                                 codec.mark_frame(name, mark))

    def resnapshot(self, name: str) -> Message[Frame] | None:
        return self.current(Channel(Kind.DEPTH, name.partition("@")[2]))

    def _push(self, name: str, mode: Mode, frame: Callable[[], Frame], key: str = "") -> None:
        boxes, deferred = self._listeners.get(name), self._deferred.get(name)
        if boxes or deferred:
            message = Message(name, mode, frame(), key)
            for box in boxes or ():
                box.push(message)
            if deferred:
                if not self._pending:
                    for wake in self._wakers:
                        wake()
                self._pending.append(message)

    def _listened(self, name: str) -> bool:
        return bool(self._listeners.get(name) or self._deferred.get(name))

    # ------------------------------------------------------------ engine messages
    def apply(self, request: PublishRequest) -> None:
        field = request.WhichOneof("data")
        if field is not None:
            self._handlers[field](request)
            if field != "batch":  # a batch's items were counted one by one
                self.applied += 1

    def _batch(self, request: PublishRequest) -> None:
        """A traced run of engine items: applied in order, then a ``feed.fanout`` span (from
        the feed's receipt to this replica's delivery to its subscribers) in each trace."""
        batch = request.batch
        for item in batch.items:
            self.apply(item)
        tracing.span_under(batch.traceparents, "feed.fanout", batch.received_unix_nanos,
                           time.time_ns(), {"trademesh.feed.items": len(batch.items)})

    def _snapshot(self, request: PublishRequest) -> None:
        snap = request.depth_snapshot
        if snap.market not in self.markets:
            self.markets = self.markets | {snap.market}
        book = self.books.setdefault(snap.market, Book(snap.market))
        before = book.best() if book.valid else ("", "")
        if book.reset(snap.sequence, codec.levels(snap.bids), codec.levels(snap.asks)):
            return
        name = f"depth@{snap.market}"
        self._push(name, Mode.SNAPSHOT,
                   lambda: codec.snapshot_frame(name, book, codec.millis(snap.time)))
        self._top_changed(snap.market, before)

    def _update(self, request: PublishRequest) -> None:
        update = request.depth_update
        book = self.books.get(update.market)
        if book is None:
            return
        before = book.best() if book.valid else ("", "")
        if not book.apply(update.sequence, codec.levels(update.bids), codec.levels(update.asks)):
            return
        name = f"depth@{update.market}"
        self._push(name, Mode.DIFF, lambda: codec.update_frame(name, update))
        self._top_changed(update.market, before)

    def _top_changed(self, market: str, before: tuple[str, str]) -> None:
        if self.books[market].best() != before:
            self._push_ticker(market)

    def _trade(self, request: PublishRequest) -> None:
        trade = request.trade
        market = trade.market
        changed = self._activity[market].add(LiveTrade(
            int(trade.trade_id) if is_ascii_digits(trade.trade_id) else None,
            codec.millis(trade.time), Decimal(trade.price), Decimal(trade.quantity)))
        if changed is None:
            return  # a repeat after the engine reconnected: once only
        name = f"trades@{market}"
        self._push(name, Mode.STRICT, lambda: codec.trade_frame(name, trade))
        for interval, candles in changed.items():
            for candle in candles:
                self._push_candle(market, interval, candle)
        self._push_ticker(market)

    def _mark(self, request: PublishRequest) -> None:
        mark = request.mark
        self._marks[mark.market] = mark
        name = f"mark@{mark.market}"
        self._push(name, Mode.CONFLATE, lambda: codec.mark_frame(name, mark))
        self._push_ticker(mark.market)

    def _index(self, request: PublishRequest) -> None:
        index = request.index
        self._indexes[index.market] = index
        name = f"index@{index.market}"
        self._push(name, Mode.CONFLATE, lambda: codec.index_frame(name, index))

    def _user_event(self, request: PublishRequest) -> None:
        event = request.user_event
        if event.sequence <= self._last_user_seq.get(event.user_id, 0):
            return  # a repeat after the engine reconnected
        self._last_user_seq[event.user_id] = event.sequence
        boxes = self._users.get(event.user_id)
        if boxes:
            self.settle()  # the user's outboxes may be deferred: their earlier messages first
            message = Message("user", Mode.STRICT, codec.user_frame(event))
            for box in boxes:
                box.push(message)

    # ------------------------------------------------------------ ticker and candles
    def tick(self) -> None:
        """Closes candles whose interval has ended (called about once a second)."""
        now = self._clock()
        for market, activity in self._activity.items():
            for interval, builder in activity.candles.items():
                for candle in builder.tick(now):
                    self._push_candle(market, interval, candle)

    def unseeded(self) -> list[str]:
        """Known markets whose window has not been rebuilt from the durable record yet."""
        return sorted(m for m in self.markets
                      if m not in self._activity or not self._activity[m].seeded)

    def seed(self, market: str, seed: Seed) -> None:
        """Rebuilds ``market``'s 24h window and open candles from the durable record (once);
        subscribers get the corrected ticker and candles."""
        activity = self._activity[market]
        if activity.seeded:
            return
        activity.seed(seed, self._clock())
        for interval, builder in activity.candles.items():
            if builder.current is not None:
                self._push_candle(market, interval, builder.current)
        self._push_ticker(market)

    def ticker(self, market: str) -> market_pb2.Ticker:
        """``market``'s ticker now (empty fields for what is not known yet)."""
        book = self.books.get(market)
        best = book.best() if book is not None and book.valid else ("", "")
        activity = self._activity.get(market)
        stats = TickerStats() if activity is None else activity.ticker.stats(self._clock())
        return codec.ticker(market, stats, best, self._marks.get(market))

    def flush_tickers(self) -> None:
        """Sends the ``tickers`` updates held back by the rate bound (called every
        ``TICKERS_INTERVAL_MS`` or so)."""
        for market in self._pacer.flush(self._clock()):
            self._push_tickers(market)

    def _has_ticker(self, market: str) -> bool:
        return market in self.books or market in self._activity or market in self._marks

    def _ticker_message(self, market: str) -> Message[Frame]:
        name = f"ticker@{market}"
        return Message(name, Mode.CONFLATE, codec.ticker_frame(name, self.ticker(market)))

    def _tickers_message(self, market: str) -> Message[Frame]:
        frame = codec.ticker_frame(TICKERS_CHANNEL, self.ticker(market))
        return Message(TICKERS_CHANNEL, Mode.CONFLATE, frame, key=f"{TICKERS_CHANNEL}/{market}")

    def _push_ticker(self, market: str) -> None:
        name = f"ticker@{market}"
        self._push(name, Mode.CONFLATE, lambda: codec.ticker_frame(name, self.ticker(market)))
        if self._listened(TICKERS_CHANNEL) and self._pacer.due(market, self._clock()):
            self._push_tickers(market)

    def _push_tickers(self, market: str) -> None:
        self._push(TICKERS_CHANNEL, Mode.CONFLATE,
                   lambda: codec.ticker_frame(TICKERS_CHANNEL, self.ticker(market)),
                   key=f"{TICKERS_CHANNEL}/{market}")

    def _candle_message(self, name: str, market: str, interval: str,
                        candle: Candle) -> Message[Frame]:
        frame = codec.candle_frame(name, market, interval, candle)
        return Message(name, Mode.CONFLATE, frame, key=f"{name}/{candle.open_time}")

    def _push_candle(self, market: str, interval: str, candle: Candle) -> None:
        name = f"kline_{interval}@{market}"
        self._push(name, Mode.CONFLATE,
                   lambda: codec.candle_frame(name, market, interval, candle),
                   key=f"{name}/{candle.open_time}")
