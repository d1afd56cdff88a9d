"""Rolling 24h ticker statistics and OHLCV candles, computed from trades. Pure: time comes
in as arguments (trade times and an injected clock), arithmetic is ``Decimal``.

The 24h window is kept in one-minute buckets (at most 1,441 of them), so memory does not
grow with the trade rate: ``high``, ``low``, ``volume`` and ``change`` cover the trades of
the buckets that started within the last 24 hours (to the minute). ``change`` is the last
price minus the window's first trade price, ``change_percent`` that as a percentage of it
(two decimal places, half to even). Once the market has traded every figure is filled: a
window without trades reads high = low = last, volume, change and percent 0. A window can
be rebuilt from the durable record's one-minute candles (:meth:`RollingTicker.seeded`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

DAY_MS = 86_400_000
MINUTE_MS = 60_000
ZERO = Decimal(0)
HUNDREDTH = Decimal("0.01")


def text(value: Decimal) -> str:
    """Exact decimal text without exponent or needless trailing zeros."""
    out = format(value.normalize(), "f")
    return "0" if out in ("-0", "0") else out


@dataclass(slots=True)
class Candle:
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool = False

    def add(self, price: Decimal, quantity: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += quantity


def _candle(open_time: int, price: Decimal, quantity: Decimal) -> Candle:
    return Candle(open_time, price, price, price, price, quantity)


@dataclass(slots=True)
class TickerStats:
    last: str = ""
    high: str = ""
    low: str = ""
    volume: str = "0"
    change: str = "0"
    change_percent: str = "0"


def percent(change: Decimal, base: Decimal) -> Decimal:
    """``change`` as a percentage of ``base``, two decimal places, half to even."""
    return ZERO if base == 0 else (change * 100 / base).quantize(HUNDREDTH, ROUND_HALF_EVEN)


class RollingTicker:
    """24h rolling last/high/low/volume/change of one market."""

    def __init__(self) -> None:
        self._buckets: deque[Candle] = deque()
        self._last: Decimal | None = None

    @classmethod
    def seeded(cls, minutes: Iterable[Candle], last: Decimal | None) -> RollingTicker:
        """A window rebuilt from one-minute candles (oldest first) and the last price."""
        ticker = cls()
        ticker._buckets.extend(Candle(c.open_time, c.open, c.high, c.low, c.close, c.volume)
                               for c in minutes)
        ticker._last = last
        return ticker

    def add(self, ts: int, price: Decimal, quantity: Decimal) -> None:
        minute = ts - ts % MINUTE_MS
        if self._buckets and self._buckets[-1].open_time >= minute:
            self._buckets[-1].add(price, quantity)
        else:
            self._buckets.append(_candle(minute, price, quantity))
        self._last = price

    def stats(self, now: int) -> TickerStats:
        while self._buckets and self._buckets[0].open_time <= now - DAY_MS:
            self._buckets.popleft()
        if self._last is None:
            return TickerStats()
        last = text(self._last)
        if not self._buckets:  # no trade for a day: the price stood at the last one
            return TickerStats(last=last, high=last, low=last)
        first = self._buckets[0].open
        change = self._last - first
        return TickerStats(
            last=last, high=text(max(b.high for b in self._buckets)),
            low=text(min(b.low for b in self._buckets)),
            volume=text(sum((b.volume for b in self._buckets), ZERO)),
            change=text(change), change_percent=text(percent(change, first)))


class CandleBuilder:
    """The open candle of one interval; returns each candle that changed or closed."""

    def __init__(self, interval_ms: int) -> None:
        self._interval = interval_ms
        self.current: Candle | None = None

    @classmethod
    def seeded(cls, interval_ms: int, minutes: Iterable[Candle], now: int) -> CandleBuilder:
        """The interval's open candle at ``now`` rebuilt from one-minute candles (oldest
        first); none when no minute of the current interval traded."""
        builder = cls(interval_ms)
        start = now - now % interval_ms
        for minute in minutes:
            if minute.open_time < start:
                continue
            current = builder.current
            if current is None:
                builder.current = Candle(start, minute.open, minute.high, minute.low,
                                         minute.close, minute.volume)
            else:
                current.high, current.low = max(current.high, minute.high), \
                    min(current.low, minute.low)
                current.close, current.volume = minute.close, current.volume + minute.volume
        return builder

    def add(self, ts: int, price: Decimal, quantity: Decimal) -> list[Candle]:
        start = ts - ts % self._interval
        out = self.tick(start)
        if self.current is None:
            self.current = _candle(start, price, quantity)
        else:  # the same interval (or a late trade: counted in the open candle)
            self.current.add(price, quantity)
        out.append(self.current)
        return out

    def tick(self, now: int) -> list[Candle]:
        """Closes the open candle once ``now`` is past its interval."""
        current = self.current
        if current is None or now < current.open_time + self._interval:
            return []
        current.closed = True
        self.current = None
        return [current]
