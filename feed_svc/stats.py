"""Rolling 24h ticker statistics and OHLCV candles, computed from trades. Pure: time comes
in as arguments (trade times and an injected clock), arithmetic is ``Decimal``.

The 24h window is kept in one-minute buckets (at most 1,441 of them), so memory does not
grow with the trade rate: ``high``, ``low``, ``volume`` and ``change`` cover the trades of
the buckets that started within the last 24 hours (to the minute).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

DAY_MS = 86_400_000
MINUTE_MS = 60_000
ZERO = Decimal(0)


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


class RollingTicker:
    """24h rolling last/high/low/volume/change of one market."""

    def __init__(self) -> None:
        self._buckets: deque[Candle] = deque()
        self._last: Decimal | None = None

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
        out = TickerStats(last=text(self._last))
        if self._buckets:
            out.high = text(max(b.high for b in self._buckets))
            out.low = text(min(b.low for b in self._buckets))
            out.volume = text(sum((b.volume for b in self._buckets), ZERO))
            out.change = text(self._last - self._buckets[0].open)
        return out


class CandleBuilder:
    """The open candle of one interval; returns each candle that changed or closed."""

    def __init__(self, interval_ms: int) -> None:
        self._interval = interval_ms
        self.current: Candle | None = None

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
