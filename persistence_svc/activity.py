"""A market's recent trading, read for the feed's 24h ticker and open candles.

One statement (one snapshot, even under READ COMMITTED): the 1-minute candles that opened
at or after ``since``, plus the market's newest candle however old, so the answer's last
price and highest trade id describe exactly the trades its candles count. The feed counts
a live trade only when its id is above that highest id, so nothing is counted twice or
missed while it rebuilds its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence_svc.candles import CandleRow
from persistence_svc.history import InvalidQuery

_ACTIVITY = text("""
SELECT open_ms, open, high, low, close, volume, last_trade FROM candles_1m
WHERE market = :market AND (open_ms >= :since OR open_ms = (
    SELECT max(open_ms) FROM candles_1m WHERE market = :market))
ORDER BY open_ms""")
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Activity:
    candles: list[CandleRow]
    last_price: Decimal | None
    last_trade_id: int


class ActivityRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def activity(self, market: str, since_ms: int, now_ms: int) -> Activity:
        if not market:
            raise InvalidQuery("market", "is required")
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_ACTIVITY, {"market": market, "since": since_ms})).all()
        if not rows:
            return Activity([], None, 0)
        candles = [CandleRow(int(r.open_ms), r.open, r.high, r.low, r.close, r.volume,
                             int(r.open_ms) + MINUTE_MS <= now_ms)
                   for r in rows if int(r.open_ms) >= since_ms]
        newest = max(rows, key=lambda r: int(r.last_trade))
        return Activity(candles, newest.close, int(newest.last_trade))
