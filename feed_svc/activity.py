"""One market's trading as the feed counts it: the 24h ticker window and each interval's
open candle, from live trades and, once, the durable record. Pure: no I/O, time passed in.

Invariants:

* A trade is counted once: a trade whose numeric id is not above the highest counted id is
  a repeat (the engine resends after reconnecting) and is ignored.
* Seeding replaces the window with the durable record's one-minute candles, which count
  every trade up to ``last_id``; live trades that arrived before the seed are kept (at most
  ``MAX_EARLY``) and those above ``last_id`` are counted again on top, so a trade the
  record already has is not counted twice and one it lacks is not lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from feed_svc.stats import Candle, CandleBuilder, RollingTicker

MAX_EARLY = 100_000  # live trades remembered per market until its seed arrives


@dataclass(frozen=True, slots=True)
class LiveTrade:
    trade_id: int | None  # None: an id that is not a number (never deduplicated)
    ts: int
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Seed:
    """What the durable record says: one-minute candles of the window, oldest first; the
    newest trade price (None: never traded); the highest trade id they count."""

    minutes: Sequence[Candle]
    last_price: Decimal | None
    last_id: int


class MarketActivity:
    def __init__(self, intervals: Mapping[str, int]) -> None:
        self._intervals = dict(intervals)
        self.ticker = RollingTicker()
        self.candles = {name: CandleBuilder(ms) for name, ms in self._intervals.items()}
        self.last_id = 0
        self.seeded = False
        self._early: deque[LiveTrade] = deque(maxlen=MAX_EARLY)

    def add(self, trade: LiveTrade) -> dict[str, list[Candle]] | None:
        """Counts a live trade; the candles it changed or closed per interval, or None for
        a repeat."""
        if trade.trade_id is not None:
            if trade.trade_id <= self.last_id:
                return None
            self.last_id = trade.trade_id
        if not self.seeded:
            self._early.append(trade)
        return self._count(trade)

    def seed(self, seed: Seed, now: int) -> None:
        """Rebuilds the window and open candles from ``seed`` plus the live trades it
        lacks (see the module invariants). Later seeds are ignored."""
        if self.seeded:
            return
        self.seeded = True
        self.ticker = RollingTicker.seeded(seed.minutes, seed.last_price)
        self.candles = {name: CandleBuilder.seeded(ms, seed.minutes, now)
                        for name, ms in self._intervals.items()}
        self.last_id = max(self.last_id, seed.last_id)
        early, self._early = self._early, deque()
        for trade in early:
            if trade.trade_id is None or trade.trade_id > seed.last_id:
                self._count(trade)

    def _count(self, trade: LiveTrade) -> dict[str, list[Candle]]:
        self.ticker.add(trade.ts, trade.price, trade.quantity)
        return {name: builder.add(trade.ts, trade.price, trade.quantity)
                for name, builder in self.candles.items()}
